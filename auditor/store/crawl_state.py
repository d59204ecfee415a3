"""What a crawl reads and keeps between runs: known entries, entries to look at again, entries
the log withheld, and range-scan cursors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from auditor.store import models
from auditor.store.key_lists import KEYS, among_keys, chunks
from auditor.store.repository import get_or_create, now
from auditor.store.tables import aware

_OF_LOG = models.Entry.log_pk == bindparam("log_pk")
_KNOWN = select(models.Entry.leaf_hash).where(_OF_LOG, among_keys(models.Entry.leaf_hash))
_FIRST_SEEN = (select(models.Entry.leaf_hash, func.min(models.Verification.verified_at))
               .join(models.Verification, models.Verification.entry_pk == models.Entry.id)
               .where(_OF_LOG, among_keys(models.Entry.leaf_hash))
               .group_by(models.Entry.leaf_hash))
_ENTRY_IDS = select(models.Entry.id).where(_OF_LOG, among_keys(models.Entry.leaf_hash))
_CLEAR_PENDING = delete(models.PendingEntry).where(
    models.PendingEntry.log_pk == bindparam("log_pk"), among_keys(models.PendingEntry.uuid))


def known_leaves(session: Session, log_pk: int, leaves: Iterable[str]) -> set[str]:
    """Which of `leaves` (64-hex leaf hashes) the store holds for this log."""
    found: set[str] = set()
    for chunk in chunks(list(dict.fromkeys(leaves))):
        found.update(session.scalars(_KNOWN, {"log_pk": log_pk, KEYS: chunk}))
    return found


def first_seen(session: Session, log_pk: int, leaves: Iterable[str]) -> dict[str, datetime]:
    """When each of `leaves` (64-hex) the store holds for this log was first verified."""
    found: dict[str, datetime] = {}
    for chunk in chunks(list(dict.fromkeys(leaves))):
        rows = session.execute(_FIRST_SEEN, {"log_pk": log_pk, KEYS: chunk})
        found.update((leaf, aware(seen)) for leaf, seen in rows)
    return found


def entry_ids(session: Session, log_pk: int, leaves: Sequence[str]) -> list[int]:
    """The row ids of this log's entries with these leaf hashes."""
    ids: list[int] = []
    for chunk in chunks(leaves):
        ids.extend(session.scalars(_ENTRY_IDS, {"log_pk": log_pk, KEYS: chunk}))
    return ids


def unlogged_statement_hashes(session: Session) -> list[str]:
    """Statements held whose entries are not: they may have been logged since.

    Searching every known statement on every run would make a no-op rerun cost a request per
    statement; statements already matched to an entry are not searched again.
    """
    logged = set(session.scalars(select(models.Entry.signed_digest).where(
        models.Entry.signed_digest.is_not(None))))
    held = set(session.scalars(select(models.Endorsement.statement_sha256).where(
        models.Endorsement.statement_sha256.is_not(None))))
    return sorted(h for h in held - logged if h)


def entries_to_recheck(session: Session, log_pk: int) -> list[models.Entry]:
    """This log's entries marked for another look (see `models.Entry.recheck`)."""
    return list(session.scalars(select(models.Entry).where(
        models.Entry.log_pk == log_pk, models.Entry.recheck.is_(True)).order_by(models.Entry.id)))


def pending(session: Session, log_pk: int) -> dict[str, str | None]:
    """UUIDs the log listed but did not serve, with the component they were listed under."""
    rows = session.execute(select(models.PendingEntry.uuid, models.PendingEntry.component)
                           .where(models.PendingEntry.log_pk == log_pk)
                           .order_by(models.PendingEntry.id))
    return {uuid: component for uuid, component in rows}


def set_pending(session: Session, log_pk: int, uuid: str, component: str | None,
                reason: str) -> None:
    row, created = get_or_create(session, models.PendingEntry, {"log_pk": log_pk, "uuid": uuid},
                                 component=component, reason=reason, first_seen=now(),
                                 last_tried=now(), attempts=1)
    if not created:
        row.reason, row.last_tried, row.attempts = reason, now(), row.attempts + 1


def clear_pending(session: Session, log_pk: int, uuids: Sequence[str]) -> None:
    if uuids:
        for chunk in chunks(uuids):
            session.execute(_CLEAR_PENDING, {"log_pk": log_pk, KEYS: chunk})


def scan_start(session: Session, log_pk: int, first: int, last: int) -> int:
    """Where the range scan [first, last] resumes (its cursor, made if new)."""
    cursor, _ = get_or_create(session, models.ScanCursor,
                              {"log_pk": log_pk, "from_index": first, "to_index": last},
                              next_index=first)
    return cursor.next_index


def advance_scan(session: Session, log_pk: int, first: int, last: int, next_index: int) -> None:
    row = session.scalar(select(models.ScanCursor).where(
        models.ScanCursor.log_pk == log_pk, models.ScanCursor.from_index == first,
        models.ScanCursor.to_index == last))
    if row is not None:
        row.next_index = max(row.next_index, next_index)
