"""Writing verified results to the database, idempotently.

Each stored item is one transaction. Rows are looked up by their natural keys before insert,
and a unique-constraint race with a concurrent writer is resolved by re-reading what the other
writer stored, so the same data twice (or from two processes) adds nothing.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import event, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from auditor import __version__
from auditor.source.entry import LogEntry
from auditor.store import models
from auditor.verify.checkpoint import Checkpoint
from auditor.verify.entry import SERVED_CHECKS, Verification
from auditor.verify.merkle import leaf_hash
from auditor.verify.receipts import Receipt, ReceiptKind
from auditor.verify.statement import StatementFormat
from auditor.verify.trust import LogKey

M = TypeVar("M", bound=models.Base)


def now() -> datetime:
    return datetime.now(UTC)


def get_or_create(session: Session, model: type[M], lookup: dict[str, Any],
                  **values: Any) -> tuple[M, bool]:
    """The row with these natural-key values, inserted if absent; (row, created).

    `lookup` names the columns of one of the model's unique constraints. On SQLite and
    PostgreSQL a single `INSERT ... ON CONFLICT DO NOTHING RETURNING id` both inserts and
    detects a row a concurrent writer (or an earlier run) stored first; elsewhere a savepoint
    catches the unique-constraint error instead.
    """
    dialect = session.get_bind().dialect.name
    if dialect in _UPSERT:
        statement = _upsert_statement(dialect, model, tuple(lookup))
        new_id = session.execute(statement, {**lookup, **values}).scalar()
        if new_id is not None:
            row = model(id=new_id, **lookup, **values)
            make_transient_to_detached(row)  # it is in the database: no need to read it back
            session.add(row)
            return row, True
        return _existing(session, model, lookup), False
    query = select(model).filter_by(**lookup)
    found = session.scalar(query)
    if found is not None:
        return found, False
    try:
        with session.begin_nested():
            row = model(**lookup, **values)
            session.add(row)
            session.flush()
        return row, True
    except IntegrityError:
        # A concurrent writer inserted the same natural key first: use its row.
        return _existing(session, model, lookup), False


_UPSERT: dict[str, Callable[[Any], Any]] = {"sqlite": sqlite_insert, "postgresql": pg_insert}


@functools.cache
def _upsert_statement(dialect: str, model: type[models.Base], keys: tuple[str, ...]) -> Any:
    # Built once per model and bound with parameters, so SQLAlchemy compiles it once too.
    table = model.__table__
    return (_UPSERT[dialect](table).on_conflict_do_nothing(index_elements=list(keys))
            .returning(table.c.id))


def _existing(session: Session, model: type[M], lookup: dict[str, Any]) -> M:
    found = session.scalar(select(model).filter_by(**lookup))
    assert found is not None, f"{model.__name__} row vanished after a conflict on {lookup}"
    return found


def memo(session: Session, model: type[M], lookup: dict[str, Any], **values: Any) -> M:
    """get_or_create, remembered for the rest of the transaction.

    A batch stores many entries of one log, shard and checkpoint; looking those up once per
    transaction instead of once per entry keeps ingest bound by verification, not queries.
    """
    cache = _memo(session)
    key = (model, *sorted(lookup.items()))
    if key not in cache:
        cache[key], _ = get_or_create(session, model, lookup, **values)
    row: M = cache[key]
    return row


def _memo(session: Session) -> dict[tuple[Any, ...], Any]:
    cache: dict[tuple[Any, ...], Any] = session.info.setdefault("auditor.memo", {})
    return cache


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: Any) -> None:
    # Rows remembered (and locks noted) in a transaction may not exist after it: start afresh.
    if transaction.parent is None:
        session.info.pop("auditor.memo", None)


def lock_log(session: Session, log: models.Log) -> None:
    """Hold the log's row until the transaction ends: writers of one log take turns.

    A shard's checkpoint chain is extended by reading its latest link and appending the next
    one once a consistency proof binds them (RFC 9162 §2.1.4.2). Two crawlers doing that at
    once could both link to the same predecessor and leave a link that nobody proved, so the
    read and the append happen under this lock. PostgreSQL locks the row (SELECT ... FOR
    UPDATE); SQLite has no row locks, so a no-op write to the row takes the database's write
    lock, held to commit. Each writing transaction takes this lock before any other row lock
    (the log row comes first in every write path), so waits never form a cycle.
    """
    cache = _memo(session)
    key = ("locked", models.Log, log.id)
    if key in cache:
        return
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(models.Log).where(models.Log.id == log.id)
                        .values(log_id=models.Log.log_id)
                        .execution_options(synchronize_session=False))
    else:
        session.execute(select(models.Log.id).where(models.Log.id == log.id).with_for_update())
    cache[key] = True


def log_row(session: Session, log_id: bytes, log_key: LogKey | None) -> models.Log:
    """The log's row, locked for the rest of the transaction (see lock_log)."""
    log = memo(session, models.Log, {"log_id": log_id.hex()},
               name=log_key.name if log_key else None,
               public_key=log_key.key.spki_der if log_key else None)
    lock_log(session, log)
    return log


