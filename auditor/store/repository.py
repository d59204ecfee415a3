"""Writing verified results to the database, idempotently.

Each stored item is one transaction. Rows are looked up by their natural keys before insert,
and a unique-constraint race with a concurrent writer is resolved by re-reading what the other
writer stored, so the same data twice (or from two processes) adds nothing.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    bindparam,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from auditor import __version__
from auditor.interrupts import uninterrupted
from auditor.source.entry import LogEntry
from auditor.store import models, planner_statistics, tables
from auditor.store.key_lists import KEYS, among_keys, chunks
from auditor.store.record import EndorsementRecord
from auditor.verify.body import kind_of
from auditor.verify.check_names import SERVED_CHECKS
from auditor.verify.checkpoint import Checkpoint
from auditor.verify.entry import Verification
from auditor.verify.merkle import leaf_hash
from auditor.verify.receipt_state import ReceiptKind
from auditor.verify.receipts import Receipt
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


def log_of(session: Session, log_id: str) -> models.Log | None:
    """The stored log whose log id (hex) is `log_id`, if any (read, not created or locked)."""
    return session.scalar(select(models.Log).where(models.Log.log_id == log_id))


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
    #: The entry row (new or already stored), if the item has one.
    entry_id: int | None = None


@dataclass(frozen=True)
class Storable:
    """One verification to store, with the entry document and endorsement it is about."""

    verification: Verification
    record: EndorsementRecord
    #: The entry's document as received (required when the verification has an entry).
    raw: bytes | None = None
    raw_format: str = "rekor-v1"
    log_key: LogKey | None = None
    #: The entry's component, when it is not the record's.
    component: str | None = None


#: A row's id and whether this batch inserted it.
RowId = tuple[int, bool]


def _row_ids(session: Session, model: type[Any], keys: tuple[str, ...],
             rows: list[dict[str, Any]]) -> list[RowId]:
    """The ids of `rows` by the natural key `keys`, each inserted if absent, in order.

    A batch inserts with one `INSERT ... ON CONFLICT DO NOTHING RETURNING` (executemany) and
    reads the ids of rows it did not insert (stored earlier, or by a concurrent writer) with one
    query per chunk. A key repeated in `rows` is inserted once, by its first row: later ones
    find it, as they would one after the other.
    """
    dialect = session.get_bind().dialect.name
    if dialect not in _UPSERT:
        found = [get_or_create(session, model, {k: row[k] for k in keys},
                               **{c: v for c, v in row.items() if c not in keys})
                 for row in rows]
        return [(row.id, created) for row, created in found]
    first: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        first.setdefault(tuple(row[k] for k in keys), row)
    table = model.__table__
    columns = [table.c[k] for k in keys]
    inserted: dict[tuple[Any, ...], int] = {}
    if first:
        inserted = {tuple(found[1:]): found[0]
                    for found in _insert_absent(session, table, keys, list(first.values()))}
    stored = _stored_ids(session, table, columns, [k for k in first if k not in inserted])
    ids = []
    for key in (tuple(row[k] for k in keys) for row in rows):
        if key in inserted:
            ids.append((inserted.pop(key), True))  # popped: a repeat finds it stored
            stored[key] = ids[-1][0]
        else:
            ids.append((stored[key], False))
    return ids


def _insert_absent(session: Session, table: Table, keys: tuple[str, ...],
                   rows: list[dict[str, Any]]) -> Iterable[Row[Any]]:
    """`INSERT ... ON CONFLICT (keys) DO NOTHING RETURNING id, keys` of `rows`."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return _sqlite_insert_absent(session, table, keys, rows)
    if dialect != "postgresql":
        return session.execute(_UPSERT[dialect](table).on_conflict_do_nothing(
            index_elements=list(keys)).returning(table.c.id, *(table.c[k] for k in keys)), rows)
    return _pg_unnested(session, _pg_insert_absent(table, keys, tuple(rows[0])), table, rows)


@functools.cache
def _pg_insert_absent(table: Table, keys: tuple[str, ...], names: tuple[str, ...]) -> Any:
    """PostgreSQL's `_insert_absent` of the columns `names` (see `_pg_unnested`)."""
    source = _pg_unnest(table, names).render_derived()
    return (pg_insert(table).from_select(list(names), select(*(source.c[n] for n in names)))
            .on_conflict_do_nothing(index_elements=list(keys))
            .returning(table.c.id, *(table.c[k] for k in keys)))


