"""Read models of the evidence: stored endorsements and entries with their latest verification.

What the log vouches for, read back for reconciliation, assessment, queries and reports. The
chain, backwards: a verified entry signs sha256(statement); the statement's subject digest is
the sha256 of an attachment (stage0, kernel), of the cmdline regex, or of the artifact itself
(initrd, system image); the attachment names the measurements. Everything is streamed from the
database: memory does not grow with the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditor.components import Kind, kind_of
from auditor.errors import InputError
from auditor.source.publisher_index import published_in
from auditor.store import tables
from auditor.verify.receipt_state import ReceiptKind, ReceiptState, logged_by, receipt_state
from auditor.verify.statement import (
    StatementError,
    StatementFormat,
    normalize_digests,
    parse_statement,
)

if TYPE_CHECKING:  # a query's start-up does not load the write path
    from auditor.store.repository import Storable, StoredItem


@dataclass(frozen=True)
class EndorsementView:
    endorsement_id: int
    component: str | None
    uuid: str | None
    log_index: int | None
    tree_id: int | None
    integrated_time: int | None
    logged: bool
    ok: bool
    #: The latest verification's results: (check name, ok or None when skipped, detail).
    checks: tuple[tuple[str, bool | None, str], ...]
    statement_format: str | None
    statement_sha256: str | None
    subject_name: str | None
    subject_digests: dict[str, str]
    subject: bytes | None
    signer_key_sha256: str | None
    checkpoint: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    source: str | None = None
    #: The receipts it carries: a Rekor entry, a C2SP tlog-proof, a PES confirmation.
    receipts: tuple[ReceiptKind, ...] = ()
    #: The Rekor entry's log (its logID, hex), if it has one.
    log_id: str | None = None

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(name for name, ok, _ in self.checks if ok is False)

    @property
    def valid(self) -> bool:
        """Logged (some receipt verifies) and every applicable check passed."""
        return self.logged and self.ok

    @property
    def logged_by(self) -> str:
        """Its receipts besides a Rekor entry, by name: "C2SP tlog-proof, PES confirmation"."""
        return logged_by(self.receipts)

    @property
    def when(self) -> datetime | None:
        return datetime.fromtimestamp(self.integrated_time, UTC) if self.integrated_time else None

    def measurements(self) -> dict[str, str]:
        """What it vouches for, named for reports (a best effort: never raises)."""
        kind = kind_of(self.component or "")
        out = {f"subject_{k}": v for k, v in normalize_digests(self.subject_digests).items()}
        if self.subject is None:
            return out
        # Imported here: protobuf is only needed for an inline subject, not by every reader.
        from auditor.oak.messages import parse_firmware_attachment, parse_kernel_attachment

        try:
            if kind is Kind.STAGE0:
                firmware = parse_firmware_attachment(self.subject)
                out.update({f"launch_digest_{n}": d for n, d in firmware.launch_digests.items()})
                if firmware.rom_sha256:
                    out["rom_sha256"] = firmware.rom_sha256
            elif kind is Kind.KERNEL:
                kernel = parse_kernel_attachment(self.subject)
                out["kernel_measurement"] = kernel.image_sha256
                out["setup_data_digest"] = kernel.setup_data_sha256
            elif kind is Kind.CMDLINE:
                out["cmdline_regex"] = self.subject.decode("utf-8", "replace")
        except InputError:
            out["subject_error"] = "inline subject does not parse"
        return out

    @property
    def published(self) -> tuple[str, str] | None:
        """(index, package hash) when a publisher's index crawl stored it."""
        return published_in(self.source)

    def evidence(self) -> dict[str, Any]:
        published = self.published
        return {
            **({"index": published[0], "package": published[1]} if published else {}),
            "uuid": self.uuid,
            "log_index": self.log_index,
            "tree_id": self.tree_id,
            "integrated_time": self.when.isoformat() if self.when else None,
            "statement_sha256": self.statement_sha256,
            "subject_name": self.subject_name,
            "signer_key_sha256": self.signer_key_sha256,
            "checkpoint": self.checkpoint,
            "endorsed": self.measurements(),
            **({"receipts": [kind.value for kind in self.receipts]}
               if set(self.receipts) - {ReceiptKind.REKOR} else {}),
        }


