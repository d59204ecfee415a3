"""Read models for queries and reports: log heads, tiled-log scans, pinned keys, stored findings,
counts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from auditor.findings import Severity
from auditor.store import models
from auditor.store.runs import FindingRecord


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


def log_heads(session: Session) -> list[LogHeads]:
    """Each log with the largest checkpoint stored per shard."""
    logs = []
    for log in session.scalars(select(models.Log).order_by(models.Log.id)):
        heads = []
        for shard in session.scalars(select(models.Shard).where(models.Shard.log_pk == log.id)
                                     .order_by(models.Shard.id)):
            head = session.scalar(select(models.StoredCheckpoint)
                                  .where(models.StoredCheckpoint.shard_pk == shard.id)
                                  .order_by(models.StoredCheckpoint.size.desc()).limit(1))
            if head is not None:
                heads.append(ShardHead(shard.tree_id, head.size, head.root_hash, head.note,
                                       shard.frozen, _aware(head.seen_at)))
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
    ranges = models.TileRange
    rows = session.execute(
        select(models.Log.log_id, models.Log.url, func.max(ranges.end_index),
               func.min(case((ranges.done.is_(False), ranges.start_index))),
               func.sum(case((ranges.done.is_(False), 1), else_=0)), func.sum(ranges.matches),
               func.sum(case((ranges.catch_up.is_(False), ranges.unparsable), else_=0)))
        .join(ranges, ranges.log_pk == models.Log.id).group_by(models.Log.id))
    progress = {}
    for log_id, url, planned, first_open, open_count, matches, unparsable in rows:
        sample = session.scalar(
            select(ranges.unparsable_sample).join(models.Log, ranges.log_pk == models.Log.id)
            .where(models.Log.log_id == log_id, ranges.unparsable_sample.is_not(None),
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
    return [PinnedKey(k.component, k.key_sha256, k.source) for k in session.scalars(
        select(models.ComponentKey).order_by(models.ComponentKey.component,
                                             models.ComponentKey.id))]


def known_components(session: Session) -> set[str]:
    """Components the store knows: pinned keys and endorsements name them."""
    keys = set(session.scalars(select(models.ComponentKey.component).distinct()))
    endorsed = set(session.scalars(select(models.Endorsement.component).distinct()))
    return {c for c in keys | endorsed if c}


@dataclass(frozen=True)
class FindingFilter:
    rule: str | None = None
    component: str | None = None
    since: datetime | None = None


_SEVERITY_ORDER = case({s.value: s.rank for s in Severity}, value=models.StoredFinding.severity,
                       else_=-1)


def stored_findings(session: Session, where: FindingFilter) -> list[FindingRecord]:
    """Stored findings (one per fingerprint), most severe first, then most recent."""
    query = select(models.StoredFinding).order_by(_SEVERITY_ORDER.desc(),
                                                  models.StoredFinding.last_seen.desc(),
                                                  models.StoredFinding.id)
    if where.rule:
        query = query.where(models.StoredFinding.rule == where.rule)
    if where.component:
        query = query.where(models.StoredFinding.component == where.component)
    if where.since is not None:
        query = query.where(models.StoredFinding.last_seen >= where.since)
    return [FindingRecord(f.rule, f.severity, f.component, f.release, f.detail,
                          json.loads(f.evidence), f.fingerprint, None, _aware(f.first_seen),
                          _aware(f.last_seen)) for f in session.scalars(query)]


def counts(session: Session) -> dict[str, int]:
    def count(model: Any, *where: Any) -> int:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return {
        "entries": count(models.Entry),
        "endorsements": count(models.Endorsement),
        "failed_verifications": count(models.Verification, models.Verification.ok.is_(False)),
        "findings": count(models.StoredFinding),
        "component_keys": count(models.ComponentKey),
        "pending_entries": count(models.PendingEntry),
        "log_faults": count(models.LogFault),
    }


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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

    return ComponentCounts(per_component(models.Endorsement.component),
                           per_component(models.Entry.component))