@functools.cache
def _pg_insert_in_order(table: Table, names: tuple[str, ...]) -> Any:
    """`INSERT ... SELECT ... ORDER BY` the rows' order `RETURNING id`: PostgreSQL numbers a
    serial column in the order the rows are selected, so the ids returned, sorted, are the
    rows' in order (SQLAlchemy's own insertmanyvalues relies on this on PostgreSQL)."""
    source = _pg_unnest(table, names, with_ordinality="ordinal").render_derived()
    return (insert(table).from_select(list(names), select(*(source.c[n] for n in names))
                                      .order_by(source.c.ordinal))
            .returning(table.c.id))


def _pg_unnest(table: Table, names: tuple[str, ...], **options: Any) -> Any:
    arrays = func.unnest(*(sqlalchemy.cast(bindparam(f"all_{n}"), ARRAY(table.c[n].type))
                           for n in names))
    return arrays.table_valued(*names, **options)


def _pg_unnested(session: Session, statement: Any, table: Table,
                 rows: list[dict[str, Any]]) -> Iterable[Row[Any]]:
    """Run `statement`, which inserts from one array per column unnested by the server (one
    short statement with a parameter per column, not a VALUES list with one per value for
    the driver to rewrite every batch), the arrays made of `rows`.

    With psycopg, the arrays go in PostgreSQL's binary format (`%b`): in the text format
    psycopg builds each array in Python, element by element, quoting each (an entry's raw
    document hex-escaped, then escaped again for the array), and the server parses it back:
    51-59 us of the crawl's CPU per entry row against 8-10, 137-161 us of wall time against
    82-83."""
    names = tuple(rows[0])
    dialect = session.get_bind().dialect
    if dialect.driver != "psycopg":
        return session.execute(statement, {f"all_{n}": [row[n] for row in rows] for n in names})
    processors = [table.c[n].type.bind_processor(dialect) for n in names]
    return session.connection().exec_driver_sql(
        _binary_parameters(statement, dialect),
        {f"all_{n}": [row[n] for row in rows] if process is None
         else [process(row[n]) for row in rows]
         for n, process in zip(names, processors, strict=True)})


@functools.lru_cache(maxsize=64)  # bounded: keyed by the engine's dialect
def _binary_parameters(statement: Any, dialect: Any) -> str:
    """`statement` compiled for psycopg, its parameters all sent in the binary format."""
    compiled = statement.compile(dialect=dialect)
    assert compiled.positiontup is None, "psycopg's placeholders are named"
    return re.sub(r"%\((\w+)\)s", r"%(\1)b", compiled.string)


def _sqlite_insert_absent(session: Session, table: Table, keys: tuple[str, ...],
                          rows: list[dict[str, Any]]) -> Iterable[Row[Any]]:
    """SQLite's `_insert_absent`: the rows the driver inserted, read back (`_sqlite_last`)."""
    inserted = _sqlite_insert(session, table, rows, keys)
    return _sqlite_last(session, table, [table.c[k] for k in keys], inserted)


def _sqlite_insert(session: Session, table: Table, rows: list[dict[str, Any]],
                   conflict: tuple[str, ...] | None = None) -> int:
    """`rows` inserted into `table` (`ON CONFLICT (conflict) DO NOTHING`, if given) through the
    driver's executemany, each value through its column's bind processor: SQLAlchemy's own
    executemany, or its RETURNING over many rows, handles every value in Python. The number of
    rows inserted."""
    dialect = session.get_bind().dialect
    sql, names = _sqlite_statement(dialect, table, tuple(rows[0]), conflict)
    processors = [table.c[name].type.bind_processor(dialect) for name in names]
    values = [tuple(row[name] if process is None else process(row[name])
                    for name, process in zip(names, processors, strict=True)) for row in rows]
    return int(session.connection().exec_driver_sql(sql, values).rowcount)


@functools.lru_cache(maxsize=64)  # bounded: keyed by the engine's dialect
def _sqlite_statement(dialect: Any, table: Table, columns: tuple[str, ...],
                      conflict: tuple[str, ...] | None) -> tuple[str, tuple[str, ...]]:
    """The SQL of an insert of `columns` into `table`, and its parameters' order (the
    table's), compiled once: compiling costs more than a small batch's rows."""
    statement = sqlite_insert(table)
    if conflict is not None:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict))
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    names = tuple(compiled.positiontup or ())
    assert sorted(names) == sorted(columns), (names, columns)
    return compiled.string, names


