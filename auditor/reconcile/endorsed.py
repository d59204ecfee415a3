"""What the log vouches for: stored endorsements with their latest verification.

DOMAIN.md §2's chain, read backwards: a verified entry signs sha256(statement); the statement's
subject digest is the sha256 of an attachment (stage0, kernel), of the cmdline regex, or of the
artifact itself (initrd, system image); the attachment names the measurements.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from auditor.errors import InputError
from auditor.oak.messages import parse_firmware_attachment, parse_kernel_attachment
from auditor.reconcile.manifest import Kind, kind_of
from auditor.store import models
from auditor.verify.checkpoint import CheckpointFormatError, parse_checkpoint
from auditor.verify.statement import (
    StatementError,
    StatementFormat,
    normalize_digests,
    parse_statement,
)


@dataclass(frozen=True)
class EndorsedValue:
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

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(name for name, ok, _ in self.checks if ok is False)

    @property
    def valid(self) -> bool:
        """Logged and every applicable check passed: what a verifier may rely on."""
        return self.logged and self.ok

    @property
    def when(self) -> datetime | None:
        return datetime.fromtimestamp(self.integrated_time, UTC) if self.integrated_time else None

    def measurements(self) -> dict[str, str]:
        """What it vouches for, named for reports (a best effort: never raises)."""
        kind = kind_of(self.component or "")
        out = {f"subject_{k}": v for k, v in normalize_digests(self.subject_digests).items()}
        if self.subject is None:
            return out
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

    def evidence(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "log_index": self.log_index,
            "tree_id": self.tree_id,
            "integrated_time": self.when.isoformat() if self.when else None,
            "statement_sha256": self.statement_sha256,
            "subject_name": self.subject_name,
            "signer_key_sha256": self.signer_key_sha256,
            "checkpoint": self.checkpoint,
            "endorsed": self.measurements(),
        }


def _checkpoint_of(entry: models.Entry | None, session: Session) -> str | None:
    if entry is None or entry.checkpoint_pk is None:
        return None
    stored = session.get(models.StoredCheckpoint, entry.checkpoint_pk)
    return stored.note if stored else None


def _tree(note: str | None) -> int | None:
    if note is None:
        return None
    try:
        origin = parse_checkpoint(note).origin
    except CheckpointFormatError:
        return None
    tail = origin.rpartition(" - ")[2]
    return int(tail) if tail.isdigit() else None


def load_endorsed(session: Session, component: str | None = None,
                  limit: int | None = None) -> list[EndorsedValue]:
    """Stored endorsements (of one component, or all), newest first; `limit` the newest N."""
    newest = select(models.Endorsement.id).order_by(
        models.Endorsement.integrated_time.desc().nulls_last(), models.Endorsement.id.desc())
    if component is not None:
        newest = newest.where(models.Endorsement.component == component)
    if limit is not None:
        newest = newest.limit(limit)
    chosen = newest.subquery()
    query = (
        select(models.Endorsement, models.Entry, models.Verification)
        .join(chosen, chosen.c.id == models.Endorsement.id)
        .outerjoin(models.Entry, models.Endorsement.entry_pk == models.Entry.id)
        .join(models.Verification, models.Verification.endorsement_pk == models.Endorsement.id)
        .options(selectinload(models.Verification.results))
        .order_by(models.Endorsement.integrated_time.desc().nulls_last(),
                  models.Endorsement.id.desc(), models.Verification.id.desc())
    )
    seen: set[int] = set()
    values = []
    for endorsement, entry, verification in session.execute(query):
        if endorsement.id in seen:
            continue  # an older verification of the same endorsement
        seen.add(endorsement.id)
        note = _checkpoint_of(entry, session)
        subject_digests = _subject_digests(endorsement)
        values.append(EndorsedValue(
            endorsement_id=endorsement.id,
            component=endorsement.component,
            uuid=entry.uuid if entry else None,
            log_index=entry.log_index if entry else None,
            tree_id=(entry.tree_id if entry and entry.tree_id is not None else _tree(note)),
            integrated_time=entry.integrated_time if entry else None,
            logged=entry is not None,
            ok=verification.ok,
            checks=tuple((r.name, r.ok, r.detail) for r in verification.results),
            statement_format=endorsement.statement_format,
            statement_sha256=endorsement.statement_sha256,
            subject_name=endorsement.subject_name,
            subject_digests=subject_digests,
            subject=endorsement.subject,
            signer_key_sha256=endorsement.signer_key_sha256
            or (entry.signer_key_sha256 if entry else None),
            checkpoint=note,
            valid_from=endorsement.not_before,
            valid_until=endorsement.not_after,
        ))
    return values


def _subject_digests(endorsement: models.Endorsement) -> dict[str, str]:
    """The statement's subject digests (all algorithms), re-read from the stored statement."""
    if endorsement.statement is None:
        return {}
    try:
        statement = parse_statement(endorsement.statement)
    except StatementError:
        return {}
    if statement.format is not StatementFormat.OAK_V1 or statement.subject is None:
        return {}
    return dict(statement.subject.digests)


def inline_subject_matches(value: EndorsedValue) -> bool:
    """The inline subject is the one the statement names (verification checked it too)."""
    if value.subject is None:
        return False
    digest = hashlib.sha256(value.subject).hexdigest()
    return normalize_digests(value.subject_digests).get("sha256") == digest