def _tree(note: str | None) -> int | None:
    if note is None:
        return None
    # Imported here (it loads cryptography): only rows stored without a tree id need it.
    from auditor.verify.checkpoint import CheckpointFormatError, parse_checkpoint

    try:
        origin = parse_checkpoint(note).origin
    except CheckpointFormatError:
        return None
    tail = origin.rpartition(" - ")[2]
    return int(tail) if tail.isdigit() else None


#: Rows fetched from the database at a time while streaming.
BATCH = 500


def endorsement_views(session: Session, component: str | None = None,
                      limit: int | None = None,
                      ids: Sequence[int] | None = None,
                      until: datetime | None = None) -> Iterator[EndorsementView]:
    """Stored endorsements (of one component, or these ids, or all), newest first, each with
    its latest verification; `limit`: the newest N; `until`: as the store held them then (a
    run's report). Streamed in batches of plain rows (no ORM object per row: a store of
    200,000 endorsements is read at the speed of its rows)."""
    endorsements, entries, verifications = tables.endorsements, tables.entries, tables.verifications
    endorsement, entry, verification = endorsements.c, entries.c, verifications.c
    newest = select(endorsement.id).order_by(endorsement.integrated_time.desc().nulls_last(),
                                             endorsement.id.desc())
    verified = verification.endorsement_pk == endorsement.id
    if until is not None:
        newest = newest.where(endorsement.imported_at <= until)
        verified &= verification.verified_at <= until
    if component is not None:
        newest = newest.where(endorsement.component == component)
    if ids is not None:
        newest = newest.where(endorsement.id.in_(ids))
    if limit is not None:
        newest = newest.limit(limit)
    chosen = newest.subquery()
    query = (
        select(endorsement.id, endorsement.component, endorsement.statement,
               endorsement.statement_format, endorsement.statement_sha256, endorsement.subject,
               endorsement.subject_name, endorsement.not_before, endorsement.not_after,
               endorsement.source, endorsement.signer_key_sha256,
               entry.id.label("entry_id"), entry.uuid, entry.log_index, entry.tree_id,
               entry.integrated_time, entry.signer_key_sha256.label("entry_signer"),
               verification.id.label("verification_id"), verification.ok,
               tables.checkpoints.c.note, tables.logs.c.log_id)
        .join(chosen, chosen.c.id == endorsement.id)
        .outerjoin(entries, endorsement.entry_pk == entry.id)
        .outerjoin(tables.logs, tables.logs.c.id == entry.log_pk)
        .outerjoin(tables.checkpoints, tables.checkpoints.c.id == entry.checkpoint_pk)
        .join(verifications, verified)
        .order_by(endorsement.integrated_time.desc().nulls_last(), endorsement.id.desc(),
                  verification.id.desc())
        .execution_options(yield_per=BATCH)
    )
    for rows in _latest_per(session.execute(query).partitions(), "id"):
        checks = _checks(session, [row.verification_id for row in rows])
        receipts = _receipt_kinds(session, [row.id for row in rows])
        for row in rows:
            yield _view(row, checks.get(row.verification_id, ()), receipts.get(row.id, set()))


Checks = tuple[tuple[str, bool | None, str], ...]
_Row = TypeVar("_Row")


def _latest_per(partitions: Iterator[Sequence[_Row]], key: str) -> Iterator[list[_Row]]:
    """Each batch's rows, without older verifications of the same thing (rows are ordered by
    thing, newest verification first, so they are adjacent, possibly across batches)."""
    previous: object = None
    for partition in partitions:
        latest = []
        for row in partition:
            if getattr(row, key) != previous:
                previous = getattr(row, key)
                latest.append(row)
        yield latest