def _sqlite_last(session: Session, table: Table, columns: list[Any],
                 count: int) -> list[Row[Any]]:
    """(id, *columns) of the `count` rows this transaction just inserted into `table`, in
    insertion order: SQLite numbers a new row from the largest id up (sqlite.org/autoinc.html),
    and nobody else inserts while this transaction holds the write lock its insert took."""
    if count <= 0:
        return []
    return list(reversed(session.execute(select(table.c.id, *columns)
                                         .order_by(table.c.id.desc()).limit(count)).all()))


def _stored_ids(session: Session, table: Any, columns: list[Any],
                keys: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], int]:
    found: dict[tuple[Any, ...], int] = {}
    statement = _ids_by_key(table, tuple(columns))
    for chunk in chunks([k[0] for k in keys] if len(columns) == 1 else keys):
        found.update({tuple(row[1:]): row[0] for row in session.execute(statement, {KEYS: chunk})})
    missing = [k for k in keys if k not in found]
    assert not missing, f"{table.name} rows vanished after a conflict on {missing[:3]}"
    return found


@functools.cache
def _ids_by_key(table: Table, columns: tuple[Any, ...]) -> Select[Any]:
    """The ids of `table`'s rows by the natural key `columns` (see `key_lists`)."""
    return select(table.c.id, *columns).where(among_keys(*columns))


def _parent_ids(session: Session, item: Storable, entry: LogEntry, tree_id: int | None,
                cache: dict[tuple[Any, ...], tuple[int, int | None]]) -> tuple[int, int | None]:
    """The ids of the entry's log and checkpoint rows. A batch's entries share a few: each is
    looked up once per batch (the memo's keys, built per call, cost more than the lookup)."""
    checkpoint = item.verification.checkpoint if tree_id is not None else None
    key = (id(item.log_key), entry.log_id, tree_id,
           (checkpoint.size, checkpoint.root_hash) if checkpoint is not None else None)
    found = cache.get(key)
    if found is None:
        log = log_row(session, entry.log_id, item.log_key)
        stored = None
        if tree_id is not None and checkpoint is not None:
            stored = checkpoint_row(session, shard_row(session, log, tree_id), checkpoint,
                                    item.verification.checkpoint_verified).id
        found = cache[key] = (log.id, stored)
    return found


def _entry_values(session: Session, item: Storable, entry: LogEntry,
                  parents: dict[tuple[Any, ...], tuple[int, int | None]]) -> dict[str, Any]:
    verification = item.verification
    assert item.raw is not None
    tree_id = entry.tree_id
    log_pk, checkpoint_pk = _parent_ids(session, item, entry, tree_id, parents)
    body = verification.body
    # A parsed body's kind is the one it declared (parse_body accepts only those it knows).
    kind, api_version = (body.kind, body.api_version) if body else kind_of(entry.body)
    return {
        "log_pk": log_pk, "leaf_hash": leaf_hash(entry.body).hex(), "uuid": entry.uuid,
        "rekor_version": entry.rekor_version, "tree_id": tree_id, "log_index": entry.log_index,
        "shard_index": entry.proof.log_index if entry.proof else None,
        # Only a time the log signed: a bundle without its promise could say any.
        "integrated_time": verification.signed_integrated_time, "kind": kind,
        "api_version": api_version,
        "signed_digest": body.digest.hex() if body else None,
        "signer_key_sha256": body.key.key_id.hex() if body else None, "raw": item.raw,
        "raw_format": item.raw_format, "checkpoint_pk": checkpoint_pk,
        "component": item.component or item.record.component,
        "recheck": needs_recheck(verification, item.record),
    }


def _entry_rows(session: Session, items: Sequence[Storable],
                again: bool) -> list[tuple[dict[str, Any], RowId] | None]:
    """Each item's entry row (values and id), None for an item without an entry."""
    logged = [(i, item.verification.entry) for i, item in enumerate(items)
              if item.verification.entry is not None]
    parents: dict[tuple[Any, ...], tuple[int, int | None]] = {}
    values = [_entry_values(session, item, entry, parents) for item, entry in
              ((items[i], entry) for i, entry in logged)]
    ids = _row_ids(session, models.Entry, ("log_pk", "leaf_hash"), values)
    times = _integrated_times(session, values, ids)
    rows: list[tuple[dict[str, Any], RowId] | None] = [None] * len(items)
    for (i, _), row, row_id in zip(logged, values, ids, strict=True):
        # The endorsement copies the stored entry's integratedTime, which is the first copy's.
        rows[i] = ({**row, "integrated_time": times[row_id[0]]}, row_id)
    if again:
        # A fresh copy of a stored entry (the earlier one failed a served check): keep the
        # document that is verified now, so a later re-check starts from it.
        refreshed = [_refreshed(found[0], found[1][0], items[i].verification)
                     for i, found in enumerate(rows) if found is not None and not found[1][1]]
        if refreshed:
            session.execute(_REFRESH_ENTRY, refreshed)
    return rows


