"""Read-side queries over the store (what `audit entries` lists)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, selectinload

from auditor.store import models
from auditor.store.views import logged_by_receipts


@dataclass(frozen=True)
class StoredRecord:
    component: str | None
    uuid: str | None
    log_index: int | None
    integrated_time: int | None
    kind: str | None
    subject_name: str | None
    subject_sha256: str | None
    statement_format: str | None
    logged: bool
    ok: bool
    checks: list[tuple[str, bool | None, str]]
    source: str | None
    rekor_version: int | None = None

    @property
    def unsigned_index(self) -> bool:
        """A Rekor v1 log index its signed entry timestamp did not sign (a bundle without its
        promise); the store holds no integrated time for it (Verification.unsigned_fields)."""
        return self.rekor_version == 1 and not any(
            name == "set" and ok is True for name, ok, _ in self.checks)

    def to_json(self) -> dict[str, Any]:
        when = self.integrated_time
        return {
            "component": self.component,
            "uuid": self.uuid,
            "log_index": self.log_index,
            "integrated_time": when,
            "integrated_time_utc": datetime.fromtimestamp(when, UTC).isoformat() if when else None,
            "kind": self.kind,
            "logged": self.logged,
            "subject_name": self.subject_name,
            "subject_sha256": self.subject_sha256,
            "statement_format": self.statement_format,
            "ok": self.ok,
            "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in self.checks],
            "source": self.source,
            **({"unsigned": ["log_index"]} if self.unsigned_index else {}),
        }


def latest_records(session: Session, component: str | None = None,
                   limit: int | None = None) -> list[StoredRecord]:
    """Each stored entry/endorsement pair with its latest verification, newest first;
    `limit`: the newest N pairs."""
    query = (
        select(models.Verification, models.Entry, models.Endorsement)
        .outerjoin(models.Entry, models.Verification.entry_pk == models.Entry.id)
        .outerjoin(models.Endorsement, models.Verification.endorsement_pk == models.Endorsement.id)
        .options(selectinload(models.Verification.results),
                 selectinload(models.Endorsement.receipts).load_only(models.Receipt.kind))
        # Endorsements carry integratedTime, indexed with the component: no full sort.
        .order_by(models.Endorsement.integrated_time.desc().nulls_last(),
                  models.Verification.id.desc())
    )
    if component is not None:
        # A bare entry's component is its own: the one whose pinned key signed it.
        query = query.where(or_(models.Endorsement.component == component,
                                (models.Endorsement.id.is_(None))
                                & (models.Entry.component == component)))
    if limit is None:
        return _latest(session, query)[0]
    # A SQL LIMIT counts verification rows: a pair verified twice takes two places. Rows are
    # read in a window twice as large until it holds `limit` pairs or the store ends (once, in
    # a store where nothing was verified again).
    window = limit
    while True:
        records, read = _latest(session, query.limit(window))
        if len(records) >= limit or read < window:
            return records[:limit]
        window *= 2


_Listing = Select[models.Verification, models.Entry, models.Endorsement]


def _latest(session: Session, query: _Listing) -> tuple[list[StoredRecord], int]:
    """The records of `query`'s rows, the latest verification of each pair (the rows are
    ordered newest verification first), and how many rows were read."""
    seen: set[tuple[int | None, int | None]] = set()
    records: list[StoredRecord] = []
    read = 0
    for verification, entry, endorsement in session.execute(query):
        read += 1
        key = (verification.entry_pk, verification.endorsement_pk)
        if key in seen:
            continue
        seen.add(key)
        checks = [(r.name, r.ok, r.detail) for r in verification.results]
        records.append(StoredRecord(
            component=endorsement.component if endorsement else entry.component if entry else None,
            uuid=entry.uuid if entry else None,
            log_index=entry.log_index if entry else None,
            integrated_time=entry.integrated_time if entry else None,
            kind=entry.kind if entry else None,
            subject_name=endorsement.subject_name if endorsement else None,
            subject_sha256=endorsement.subject_sha256 if endorsement else None,
            statement_format=endorsement.statement_format if endorsement else None,
            logged=entry is not None or (endorsement is not None
                                         and logged_by_receipts(
                                             (r.kind for r in endorsement.receipts), checks)),
            ok=verification.ok,
            checks=checks,
            source=endorsement.source if endorsement else None,
            rekor_version=entry.rekor_version if entry else None,
        ))
    return records, read
