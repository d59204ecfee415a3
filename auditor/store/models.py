"""ORM classes mapped onto the schema's tables (auditor.store.tables, which documents them).

For the code that writes rows as objects and follows relationships; the read models use the
tables directly.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import DeclarativeBase, Mapped, relationship

from auditor.store import tables


class Base(DeclarativeBase):
    metadata = tables.metadata


class Log(Base):
    __table__ = tables.logs
    id: Mapped[int]
    log_id: Mapped[str]
    name: Mapped[str | None]
    url: Mapped[str | None]
    public_key: Mapped[bytes | None]
    shards: Mapped[list[Shard]] = relationship(back_populates="log")


class Shard(Base):
    __table__ = tables.shards
    id: Mapped[int]
    log_pk: Mapped[int]
    tree_id: Mapped[int]
    first_virtual_index: Mapped[int | None]
    frozen: Mapped[bool]
    first_seen: Mapped[datetime]
    log: Mapped[Log] = relationship(back_populates="shards")


class StoredCheckpoint(Base):
    __table__ = tables.checkpoints
    id: Mapped[int]
    shard_pk: Mapped[int]
    size: Mapped[int]
    root_hash: Mapped[str]
    note: Mapped[str]
    signature_ok: Mapped[bool]
    seen_at: Mapped[datetime]
    extended: Mapped[bool]
    head_at: Mapped[datetime | None]


class ComponentKey(Base):
    __table__ = tables.component_keys
    id: Mapped[int]
    component: Mapped[str]
    key_sha256: Mapped[str]
    spki_der: Mapped[bytes]
    source: Mapped[str]


class Entry(Base):
    __table__ = tables.entries
    id: Mapped[int]
    log_pk: Mapped[int]
    leaf_hash: Mapped[str]
    uuid: Mapped[str | None]
    component: Mapped[str | None]
    recheck: Mapped[bool]
    rekor_version: Mapped[int]
    tree_id: Mapped[int | None]
    log_index: Mapped[int]
    shard_index: Mapped[int | None]
    integrated_time: Mapped[int | None]
    kind: Mapped[str]
    api_version: Mapped[str]
    signed_digest: Mapped[str | None]
    signer_key_sha256: Mapped[str | None]
    raw: Mapped[bytes]
    raw_format: Mapped[str]
    checkpoint_pk: Mapped[int | None]


class Endorsement(Base):
    __table__ = tables.endorsements
    id: Mapped[int]
    dedup_key: Mapped[str]
    component: Mapped[str | None]
    entry_pk: Mapped[int | None]
    statement: Mapped[bytes | None]
    statement_sha256: Mapped[str | None]
    statement_format: Mapped[str | None]
    signature: Mapped[bytes | None]
    subject: Mapped[bytes | None]
    subject_name: Mapped[str | None]
    subject_sha256: Mapped[str | None]
    not_before: Mapped[datetime | None]
    not_after: Mapped[datetime | None]
    source: Mapped[str]
    imported_at: Mapped[datetime]
    integrated_time: Mapped[int | None]
    signer_key_sha256: Mapped[str | None]
    receipts: Mapped[list[Receipt]] = relationship(order_by="Receipt.id")


class Receipt(Base):
    __table__ = tables.receipts
    id: Mapped[int]
    endorsement_pk: Mapped[int]
    kind: Mapped[str]
    sha256: Mapped[str]
    raw: Mapped[bytes]


class Verification(Base):
    __table__ = tables.verifications
    id: Mapped[int]
    entry_pk: Mapped[int | None]
    endorsement_pk: Mapped[int | None]
    ok: Mapped[bool]
    verified_at: Mapped[datetime]
    tool_version: Mapped[str]
    results: Mapped[list[CheckResult]] = relationship(
        back_populates="verification", order_by="CheckResult.position"
    )


class CheckResult(Base):
    __table__ = tables.check_results
    id: Mapped[int]
    verification_pk: Mapped[int]
    position: Mapped[int]
    name: Mapped[str]
    ok: Mapped[bool | None]
    detail: Mapped[str]
    verification: Mapped[Verification] = relationship(back_populates="results")


class Run(Base):
    __table__ = tables.runs
    id: Mapped[int]
    kind: Mapped[str]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    complete: Mapped[bool]
    exit_code: Mapped[int | None]
    summary: Mapped[str]
    tool_version: Mapped[str]


class StoredFinding(Base):
    __table__ = tables.findings
    id: Mapped[int]
    fingerprint: Mapped[str]
    rule: Mapped[str]
    severity: Mapped[str]
    component: Mapped[str | None]
    release: Mapped[str | None]
    detail: Mapped[str]
    evidence: Mapped[str]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    first_run_pk: Mapped[int | None]
    last_run_pk: Mapped[int | None]


class ScanCursor(Base):
    __table__ = tables.scan_cursors
    id: Mapped[int]
    log_pk: Mapped[int]
    from_index: Mapped[int]
    to_index: Mapped[int]
    next_index: Mapped[int]


class LogFault(Base):
    __table__ = tables.log_faults
    id: Mapped[int]
    log_pk: Mapped[int | None]
    tree_id: Mapped[int | None]
    rule: Mapped[str]
    kind: Mapped[str]
    fingerprint: Mapped[str]
    detail: Mapped[str]
    evidence: Mapped[str]
    identity: Mapped[str]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class PendingEntry(Base):
    __table__ = tables.pending_entries
    id: Mapped[int]
    log_pk: Mapped[int]
    uuid: Mapped[str]
    component: Mapped[str | None]
    reason: Mapped[str]
    first_seen: Mapped[datetime]
    last_tried: Mapped[datetime]
    attempts: Mapped[int]


class RunFinding(Base):
    __table__ = tables.run_findings
    id: Mapped[int]
    run_pk: Mapped[int]
    finding_pk: Mapped[int]
    suppression: Mapped[str | None]
    detail: Mapped[str]
    evidence: Mapped[str]


class AlertDelivery(Base):
    __table__ = tables.alert_deliveries
    id: Mapped[int]
    channel: Mapped[str]
    fingerprint: Mapped[str]
    state: Mapped[str]
    claimed_by: Mapped[str | None]
    claimed_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int]
    last_error: Mapped[str | None]
    reference: Mapped[str | None]
    alert: Mapped[str]


class PublisherFile(Base):
    __table__ = tables.publisher_files
    id: Mapped[int]
    sha256: Mapped[str]
    content: Mapped[bytes | None]
    altered: Mapped[str | None]
    store: Mapped[str]
    wanted_by: Mapped[str]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class PublisherLink(Base):
    __table__ = tables.publisher_links
    id: Mapped[int]
    store: Mapped[str]
    link_type: Mapped[int]
    source_sha256: Mapped[str]
    targets: Mapped[str]
    present: Mapped[bool]
    fetched_at: Mapped[datetime]


class PublisherKey(Base):
    __table__ = tables.publisher_keys
    id: Mapped[int]
    store: Mapped[str]
    key_file_sha256: Mapped[str]
    spki_sha256: Mapped[str | None]
    form: Mapped[str | None]
    learned: Mapped[str]
    detail: Mapped[str]


class PublishedPackage(Base):
    __table__ = tables.published_packages
    id: Mapped[int]
    store: Mapped[str]
    endorsement_sha256: Mapped[str]
    key_file_sha256: Mapped[str]
    component: Mapped[str | None]
    signature_sha256: Mapped[str | None]
    public_key_sha256: Mapped[str | None]
    rekor_sha256: Mapped[str | None]
    tlog_proof_sha256: Mapped[str | None]
    pes_sha256: Mapped[str | None]
    pending: Mapped[bool]
    missing: Mapped[str | None]
    checks: Mapped[str | None]
    ok: Mapped[bool | None]
    receipt_uuid: Mapped[str | None]
    log_answer: Mapped[str | None]
    log_detail: Mapped[str | None]
    endorsement_pk: Mapped[int | None]
    first_listed: Mapped[datetime]
    verified_at: Mapped[datetime | None]


class TileRange(Base):
    __table__ = tables.tile_ranges
    id: Mapped[int]
    log_pk: Mapped[int]
    start_index: Mapped[int]
    end_index: Mapped[int]
    keys: Mapped[str]
    catch_up: Mapped[bool]
    done: Mapped[bool]
    matches: Mapped[int]
    unparsable: Mapped[int]
    unparsable_sample: Mapped[str | None]
    scanned_at: Mapped[datetime | None]


class TileScanKey(Base):
    __table__ = tables.tile_scan_keys
    id: Mapped[int]
    log_pk: Mapped[int]
    key_sha256: Mapped[str]