def _refreshed(row: dict[str, Any], row_id: int, verification: Verification) -> dict[str, Any]:
    """The parameters of `_REFRESH_ENTRY`: the fresh copy's document, and its log index only
    if its signed entry timestamp signed it (the stored one may be a bundle's unsigned one)."""
    signed_index = "log_index" not in verification.unsigned_fields
    return {"row_id": row_id, "new_raw": row["raw"], "new_format": row["raw_format"],
            "new_checkpoint": row["checkpoint_pk"], "new_component": row["component"],
            "new_index": row["log_index"] if signed_index else None}


def _integrated_times(session: Session, values: list[dict[str, Any]],
                      ids: list[RowId]) -> dict[int, int | None]:
    """The integratedTime each entry row holds: as inserted here, else as stored before; a
    signed time fills a row that holds none (its first copy did not sign one), and the
    endorsements of that entry with it."""
    times = {row_id: row["integrated_time"]
             for row, (row_id, created) in zip(values, ids, strict=True) if created}
    earlier = sorted({row_id for row_id, _ in ids} - set(times))
    for chunk in chunks(earlier):
        times.update({row_id: time for row_id, time in session.execute(_ENTRY_TIMES,
                                                                       {KEYS: chunk})})
    fills = {row_id: row["integrated_time"] for row, (row_id, _) in zip(values, ids, strict=True)
             if times[row_id] is None and row["integrated_time"] is not None}
    if fills:
        params = [{"row_id": row_id, "new_time": time} for row_id, time in fills.items()]
        session.execute(_FILL_ENTRY_TIME, params)
        session.execute(_FILL_ENDORSEMENT_TIME, params)
        times.update(fills)
    return times


# Core statements on the tables (not the ORM entities), so that a list of parameters is one
# executemany, not the ORM's bulk insert or update building an object state per row.
_ENTRIES = tables.entries
_VERIFICATIONS = tables.verifications
_CHECK_RESULTS = tables.check_results
_REFRESH_ENTRY = (
    update(_ENTRIES).where(_ENTRIES.c.id == bindparam("row_id"))
    .values(raw=bindparam("new_raw"), raw_format=bindparam("new_format"),
            checkpoint_pk=func.coalesce(bindparam("new_checkpoint"), _ENTRIES.c.checkpoint_pk),
            component=func.coalesce(bindparam("new_component"), _ENTRIES.c.component),
            log_index=func.coalesce(bindparam("new_index"), _ENTRIES.c.log_index)))
_ENTRY_TIMES = select(_ENTRIES.c.id, _ENTRIES.c.integrated_time).where(among_keys(_ENTRIES.c.id))
_FILL_ENTRY_TIME = (
    update(_ENTRIES)
    .where(_ENTRIES.c.id == bindparam("row_id"), _ENTRIES.c.integrated_time.is_(None))
    .values(integrated_time=bindparam("new_time")))
_FILL_ENDORSEMENT_TIME = (
    update(tables.endorsements)
    .where(tables.endorsements.c.entry_pk == bindparam("row_id"),
           tables.endorsements.c.integrated_time.is_(None))
    .values(integrated_time=bindparam("new_time")))
_SET_RECHECK = (update(_ENTRIES).where(_ENTRIES.c.id == bindparam("row_id"))
                .values(recheck=bindparam("new_recheck")))