def _checks(session: Session, verification_ids: list[int]) -> dict[int, Checks]:
    """The check results of these verifications, in report order."""
    out: dict[int, list[tuple[str, bool | None, str]]] = {}
    result = tables.check_results.c
    for pk, name, ok, detail in session.execute(
            select(result.verification_pk, result.name, result.ok, result.detail)
            .where(result.verification_pk.in_(verification_ids))
            .order_by(result.verification_pk, result.position)):
        out.setdefault(pk, []).append((name, ok, detail))
    return {pk: tuple(checks) for pk, checks in out.items()}


def _receipt_kinds(session: Session, endorsement_ids: list[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for pk, kind in session.execute(
            select(tables.receipts.c.endorsement_pk, tables.receipts.c.kind)
            .where(tables.receipts.c.endorsement_pk.in_(endorsement_ids))):
        out.setdefault(pk, set()).add(kind)
    return out


def _view(row: Any, checks: Checks, receipt_kinds: set[str]) -> EndorsementView:
    logged = row.entry_id is not None
    return EndorsementView(
        endorsement_id=row.id,
        component=row.component,
        uuid=row.uuid,
        log_index=row.log_index,
        tree_id=row.tree_id if row.tree_id is not None else _tree(row.note),
        integrated_time=row.integrated_time,
        logged=logged or logged_by_receipts(receipt_kinds, checks),
        ok=row.ok,
        checks=checks,
        statement_format=row.statement_format,
        statement_sha256=row.statement_sha256,
        subject_name=row.subject_name,
        subject_digests=_subject_digests(row.statement),
        subject=row.subject,
        signer_key_sha256=row.signer_key_sha256 or row.entry_signer,
        checkpoint=row.note,
        valid_from=row.not_before,
        valid_until=row.not_after,
        source=row.source,
        receipts=_receipts(receipt_kinds, logged),
        log_id=row.log_id,
    )


def inserted_view(item: Storable, stored: StoredItem) -> EndorsementView:
    """The endorsement and entry `store_verifications` just inserted for `item` (both new:
    `stored` says so), as `endorsement_views` would read them back, without reading: every
    value a finding's rule depends on is the value inserted, and its only verification is
    `item`'s. The evidence it would show of the statement (subject digests, tree id,
    checkpoint) is the verification's own, which the stored copy may word differently."""
    assert stored.entry_new and stored.endorsement_id is not None and stored.entry_id is not None
    verification, record = item.verification, item.record
    entry = verification.entry
    assert entry is not None
    statement = verification.statement
    subject = statement.subject if statement else None
    v1 = statement is not None and statement.format is StatementFormat.OAK_V1
    body_signer = verification.body.key.key_id.hex() if verification.body else None
    checks = tuple((check.name, check.ok, check.detail) for check in verification.checks)
    kinds = {receipt.kind.value for receipt in record.receipts}
    return EndorsementView(
        endorsement_id=stored.endorsement_id,
        component=record.component,
        uuid=entry.uuid,
        log_index=entry.log_index,
        tree_id=entry.tree_id,
        integrated_time=entry.integrated_time,
        logged=True,
        ok=verification.ok,
        checks=checks,
        statement_format=statement.format.value if statement else None,
        statement_sha256=record.statement_sha256,
        subject_name=tables.subject_name(subject.name) if subject else None,
        subject_digests=dict(subject.digests) if v1 and subject else {},
        subject=record.subject,
        signer_key_sha256=(verification.signer.key_id.hex() if verification.signer else None)
        or body_signer,
        checkpoint=verification.checkpoint.raw if verification.checkpoint else None,
        valid_from=statement.not_before if v1 and statement else None,
        valid_until=statement.not_after if v1 and statement else None,
        source=record.source,
        receipts=_receipts(kinds, True),
        log_id=entry.log_id.hex(),
    )


def logged_by_receipts(kinds: Iterable[str],
                       checks: Sequence[tuple[str, bool | None, str]]) -> bool:
    """A tlog-proof or PES confirmation of the endorsement verifies: an endorsement Oak logged
    only in a tiled log or through PES is not "never logged"."""
    return any(receipt_state(ReceiptKind(kind), True, checks)[0] is ReceiptState.VALID
               for kind in set(kinds) & {ReceiptKind.C2SP, ReceiptKind.PES})


def _receipts(kinds: set[str], rekor: bool) -> tuple[ReceiptKind, ...]:
    carried = {ReceiptKind(kind) for kind in kinds if kind in set(ReceiptKind)}
    if rekor:
        carried.add(ReceiptKind.REKOR)
    return tuple(kind for kind in ReceiptKind if kind in carried)


def _subject_digests(statement_bytes: bytes | None) -> dict[str, str]:
    """The statement's subject digests (all algorithms), re-read from the stored statement."""
    if statement_bytes is None:
        return {}
    try:
        statement = parse_statement(statement_bytes)
    except StatementError:
        return {}
    if statement.format is not StatementFormat.OAK_V1 or statement.subject is None:
        return {}
    return dict(statement.subject.digests)


def inline_subject_matches(value: EndorsementView) -> bool:
    """The inline subject is the one the statement names (verification checked it too)."""
    if value.subject is None:
        return False
    digest = hashlib.sha256(value.subject).hexdigest()
    return normalize_digests(value.subject_digests).get("sha256") == digest


@dataclass(frozen=True)
class EntryView:
    """A stored log entry that no endorsement row carries (its statement is missing, its body
    did not parse), with its latest verification."""

    entry_id: int
    component: str | None
    uuid: str | None
    log_index: int
    integrated_time: int | None
    signed_digest: str | None
    signer_key_sha256: str | None
    ok: bool
    checks: tuple[tuple[str, bool | None, str], ...]

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(name for name, ok, _ in self.checks if ok is False)


def bare_entries(session: Session, ids: Sequence[int] | None = None) -> Iterator[EntryView]:
    """Entries without an endorsement (of these ids, or all), each with its latest verification."""
    entry, verification, endorsement = (tables.entries.c, tables.verifications.c,
                                        tables.endorsements.c)
    query = (
        select(entry.id, entry.component, entry.uuid, entry.log_index, entry.integrated_time,
               entry.signed_digest, entry.signer_key_sha256,
               verification.id.label("verification_id"), verification.ok)
        .outerjoin(tables.endorsements, endorsement.entry_pk == entry.id)
        .join(tables.verifications, verification.entry_pk == entry.id)
        .where(endorsement.id.is_(None))
        .order_by(entry.id, verification.id.desc())
        .execution_options(yield_per=BATCH)
    )
    if ids is not None:
        query = query.where(entry.id.in_(ids))
    for rows in _latest_per(session.execute(query).partitions(), "id"):
        checks = _checks(session, [row.verification_id for row in rows])
        for row in rows:
            yield EntryView(row.id, row.component, row.uuid, row.log_index, row.integrated_time,
                            row.signed_digest, row.signer_key_sha256, row.ok,
                            checks.get(row.verification_id, ()))


def endorsement_ids_of_entries(session: Session, entry_ids: Sequence[int]) -> list[int]:
    if not entry_ids:
        return []
    return list(session.scalars(select(tables.endorsements.c.id).where(
        tables.endorsements.c.entry_pk.in_(entry_ids))))


def endorsed_components(session: Session) -> set[str]:
    """Every component some stored endorsement is for."""
    return {c for c in session.scalars(select(tables.endorsements.c.component).distinct()) if c}


def endorsement_counts(session: Session, until: datetime | None = None) -> tuple[int, int]:
    """(stored endorsements, those whose latest verification failed); `until`: as then."""
    verification = tables.verifications.c
    latest = (select(func.max(verification.id).label("id"))
              .where(verification.endorsement_pk.is_not(None))
              .group_by(verification.endorsement_pk))
    stored = select(func.count()).select_from(tables.endorsements)
    if until is not None:
        latest = latest.where(verification.verified_at <= until)
        stored = stored.where(tables.endorsements.c.imported_at <= until)
    newest = latest.subquery()
    failed = session.scalar(select(func.count()).select_from(tables.verifications)
                            .join(newest, newest.c.id == verification.id)
                            .where(verification.ok.is_(False))) or 0
    return session.scalar(stored) or 0, failed
