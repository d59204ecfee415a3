"""The database schema: logs, shards, checkpoints, entries, endorsements, check results.

Raw bytes are stored exactly as received (entry responses, statements, signatures, inline
subjects) so every check can be re-run later; parsed columns exist for queries. Unique
constraints make every import and crawl idempotent: the same data twice adds nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Alembic needs deterministic constraint names (and SQLite batch mode needs them to alter).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Log(Base):
    """A transparency log, identified by its key (Rekor v1: logID = sha256 of the SPKI)."""

    __tablename__ = "logs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(String(1024))
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    shards: Mapped[list[Shard]] = relationship(back_populates="log")


class Shard(Base):
    """One Merkle tree of a log (a Rekor tree id). Frozen shards must never change."""

    __tablename__ = "shards"
    __table_args__ = (UniqueConstraint("log_pk", "tree_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_pk: Mapped[int] = mapped_column(ForeignKey("logs.id"))
    tree_id: Mapped[int] = mapped_column(BigInteger)
    #: Virtual index of the shard's first leaf, once known.
    first_virtual_index: Mapped[int | None] = mapped_column(BigInteger)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    log: Mapped[Log] = relationship(back_populates="shards")


class StoredCheckpoint(Base):
    """Every distinct (size, root) a shard has shown us, with one note that signed it."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("shard_pk", "size", "root_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shard_pk: Mapped[int] = mapped_column(ForeignKey("shards.id"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    signature_ok: Mapped[bool] = mapped_column(Boolean)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Proven (RFC 9162 consistency) to be a prefix of a larger stored checkpoint of the shard.
    #: The others are the tips of the history we saw: one for an honest log, several once it
    #: showed a split view. Every new checkpoint is checked against every tip.
    extended: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ComponentKey(Base):
    """A pinned endorser key for a component (stage0, kernel, ...)."""

    __tablename__ = "component_keys"
    __table_args__ = (UniqueConstraint("component", "key_sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    component: Mapped[str] = mapped_column(String(128), index=True)
    key_sha256: Mapped[str] = mapped_column(String(64), index=True)
    spki_der: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(1024))


class Entry(Base):
    """A log entry: the response bytes as received plus the fields queries need."""

    __tablename__ = "entries"
    __table_args__ = (
        UniqueConstraint("log_pk", "leaf_hash"),
        Index("ix_entries_signer_time", "signer_key_sha256", "integrated_time"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_pk: Mapped[int] = mapped_column(ForeignKey("logs.id"))
    leaf_hash: Mapped[str] = mapped_column(String(64))
    uuid: Mapped[str | None] = mapped_column(String(80))
    #: The component it belongs to: the one whose pinned key signed it, else the one under whose
    #: key the log listed it (a foreign entry listed under a pinned key is that key's problem).
    component: Mapped[str | None] = mapped_column(String(128), index=True)
    #: Worth another look on the next crawl: its latest verification failed a check of what
    #: the log served (proof, checkpoint, signed timestamp: maybe a transient fault), or its
    #: statement could not be fetched yet.
    recheck: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(),
                                          index=True)
    rekor_version: Mapped[int] = mapped_column(Integer)
    tree_id: Mapped[int | None] = mapped_column(BigInteger)
    log_index: Mapped[int] = mapped_column(BigInteger, index=True)
    shard_index: Mapped[int | None] = mapped_column(BigInteger)
    integrated_time: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(64))
    api_version: Mapped[str] = mapped_column(String(32))
    #: sha256 the body signs (for Oak: of the statement).
    signed_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    signer_key_sha256: Mapped[str | None] = mapped_column(String(64))
    #: The document as received: a Rekor v1 response or a Sigstore bundle.
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    raw_format: Mapped[str] = mapped_column(String(32))
    checkpoint_pk: Mapped[int | None] = mapped_column(ForeignKey("checkpoints.id"))


class Endorsement(Base):
    """A signed statement, logged (entry_pk set) or not, with its inline subject."""

    __tablename__ = "endorsements"
    __table_args__ = (
        UniqueConstraint("dedup_key"),
        # `audit component NAME`: newest first, without sorting every endorsement of NAME.
        Index("ix_endorsements_component_time", "component", "integrated_time"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: component, sha256(statement) and the entry's leaf hash (or "unlogged"): one row each.
    dedup_key: Mapped[str] = mapped_column(String(300))
    component: Mapped[str | None] = mapped_column(String(128), index=True)
    entry_pk: Mapped[int | None] = mapped_column(ForeignKey("entries.id"), index=True)
    statement: Mapped[bytes | None] = mapped_column(LargeBinary)
    statement_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    statement_format: Mapped[str | None] = mapped_column(String(32))
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    subject: Mapped[bytes | None] = mapped_column(LargeBinary)
    subject_name: Mapped[str | None] = mapped_column(String(512))
    subject_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(1024))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The entry's integratedTime (copied for ordering); NULL when not logged.
    integrated_time: Mapped[int | None] = mapped_column(BigInteger)
    #: sha256 of the SPKI of the key whose signature verified (logged or not).
    signer_key_sha256: Mapped[str | None] = mapped_column(String(64))
    receipts: Mapped[list[Receipt]] = relationship(order_by="Receipt.id")


class Receipt(Base):
    """A receipt that an endorsement was made public, byte-exact as it travelled with it.

    Oak's SignedEndorsement carries up to three: a Rekor entry (kind `rekor`), a C2SP
    tlog-proof (`c2sp`) and a PES confirmation (`pes`); auditor.verify.receipts checks them.
    An endorsement row holds one set of receipts: a copy of the statement with other
    receipts is another row (see the endorsement's dedup_key).
    """

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("endorsement_pk", "kind", "sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endorsement_pk: Mapped[int] = mapped_column(ForeignKey("endorsements.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class Verification(Base):
    """One run of the checks over an entry and/or endorsement."""

    __tablename__ = "verifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_pk: Mapped[int | None] = mapped_column(ForeignKey("entries.id"), index=True)
    endorsement_pk: Mapped[int | None] = mapped_column(ForeignKey("endorsements.id"), index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tool_version: Mapped[str] = mapped_column(String(64))
    results: Mapped[list[CheckResult]] = relationship(
        back_populates="verification", order_by="CheckResult.position"
    )


class CheckResult(Base):
    __tablename__ = "check_results"
    __table_args__ = (UniqueConstraint("verification_pk", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    verification_pk: Mapped[int] = mapped_column(ForeignKey("verifications.id"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    #: True, False, or NULL when the check did not apply.
    ok: Mapped[bool | None] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text)
    verification: Mapped[Verification] = relationship(back_populates="results")


class Run(Base):
    """One crawl, reconciliation or scheduled run, with its outcome."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    #: The run's JSON summary (counts, requests, retries).
    summary: Mapped[str] = mapped_column(Text, default="{}")
    tool_version: Mapped[str] = mapped_column(String(64))


class StoredFinding(Base):
    """A finding, one row per fingerprint, with when it was first and last seen."""

    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("fingerprint"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    component: Mapped[str | None] = mapped_column(String(128), index=True)
    release: Mapped[str | None] = mapped_column(String(256))
    detail: Mapped[str] = mapped_column(Text)
    #: JSON: entry UUIDs, log indexes, digests on both sides, checkpoints.
    evidence: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    first_run_pk: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    last_run_pk: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)


class ScanCursor(Base):
    """Progress of a bounded range scan, so a killed scan resumes where it stopped."""

    __tablename__ = "scan_cursors"
    __table_args__ = (UniqueConstraint("log_pk", "from_index", "to_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_pk: Mapped[int] = mapped_column(ForeignKey("logs.id"))
    from_index: Mapped[int] = mapped_column(BigInteger)
    to_index: Mapped[int] = mapped_column(BigInteger)
    #: The next virtual index to inspect; advanced only after a batch is stored.
    next_index: Mapped[int] = mapped_column(BigInteger)


class LogFault(Base):
    """Something a log did that a sound log never does, proven by what it signed.

    A split view, a rollback, a fork, a frozen shard that grew, a signed head whose unsigned
    fields disagree with it, a checkpoint that does not verify. Stored once per fingerprint and
    reported by every later run (a run never forgets what an earlier run proved) until an
    operator suppresses the finding.
    """

    __tablename__ = "log_faults"
    __table_args__ = (UniqueConstraint("fingerprint"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_pk: Mapped[int | None] = mapped_column(ForeignKey("logs.id"), index=True)
    tree_id: Mapped[int | None] = mapped_column(BigInteger)
    rule: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    #: JSON: both checkpoints, sizes, the fields that disagreed.
    evidence: Mapped[str] = mapped_column(Text)
    identity: Mapped[str] = mapped_column(String(256))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PendingEntry(Base):
    """An entry the log listed under a component key that we have not been able to fetch.

    A log that withholds entries must not look complete: every run tries these again and stays
    incomplete (exit 3), naming them, until the log serves them.
    """

    __tablename__ = "pending_entries"
    __table_args__ = (UniqueConstraint("log_pk", "uuid"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_pk: Mapped[int] = mapped_column(ForeignKey("logs.id"))
    uuid: Mapped[str] = mapped_column(String(80))
    component: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_tried: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=1)


class RunFinding(Base):
    """A finding as one run reported it (suppressed or not), so reports stream from here."""

    __tablename__ = "run_findings"
    __table_args__ = (UniqueConstraint("run_pk", "finding_pk"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    finding_pk: Mapped[int] = mapped_column(ForeignKey("findings.id"))
    #: JSON {"reason", "expires"} of the suppression that applied in this run, or NULL.
    suppression: Mapped[str | None] = mapped_column(Text)
    #: The finding's detail and evidence (JSON) as this run saw them.
    detail: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)


class AlertDelivery(Base):
    """The delivery ledger: one alert (a finding's fingerprint) on one alert channel.

    `state` is what the channel last received: `unsent` (never delivered: the last try
    failed), `open` (the "new" alert was delivered) or `resolved`. A claim (`claimed_by`,
    `claimed_at`) reserves the row for the run that is sending right now, so two hosts sharing
    the database never both send; it is cleared when the outcome is recorded, and a claim
    older than the lease (a run that died mid-send) may be taken over.
    """

    __tablename__ = "alert_deliveries"
    __table_args__ = (UniqueConstraint("channel", "fingerprint"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), index=True)
    #: Who is sending it now: host, process and run start (None when nobody is).
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Why the last try failed (one line, no secrets); None once delivered.
    last_error: Mapped[str | None] = mapped_column(Text)
    #: Where the alert lives on the channel, when it says (a GitHub issue URL).
    reference: Mapped[str | None] = mapped_column(String(1024))
    #: JSON of the "new" alert as sent: a later "resolved" message is worded from it.
    alert: Mapped[str] = mapped_column(Text)
class PublisherFile(Base):
    """A file of the publisher's content-addressed store (Oak's `oak-files`), by its SHA-256.

    Files are immutable: once served with bytes that hash to the name they are never fetched
    again. A store that served other bytes under the name is remembered (`altered`) and
    reported until an operator suppresses the finding, even if it later serves the right ones.
    """

    __tablename__ = "publisher_files"
    __table_args__ = (UniqueConstraint("sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    #: The bytes, once served with the right hash; NULL while only altered bytes were.
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: What the store served instead (`sha2-256:<hex>` of those bytes, or their size).
    altered: Mapped[str | None] = mapped_column(String(80))
    #: The files URL it was fetched from, and which link named it.
    store: Mapped[str] = mapped_column(String(1024))
    wanted_by: Mapped[str] = mapped_column(String(512))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PublisherLink(Base):
    """A link of the publisher's index as last served: `<links>/<type>/sha2-256:<source>`."""

    __tablename__ = "publisher_links"
    __table_args__ = (UniqueConstraint("store", "link_type", "source_sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The links URL.
    store: Mapped[str] = mapped_column(String(1024))
    link_type: Mapped[int] = mapped_column(Integer)
    source_sha256: Mapped[str] = mapped_column(String(64))
    #: The hashes it lists (hex, one per line, as served); empty when absent.
    targets: Mapped[str] = mapped_column(Text)
    #: False: the index answered 404 (Oak reads that as an empty list).
    present: Mapped[bool] = mapped_column(Boolean)
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PublisherKey(Base):
    """A key file of the publisher's store: the hash the index names the key by, and its key.

    Learned by following an endorsement's signature (link 14) to its key (16), from a keyset's
    list (22), by finding one of our keys' files in the store, or by applying the form the
    publisher stores keys in (PEM, DER) to a pinned key.
    """

    __tablename__ = "publisher_keys"
    __table_args__ = (UniqueConstraint("store", "key_file_sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The links URL.
    store: Mapped[str] = mapped_column(String(1024))
    key_file_sha256: Mapped[str] = mapped_column(String(64))
    #: sha256 of the key's SPKI DER; NULL when the file is not a key (or not in the store).
    spki_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    #: The encoding of the file, when one of ours reproduces its bytes ("pem", "der", ...).
    form: Mapped[str | None] = mapped_column(String(16))
    learned: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)


class PublishedPackage(Base):
    """An endorsement package the publisher's index lists under a key (link 21).

    `pending` until every piece has been served (the statement, its signature and key, and the
    receipts its links name), then verified once with the named checks and compared with the
    log; the outcome stays here as evidence.
    """

    __tablename__ = "published_packages"
    __table_args__ = (UniqueConstraint("store", "endorsement_sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The links URL.
    store: Mapped[str] = mapped_column(String(1024))
    endorsement_sha256: Mapped[str] = mapped_column(String(64), index=True)
    #: The key file hash it is listed under, and that key's component.
    key_file_sha256: Mapped[str] = mapped_column(String(64))
    component: Mapped[str | None] = mapped_column(String(128))
    signature_sha256: Mapped[str | None] = mapped_column(String(64))
    public_key_sha256: Mapped[str | None] = mapped_column(String(64))
    rekor_sha256: Mapped[str | None] = mapped_column(String(64))
    tlog_proof_sha256: Mapped[str | None] = mapped_column(String(64))
    pes_sha256: Mapped[str | None] = mapped_column(String(64))
    pending: Mapped[bool] = mapped_column(Boolean, default=True)
    #: What the package lacks (a 404 file or link), while it does.
    missing: Mapped[str | None] = mapped_column(Text)
    #: JSON [{name, ok, detail}]: the named checks of the package as published.
    checks: Mapped[str | None] = mapped_column(Text)
    ok: Mapped[bool | None] = mapped_column(Boolean)
    #: The entry its Rekor receipt names, and how the log's own copy compares with it.
    receipt_uuid: Mapped[str | None] = mapped_column(String(80))
    log_answer: Mapped[str | None] = mapped_column(String(16))
    log_detail: Mapped[str | None] = mapped_column(Text)
    endorsement_pk: Mapped[int | None] = mapped_column(ForeignKey("endorsements.id"))
    first_listed: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
class TileRange(Base):
    """A range of a tiled log's entries, scanned for some pinned keys as one unit of work.

    Ranges are planned up to each trusted checkpoint's size (and again from 0 for a key pinned
    later). A scanner claims one (`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL), and in
    that same transaction stores the entries it found under the keys and marks the range done:
    the scan position is committed with the entries it covers, a killed scan loses only its
    uncommitted range, and scanners on several hosts split a log without a coordinator.
    """

    __tablename__ = "tile_ranges"
    __table_args__ = (Index("ix_tile_ranges_log_pk_done", "log_pk", "done", "start_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_pk: Mapped[int] = mapped_column(ForeignKey("logs.id"))
    start_index: Mapped[int] = mapped_column(BigInteger)
    end_index: Mapped[int] = mapped_column(BigInteger)
    #: sha256 of the pinned keys (DER SPKI) looked for, sorted, comma-separated.
    keys: Mapped[str] = mapped_column(Text)
    #: A catch-up range: keys pinned after the log was scanned this far, looked for again.
    catch_up: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    done: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: What the scan found: entries under the keys, entries that are no log entry we can read.
    matches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unparsable: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The first unparsable entry of the range: "<index>: <reason>".
    unparsable_sample: Mapped[str | None] = mapped_column(Text)
    scanned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TileScanKey(Base):
    """A pinned key a tiled log's planned ranges look for (a key pinned later is caught up)."""

    __tablename__ = "tile_scan_keys"
    __table_args__ = (UniqueConstraint("log_pk", "key_sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_pk: Mapped[int] = mapped_column(ForeignKey("logs.id"))
    key_sha256: Mapped[str] = mapped_column(String(64))