def _endorsement_values(item: Storable, entry: tuple[dict[str, Any], RowId] | None
                        ) -> dict[str, Any] | None:
    record, verification = item.record, item.verification
    if record.statement is None and record.signature is None:
        return None
    statement_sha = record.statement_sha256
    key = (f"{record.component or '-'}:{statement_sha}:"
           f"{entry[0]['leaf_hash'] if entry else 'unlogged'}{_receipts_key(record.receipts)}")
    statement = verification.statement
    subject = statement.subject if statement else None
    v1 = statement is not None and statement.format is StatementFormat.OAK_V1
    return {
        "dedup_key": key, "component": record.component,
        "entry_pk": entry[1][0] if entry else None, "statement": record.statement,
        "statement_sha256": statement_sha,
        "statement_format": statement.format.value if statement else None,
        "signature": record.signature, "subject": record.subject,
        "subject_name": tables.subject_name(subject.name) if subject else None,
        "subject_sha256": subject.digests.get("sha256") if subject else None,
        "not_before": statement.not_before if v1 and statement else None,
        "not_after": statement.not_after if v1 and statement else None,
        "source": record.source, "imported_at": now(),
        "integrated_time": entry[0]["integrated_time"] if entry else None,
        "signer_key_sha256": verification.signer.key_id.hex() if verification.signer else None,
    }


def _endorsement_rows(session: Session, items: Sequence[Storable],
                      entries: list[tuple[dict[str, Any], RowId] | None]) -> list[RowId | None]:
    values = [_endorsement_values(item, entry) for item, entry in zip(items, entries,
                                                                        strict=True)]
    present = [row for row in values if row is not None]
    ids = iter(_row_ids(session, models.Endorsement, ("dedup_key",), present))
    rows = [next(ids) if row is not None else None for row in values]
    receipts = [{"endorsement_pk": row[0], "kind": receipt.kind.value,
                 "sha256": hashlib.sha256(receipt.raw).hexdigest(), "raw": receipt.raw}
                for item, row in zip(items, rows, strict=True) if row is not None and row[1]
                for receipt in item.record.receipts]
    if receipts:
        _row_ids(session, models.Receipt, ("endorsement_pk", "kind", "sha256"), receipts)
    return rows


def _receipts_key(receipts: tuple[Receipt, ...]) -> str:
    # A copy of the statement with another tlog-proof or PES confirmation is another row: each
    # row's verification covers exactly the receipts stored with it. (The Rekor entry is in
    # the key already, as the leaf hash.)
    others = sorted(f"{r.kind}={hashlib.sha256(r.raw).hexdigest()}" for r in receipts
                    if r.kind is not ReceiptKind.REKOR)
    if not others:
        return ""
    return ":" + hashlib.sha256("\n".join(others).encode()).hexdigest()[:32]


def failed_served_check(verification: Verification) -> bool:
    """Whether `verification` failed a check of what the log served (proof, checkpoint, SET)."""
    return any(c.ok is False and c.name in SERVED_CHECKS for c in verification.checks)


def served_failures(session: Session, entry_ids: Sequence[int]) -> set[int]:
    """Of these stored entries, those whose latest verification failed a served check: what
    a fresh copy of the entry, served again, can mend."""
    return _latest_checked(session, entry_ids, _SERVED_FAILURES)


def unsigned_entries(session: Session, entry_ids: Sequence[int]) -> set[int]:
    """Of these stored entries, those whose latest verification has no signed entry timestamp
    (a bundle without its promise: its logIndex and integratedTime unsigned), which a copy
    whose timestamp verifies can sign."""
    return _latest_checked(session, entry_ids, _UNSIGNED)


def _latest_checked_of(condition: ColumnElement[bool]) -> Select[tuple[int]]:
    """Of the stored entries `KEYS`, those whose latest verification has a check result
    meeting `condition`."""
    verification, check = tables.verifications.c, tables.check_results.c
    latest = (select(func.max(verification.id).label("id"))
              .where(among_keys(verification.entry_pk))
              .group_by(verification.entry_pk).subquery())
    return (select(verification.entry_pk).join(latest, latest.c.id == verification.id)
            .join(tables.check_results, check.verification_pk == verification.id)
            .where(condition).distinct())


_SERVED_FAILURES = _latest_checked_of(
    tables.check_results.c.name.in_(SERVED_CHECKS) & tables.check_results.c.ok.is_(False))
_UNSIGNED = _latest_checked_of((tables.check_results.c.name == "set")
                               & tables.check_results.c.ok.is_(None))


def _latest_checked(session: Session, entry_ids: Sequence[int],
                    statement: Select[tuple[int]]) -> set[int]:
    found: set[int] = set()
    for chunk in chunks(entry_ids):
        found.update(session.scalars(statement, {KEYS: chunk}))
    return found


def needs_recheck(verification: Verification, record: EndorsementRecord) -> bool:
    """Whether a later crawl should look at the entry again (see `models.Entry.recheck`)."""
    served = not verification.ok and failed_served_check(verification)
    return served or (verification.body is not None and record.statement is None)