def shard_row(session: Session, log: models.Log, tree_id: int) -> models.Shard:
    """The shard's row; its log is locked first, so the shard's chain has one writer."""
    lock_log(session, log)
    return memo(session, models.Shard, {"log_pk": log.id, "tree_id": tree_id},
                frozen=False, first_seen=now())


def checkpoint_row(session: Session, shard: models.Shard, checkpoint: Checkpoint,
                   signature_ok: bool) -> models.StoredCheckpoint:
    return memo(
        session, models.StoredCheckpoint,
        {"shard_pk": shard.id, "size": checkpoint.size, "root_hash": checkpoint.root_hash.hex()},
        note=checkpoint.raw, signature_ok=signature_ok, seen_at=now(),
        # An unverified checkpoint proves nothing; it never becomes a tip of the history.
        extended=not signature_ok)


@dataclass(frozen=True)
class StoredItem:
    entry_new: bool
    endorsement_new: bool
    verification_stored: bool
    #: The endorsement row (new or already stored), if the item has one.
    endorsement_id: int | None = None


@dataclass(frozen=True)
class EndorsementRecord:
    component: str | None
    statement: bytes | None
    signature: bytes | None
    subject: bytes | None
    source: str
    #: Every receipt that travelled with the endorsement (stored byte-exact, one row each).
    receipts: tuple[Receipt, ...] = ()


def _entry_row(session: Session, entry: LogEntry, raw: bytes, raw_format: str,
               verification: Verification, log_key: LogKey | None, component: str | None,
               again: bool) -> tuple[models.Entry, bool]:
    log = log_row(session, entry.log_id, log_key)
    leaf = leaf_hash(entry.body).hex()
    checkpoint = None
    tree_id = entry.tree_id
    if tree_id is not None and verification.checkpoint is not None:
        shard = shard_row(session, log, tree_id)
        checkpoint = checkpoint_row(session, shard, verification.checkpoint,
                                    verification.checkpoint_verified)
    summary = verification.summary()
    body = verification.body
    row, created = get_or_create(
        session, models.Entry, {"log_pk": log.id, "leaf_hash": leaf},
        uuid=entry.uuid, rekor_version=entry.rekor_version, tree_id=tree_id,
        log_index=entry.log_index, shard_index=entry.proof.log_index if entry.proof else None,
        integrated_time=entry.integrated_time, kind=summary["kind"],
        api_version=summary["api_version"], signed_digest=body.digest.hex() if body else None,
        signer_key_sha256=body.key.key_id.hex() if body else None, raw=raw,
        raw_format=raw_format, checkpoint_pk=checkpoint.id if checkpoint else None,
        component=component,
    )
    if again and not created:
        # A fresh copy of a stored entry (the earlier one failed a served check): keep the
        # document that is verified now, so a later re-check starts from it.
        row.raw, row.raw_format = raw, raw_format
        row.checkpoint_pk = checkpoint.id if checkpoint else row.checkpoint_pk
        row.component = component or row.component
    return row, created


