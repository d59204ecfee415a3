"""The store side of a log's history: shards, their checkpoints, and the faults they proved.

`auditor.crawl.history` decides what a new checkpoint means; this module is how it reads and
writes the rows. Writers of one log take turns through the log row's lock (`lock_log`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditor.findings import Finding, RuleId
from auditor.store import models
from auditor.store.repository import get_or_create, lock_log, now, shard_row
from auditor.verify.checkpoint import Checkpoint


def pinned_logs(session: Session, log_ids: Sequence[str]) -> list[models.Log]:
    return list(session.scalars(select(models.Log).where(models.Log.log_id.in_(log_ids))))


def shards(session: Session, log: models.Log) -> list[models.Shard]:
    return list(session.scalars(select(models.Shard).where(models.Shard.log_pk == log.id)
                                .order_by(models.Shard.id)))


def shard(session: Session, log: models.Log, tree_id: int) -> models.Shard:
    return shard_row(session, log, tree_id)


def tips(session: Session, shard: models.Shard) -> list[models.StoredCheckpoint]:
    """Checkpoints no larger stored checkpoint is proven to extend, largest first."""
    return list(session.scalars(
        select(models.StoredCheckpoint)
        .where(models.StoredCheckpoint.shard_pk == shard.id,
               models.StoredCheckpoint.extended.is_(False))
        .order_by(models.StoredCheckpoint.size.desc(), models.StoredCheckpoint.id)))


def largest(session: Session, shard: models.Shard) -> models.StoredCheckpoint | None:
    return session.scalar(
        select(models.StoredCheckpoint).where(models.StoredCheckpoint.shard_pk == shard.id)
        .order_by(models.StoredCheckpoint.size.desc(), models.StoredCheckpoint.id.desc())
        .limit(1))


def same_size(session: Session, shard: models.Shard,
              size: int) -> list[models.StoredCheckpoint]:
    return list(session.scalars(select(models.StoredCheckpoint).where(
        models.StoredCheckpoint.shard_pk == shard.id, models.StoredCheckpoint.size == size)))


def add_checkpoint(session: Session, shard: models.Shard,
                   checkpoint: Checkpoint) -> tuple[models.StoredCheckpoint, bool]:
    """The stored (size, root) of `checkpoint`, added with its note if new; (row, created)."""
    return get_or_create(
        session, models.StoredCheckpoint,
        {"shard_pk": shard.id, "size": checkpoint.size, "root_hash": checkpoint.root_hash.hex()},
        note=checkpoint.raw, signature_ok=True, seen_at=now(), extended=False)


def served_as_head(row: models.StoredCheckpoint) -> None:
    """The log served `row` as its head (GET /log) now."""
    row.head_at = now()


def smallest_head(session: Session, log: models.Log, tree_id: int) -> int | None:
    """The smallest size of tree `tree_id` the log served as its head, if any: a leaf below it
    was in every head. Asked once per transaction (a batch's entries share it); no head is
    stored in a transaction that places entries."""
    known: dict[tuple[int, int], int | None] = session.info.setdefault("smallest_heads", {})
    if (log.id, tree_id) not in known:
        known[(log.id, tree_id)] = session.scalar(
            select(func.min(models.StoredCheckpoint.size))
            .join(models.Shard, models.Shard.id == models.StoredCheckpoint.shard_pk)
            .where(models.Shard.log_pk == log.id, models.Shard.tree_id == tree_id,
                   models.StoredCheckpoint.head_at.is_not(None)))
    return known[(log.id, tree_id)]


def head_at_or_below(session: Session, log: models.Log, tree_id: int,
                     size: int) -> models.StoredCheckpoint | None:
    """The checkpoint of tree `tree_id`, of size `size` or less, that the log last served as
    its head: the latest moment it said leaf `size` was not yet in the tree."""
    return session.scalar(
        select(models.StoredCheckpoint)
        .join(models.Shard, models.Shard.id == models.StoredCheckpoint.shard_pk)
        .where(models.Shard.log_pk == log.id, models.Shard.tree_id == tree_id,
               models.StoredCheckpoint.size <= size,
               models.StoredCheckpoint.head_at.is_not(None))
        .order_by(models.StoredCheckpoint.head_at.desc(), models.StoredCheckpoint.size.desc())
        .limit(1))


def record_fault(session: Session, log: models.Log | None, tree_id: int | None, kind: str,
                 finding: Finding) -> None:
    """Store a proven log fault (once per fingerprint; later sightings update last_seen)."""
    if log is not None:
        lock_log(session, log)
    row, created = get_or_create(
        session, models.LogFault, {"fingerprint": finding.fingerprint},
        log_pk=log.id if log else None, tree_id=tree_id, rule=finding.rule, kind=kind,
        detail=finding.detail, evidence=json.dumps(finding.evidence, sort_keys=True, default=str),
        identity=",".join(finding.identity), first_seen=now(), last_seen=now())
    if not created:
        row.last_seen = now()


def faults(session: Session, log_pks: Sequence[int] | None = None) -> list[models.LogFault]:
    """Stored log faults (of these logs, or all), oldest first."""
    query = select(models.LogFault).order_by(models.LogFault.id)
    if log_pks is not None:
        query = query.where(models.LogFault.log_pk.in_(log_pks))
    return list(session.scalars(query))


def fault_finding(row: models.LogFault) -> Finding:
    """The finding a stored fault gives, in every run: same rule, evidence and fingerprint."""
    evidence: dict[str, Any] = json.loads(row.evidence)
    identity = tuple(i for i in row.identity.split(",") if i)
    return Finding(RuleId(row.rule), None, row.detail, evidence, identity=identity)
