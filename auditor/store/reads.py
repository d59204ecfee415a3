"""Read models for queries and reports: log heads, tiled-log scans, pinned keys, stored findings,
counts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, true
from sqlalchemy.orm import Session

from auditor.findings import Severity
from auditor.store import tables
from auditor.store.runs import FindingRecord
from auditor.store.tables import aware


@dataclass(frozen=True)
class ShardHead:
    tree_id: int
    tree_size: int
    root_hash: str
    checkpoint: str
    frozen: bool
    seen_at: datetime


@dataclass(frozen=True)
class LogHeads:
    log_id: str
    name: str | None
    heads: list[ShardHead]


def log_heads(session: Session, until: datetime | None = None) -> list[LogHeads]:
    """Each log with the largest checkpoint stored per shard (`until`: stored by then)."""
    logs = []
    shards, checkpoints = tables.shards, tables.checkpoints
    seen = checkpoints.c.seen_at <= until if until is not None else true()
    for log in session.execute(select(tables.logs).order_by(tables.logs.c.id)).all():
        heads = []
        for shard in session.execute(select(shards).where(shards.c.log_pk == log.id)
                                     .order_by(shards.c.id)).all():
            head = session.execute(select(checkpoints)
                                   .where(checkpoints.c.shard_pk == shard.id, seen)
                                   .order_by(checkpoints.c.size.desc()).limit(1)).first()
            if head is not None:
                heads.append(ShardHead(shard.tree_id, head.size, head.root_hash, head.note,
                                       shard.frozen, aware(head.seen_at)))
        logs.append(LogHeads(log.log_id, log.name, heads))
    return logs


@dataclass(frozen=True)
class ScanProgress:
    """How far a tiled log was scanned (see `store.tile_scan`)."""

    url: str | None
    #: Every entry below `position` was read for every pinned key; ranges reach `planned`.
    position: int
    planned: int
    open_ranges: int
    matches: int
    #: Entries that are no log entry the auditor can read, and the first of them.
    unparsable: int
    unparsable_sample: str | None


def scan_progress(session: Session) -> dict[str, ScanProgress]:
    """Each scanned tiled log's progress, by log id."""
    logs, table = tables.logs, tables.tile_ranges
    ranges = table.c
    rows = session.execute(
        select(logs.c.log_id, logs.c.url, func.max(ranges.end_index),
               func.min(case((ranges.done.is_(False), ranges.start_index))),
               func.sum(case((ranges.done.is_(False), 1), else_=0)), func.sum(ranges.matches),
               func.sum(case((ranges.catch_up.is_(False), ranges.unparsable), else_=0)))
        .join(table, ranges.log_pk == logs.c.id).group_by(logs.c.id))
    progress = {}
    for log_id, url, planned, first_open, open_count, matches, unparsable in rows:
        sample = session.scalar(
            select(ranges.unparsable_sample).join(logs, ranges.log_pk == logs.c.id)
            .where(logs.c.log_id == log_id, ranges.unparsable_sample.is_not(None),
                   ranges.catch_up.is_(False)).order_by(ranges.start_index).limit(1))
        progress[log_id] = ScanProgress(url, planned if first_open is None else first_open,
                                        planned, open_count or 0, matches or 0, unparsable or 0,
                                        sample)
    return progress


@dataclass(frozen=True)
class PinnedKey:
    component: str
    sha256: str
    source: str


def pinned_keys(session: Session) -> list[PinnedKey]:
    return [PinnedKey(k.component, k.key_sha256, k.source) for k in session.execute(
        select(tables.component_keys).order_by(tables.component_keys.c.component,
                                               tables.component_keys.c.id))]


def known_components(session: Session) -> set[str]:
    """Components the store knows: pinned keys, endorsements and findings name them (an
    observed value no key covers, such as Oak's acpi digest, has findings and nothing else)."""
    named = set()
    for column in (tables.component_keys.c.component, tables.endorsements.c.component,
                   tables.findings.c.component):
        named |= set(session.scalars(select(column).distinct()))
    return {c for c in named if c}


@dataclass(frozen=True)
class FindingFilter:
    rule: str | None = None
    component: str | None = None
    since: datetime | None = None


_SEVERITY_ORDER = case({s.value: s.rank for s in Severity}, value=tables.findings.c.severity,
                       else_=-1)


def stored_findings(session: Session, where: FindingFilter) -> list[FindingRecord]:
    """Stored findings (one per fingerprint), most severe first, then most recent."""
    findings = tables.findings
    query = select(findings).order_by(_SEVERITY_ORDER.desc(), findings.c.last_seen.desc(),
                                      findings.c.id)
    if where.rule:
        query = query.where(findings.c.rule == where.rule)
    if where.component:
        query = query.where(findings.c.component == where.component)
    if where.since is not None:
        query = query.where(findings.c.last_seen >= where.since)
    return [FindingRecord(f.rule, f.severity, f.component, f.release, f.detail,
                          json.loads(f.evidence), f.fingerprint, None, aware(f.first_seen),
                          aware(f.last_seen)) for f in session.execute(query)]


def counts(session: Session) -> dict[str, int]:
    def count(table: Any, *where: Any) -> int:
        return session.scalar(select(func.count()).select_from(table).where(*where)) or 0

    return {
        "entries": count(tables.entries),
        "endorsements": count(tables.endorsements),
        "failed_verifications": count(tables.verifications, tables.verifications.c.ok.is_(False)),
        "findings": count(tables.findings),
        "component_keys": count(tables.component_keys),
        "pending_entries": count(tables.pending_entries),
        "log_faults": count(tables.log_faults),
    }


@dataclass(frozen=True)
class ComponentCounts:
    """Stored endorsements and log entries per component (the metrics file's gauges)."""

    endorsements: dict[str, int]
    entries: dict[str, int]


def component_counts(session: Session) -> ComponentCounts:
    """Per component; rows without a component (a stranger's entry) count under ""."""

    def per_component(column: Any) -> dict[str, int]:
        rows = session.execute(select(column, func.count()).group_by(column))
        return {name or "": count for name, count in rows}

    return ComponentCounts(per_component(tables.endorsements.c.component),
                           per_component(tables.entries.c.component))
