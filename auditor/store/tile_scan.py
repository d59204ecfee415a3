"""The scan state of tiled logs: ranges planned, claimed and done, and the keys they look for.

A tiled log has no search index: every entry is read once per pinned key set. Ranges of
entries are planned under the log's row lock (`repository.lock_log`) up to each trusted
checkpoint's size, and from the log's start again for a key pinned later. A scanner claims a
range in the transaction that will store what it finds and mark it done: on PostgreSQL with
`SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent scanners take different ranges and a killed
scanner's range is free again the moment its connection drops; on SQLite one scanner at a time
(the run lock) makes the claim a plain read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.orm import Session

from auditor.source.entry import TILED_TREE_ID
from auditor.store import models
from auditor.store.key_lists import KEYS, among_keys, chunks
from auditor.store.repository import log_of, now
from auditor.store.tables import aware


def key_list(keys: Iterable[str]) -> str:
    """The `TileRange.keys` text of a key set: sorted sha256 hexes, comma-separated."""
    return ",".join(sorted(keys))


def enrolled_keys(session: Session, log: models.Log) -> set[str]:
    return set(session.scalars(select(models.TileScanKey.key_sha256)
                               .where(models.TileScanKey.log_pk == log.id)))


def enrol(session: Session, log: models.Log, keys: Iterable[str]) -> None:
    rows = [{"log_pk": log.id, "key_sha256": key} for key in sorted(keys)]
    if rows:
        session.execute(insert(models.TileScanKey), rows)


def withdraw(session: Session, log: models.Log, keys: Iterable[str]) -> None:
    """Keys no longer pinned: pinned again later, they are caught up from the log's start."""
    gone = list(keys)
    if gone:
        session.execute(delete(models.TileScanKey).where(
            models.TileScanKey.log_pk == log.id, models.TileScanKey.key_sha256.in_(gone)))


def frontier(session: Session, log: models.Log) -> int:
    """How far ranges are planned: every entry below it is in a range."""
    return session.scalar(select(func.max(models.TileRange.end_index))
                          .where(models.TileRange.log_pk == log.id)) or 0


def plan(session: Session, log: models.Log, start: int, end: int, span: int, keys: str, *,
         catch_up: bool = False, most: int | None = None) -> int:
    """Add ranges covering entries `start … end-1`, cut at multiples of `span`, or the first
    `most` of them; where the ranges added end."""
    rows: list[dict[str, object]] = []
    while start < end and (most is None or len(rows) < most):
        stop = min(end, (start // span + 1) * span)
        rows.append({"log_pk": log.id, "start_index": start, "end_index": stop, "keys": keys,
                     "catch_up": catch_up, "done": False, "matches": 0, "unparsable": 0})
        start = stop
    if rows:
        session.execute(insert(models.TileRange), rows)
    return start


def _open_ranges(log_pk: int, size: int) -> tuple[ColumnElement[bool], ...]:
    # Ranges beyond `size` were planned from a larger checkpoint than the caller trusts.
    return (models.TileRange.log_pk == log_pk, models.TileRange.done.is_(False),
            models.TileRange.end_index <= size)


def claim(session: Session, log_pk: int, size: int, *, wait: bool = False
          ) -> models.TileRange | None:
    """The first open range within `size`, locked for this transaction; None if none.

    Without `wait`, ranges other transactions hold are skipped (SKIP LOCKED); with it, the
    first one is waited for, which a scanner does once the free ones are gone, so that no
    scanner reports a log complete while another one's range may yet fail.
    """
    query = (select(models.TileRange).where(*_open_ranges(log_pk, size))
             .order_by(models.TileRange.start_index, models.TileRange.id).limit(1)
             .with_for_update(skip_locked=not wait))
    return session.scalar(query)


def open_ranges(session: Session, log_pk: int, size: int) -> int:
    return session.scalar(select(func.count()).select_from(models.TileRange)
                          .where(*_open_ranges(log_pk, size))) or 0


def finish(session: Session, row: models.TileRange, matches: int, unparsable: int,
           sample: str | None) -> None:
    row.done, row.matches, row.unparsable = True, matches, unparsable
    row.unparsable_sample, row.scanned_at = sample, now()


_FIRST_SEEN = (select(models.Verification.entry_pk, func.min(models.Verification.verified_at))
               .where(among_keys(models.Verification.entry_pk))
               .group_by(models.Verification.entry_pk))


def first_seen(session: Session, entry_ids: Sequence[int]) -> dict[int, datetime]:
    """When each entry was first verified: the time a log without integration times (Rekor
    v2) is judged at, on every later verification too."""
    if not entry_ids:
        return {}
    return {entry_pk: aware(seen) for chunk in chunks(entry_ids)
            for entry_pk, seen in session.execute(_FIRST_SEEN, {KEYS: chunk})
            if entry_pk is not None}


def set_url(log: models.Log, url: str) -> None:
    if log.url != url:
        log.url = url


def finished_frozen(session: Session, log_id: str, keys: set[str]) -> models.Log | None:
    """The log, if it is frozen and was scanned to its final size for every one of `keys`:
    then there is nothing left to read from it, not even its checkpoint."""
    log = log_of(session, log_id)
    if log is None:
        return None
    shard = session.scalar(select(models.Shard).where(models.Shard.log_pk == log.id,
                                                      models.Shard.tree_id == TILED_TREE_ID))
    if shard is None or not shard.frozen:
        return None
    size = session.scalar(select(func.max(models.StoredCheckpoint.size))
                          .where(models.StoredCheckpoint.shard_pk == shard.id))
    done = (size is not None and frontier(session, log) == size
            and open_ranges(session, log.id, size) == 0 and keys <= enrolled_keys(session, log))
    return log if done else None