def store_verifications(session: Session, items: Sequence[Storable], *,
                        again: bool = False) -> list[StoredItem]:
    """Store a batch of entries (with their raw documents), their endorsements and the check
    results, in the caller's transaction: a few statements per batch, not per row.

    The same entry and endorsement twice add nothing, unless `again`: a fresh verification
    of a stored entry is recorded beside the earlier ones (the latest one counts). Items are
    stored as if one after the other: an entry repeated in the batch is new once. An
    interruption waits for the batch to be stored (`auditor.interrupts`).
    """
    with uninterrupted():
        return _store_verifications(session, items, again)


def _store_verifications(session: Session, items: Sequence[Storable],
                         again: bool) -> list[StoredItem]:
    entries = _entry_rows(session, items, again)
    endorsements = _endorsement_rows(session, items, entries)
    results = []
    verifications: list[dict[str, Any]] = []
    rechecks: list[dict[str, Any]] = []
    for item, entry, endorsement in zip(items, entries, endorsements, strict=True):
        entry_new = entry is not None and entry[1][1]
        endorsement_new = endorsement is not None and endorsement[1]
        stored = entry_new or endorsement_new or again
        results.append(StoredItem(entry_new, endorsement_new, stored,
                                  endorsement[0] if endorsement else None,
                                  entry[1][0] if entry else None))
        if not stored:
            continue
        if entry is not None and not entry_new:  # a new row was inserted with it
            rechecks.append({"row_id": entry[1][0], "new_recheck": entry[0]["recheck"]})
        verifications.append({"entry_pk": entry[1][0] if entry else None,
                              "endorsement_pk": endorsement[0] if endorsement else None,
                              "ok": item.verification.ok, "verified_at": now(),
                              "tool_version": __version__})
    if rechecks:
        session.execute(_SET_RECHECK, rechecks)
    if verifications:
        ids = _inserted_ids(session, _VERIFICATIONS, verifications)
        planner_statistics.stored(session, len(verifications))
        stored_items = [item for item, result in zip(items, results, strict=True)
                        if result.verification_stored]
        _insert_new(session, _CHECK_RESULTS, _CHECK_COLUMNS, [
            (verification_id, position, check.name, check.ok, check.detail)
            for verification_id, item in zip(ids, stored_items, strict=True)
            for position, check in enumerate(item.verification.checks)])
    return results


#: A check result row, in the table's column order.
_CHECK_COLUMNS = ("verification_pk", "position", "name", "ok", "detail")


def _inserted_ids(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert `rows` (new rows: nothing conflicts) and return their ids, in order."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        ids = sorted(row[0] for row in _pg_unnested(
            session, _pg_insert_in_order(table, tuple(rows[0])), table, rows))
    elif dialect != "sqlite":
        return list(session.scalars(insert(table).returning(
            table.c.id, sort_by_parameter_order=True), rows))
    else:
        # SQLite cannot promise RETURNING's order, so SQLAlchemy would insert row by row.
        ids = [row.id for row in _sqlite_last(session, table, [],
                                              _sqlite_insert(session, table, rows))]
    assert len(ids) == len(rows), f"{table.name}: {len(ids)} new ids for {len(rows)} rows"
    return ids


def _insert_new(session: Session, table: Table, columns: Sequence[str],
                rows: list[tuple[Any, ...]]) -> None:
    """Insert rows (values in `columns` order) that cannot conflict with stored ones (they
    belong to new rows), through the driver: a batch has thousands of check results, and each
    row that SQLAlchemy's executemany prepares costs more than the database's work on it."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        # sqlite3 binds each row in C (None, int, str, bytes, and bool as an integer).
        sql, names = _sqlite_statement(bind.dialect, table, tuple(columns), None)
        assert names == tuple(columns), names
        session.connection().exec_driver_sql(sql, rows)
    elif bind.dialect.name == "postgresql" and bind.dialect.driver == "psycopg":
        # COPY FROM STDIN streams the rows through psycopg's own encoder: a tenth of the CPU
        # of an executemany, whose every row is a statement in the pipeline.
        cursor: Any = session.connection().connection.cursor()
        with cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


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
    """Store one entry (with its raw document), its endorsement and the check results (see
    store_verifications)."""
    item = Storable(verification, record, raw, raw_format, log_key, component)
    return store_verifications(session, [item], again=again)[0]


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