def _endorsement_row(session: Session, record: EndorsementRecord, entry: models.Entry | None,
                     verification: Verification) -> tuple[models.Endorsement | None, bool]:
    if record.statement is None and record.signature is None:
        return None, False
    statement_sha = hashlib.sha256(record.statement).hexdigest() if record.statement else None
    key = (f"{record.component or '-'}:{statement_sha}:{entry.leaf_hash if entry else 'unlogged'}"
           f"{_receipts_key(record.receipts)}")
    statement = verification.statement
    subject = statement.subject if statement else None
    v1 = statement is not None and statement.format is StatementFormat.OAK_V1
    return get_or_create(
        session, models.Endorsement, {"dedup_key": key},
        component=record.component, entry_pk=entry.id if entry else None,
        statement=record.statement, statement_sha256=statement_sha,
        statement_format=statement.format.value if statement else None,
        signature=record.signature, subject=record.subject,
        subject_name=subject.name if subject else None,
        subject_sha256=subject.digests.get("sha256") if subject else None,
        not_before=statement.not_before if v1 and statement else None,
        not_after=statement.not_after if v1 and statement else None,
        source=record.source, imported_at=now(),
        integrated_time=entry.integrated_time if entry else None,
        signer_key_sha256=verification.signer.key_id.hex() if verification.signer else None,
    )


def _receipts_key(receipts: tuple[Receipt, ...]) -> str:
    # A copy of the statement with another tlog-proof or PES confirmation is another row: each
    # row's verification covers exactly the receipts stored with it. (The Rekor entry is in
    # the key already, as the leaf hash.)
    others = sorted(f"{r.kind}={hashlib.sha256(r.raw).hexdigest()}" for r in receipts
                    if r.kind is not ReceiptKind.REKOR)
    if not others:
        return ""
    return ":" + hashlib.sha256("\n".join(others).encode()).hexdigest()[:32]


def _receipt_rows(session: Session, endorsement: models.Endorsement,
                  receipts: tuple[Receipt, ...]) -> None:
    for receipt in receipts:
        get_or_create(session, models.Receipt,
                      {"endorsement_pk": endorsement.id, "kind": receipt.kind.value,
                       "sha256": hashlib.sha256(receipt.raw).hexdigest()}, raw=receipt.raw)


def needs_recheck(verification: Verification, record: EndorsementRecord) -> bool:
    """Whether a later crawl should look at the entry again (see `models.Entry.recheck`)."""
    served = any(c.ok is False and c.name in SERVED_CHECKS for c in verification.checks)
    return served or (verification.body is not None and record.statement is None)


def store_verification(
    session: Session,
    verification: Verification,
    record: EndorsementRecord,
    *,
    raw: bytes | None = None,
    raw_format: str = "rekor-v1",
    log_key: LogKey | None = None,
    component: str | None = None,
    again: bool = False,
) -> StoredItem:
    """Store an entry (with its raw document), its endorsement and the check results.

    The same entry and endorsement twice add nothing, unless `again`: a fresh verification
    of a stored entry is recorded beside the earlier ones (the latest one counts).
    """
    entry_row = None
    entry_new = False
    if verification.entry is not None:
        assert raw is not None
        entry_row, entry_new = _entry_row(session, verification.entry, raw, raw_format,
                                          verification, log_key, component or record.component,
                                          again)
    endorsement_row, endorsement_new = _endorsement_row(session, record, entry_row, verification)
    if endorsement_new and endorsement_row is not None:
        _receipt_rows(session, endorsement_row, record.receipts)
    endorsement_id = endorsement_row.id if endorsement_row else None
    if not (entry_new or endorsement_new or again):
        return StoredItem(False, False, False, endorsement_id)
    if entry_row is not None:
        entry_row.recheck = needs_recheck(verification, record)
    stored = models.Verification(
        entry_pk=entry_row.id if entry_row else None,
        endorsement_pk=endorsement_row.id if endorsement_row else None,
        ok=verification.ok, verified_at=now(), tool_version=__version__,
    )
    session.add(stored)
    session.flush()
    # One executemany for the results: the ORM's unit of work per row costs more than the checks.
    session.execute(insert(models.CheckResult), [
        {"verification_pk": stored.id, "position": position, "name": check.name,
         "ok": check.ok, "detail": check.detail}
        for position, check in enumerate(verification.checks)])
    return StoredItem(entry_new, endorsement_new, True, endorsement_id)


def store_component_keys(session: Session, component: str, keys: list[tuple[bytes, str]]) -> int:
    """Record pinned keys per component; returns how many were new."""
    added = 0
    for spki, source in keys:
        _, created = get_or_create(
            session, models.ComponentKey,
            {"component": component, "key_sha256": hashlib.sha256(spki).hexdigest()},
            spki_der=spki, source=source)
        added += created
    return added
