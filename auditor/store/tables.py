"""The database schema: logs, shards, checkpoints, entries, endorsements, check results.

Raw bytes are stored exactly as received (entry responses, statements, signatures, inline
subjects) so every check can be re-run later; parsed columns exist for queries. Unique
constraints make every import and crawl idempotent: the same data twice adds nothing.

Plain SQLAlchemy Core tables: the read models (and so every query command) use them without
the ORM mapping, which costs more to build than a query takes to run; the code that writes
rows as objects uses the classes auditor.store.models maps onto them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

# Alembic needs deterministic constraint names (and SQLite batch mode needs them to alter).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def aware(moment: datetime) -> datetime:
    """A stored time with its zone: every DateTime column holds UTC, and SQLite gives it back
    naive, so that evidence reads the same from either database."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


#: The most of a statement's subject name kept (the statement itself is stored whole).
SUBJECT_NAME_CHARS = 512


def subject_name(name: str | None) -> str | None:
    """A subject name as stored: a signed statement may name its subject with megabytes, and
    PostgreSQL cut it at the column's length (SQLite kept it whole): cut here, for both."""
    return name[:SUBJECT_NAME_CHARS] if name is not None else None


# A transparency log, identified by its key (Rekor v1: logID = sha256 of the SPKI).
logs = Table(
    "logs", metadata,
    Column("id", Integer, primary_key=True),
    Column("log_id", String(64), unique=True, nullable=False),
    Column("name", String(255)),
    Column("url", String(1024)),
    Column("public_key", LargeBinary),
)

# One Merkle tree of a log (a Rekor tree id). Frozen shards must never change.
shards = Table(
    "shards", metadata,
    Column("id", Integer, primary_key=True),
    Column("log_pk", ForeignKey("logs.id"), nullable=False),
    Column("tree_id", BigInteger, nullable=False),
    #: Virtual index of the shard's first leaf, once known.
    Column("first_virtual_index", BigInteger),
    Column("frozen", Boolean, default=False, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    UniqueConstraint("log_pk", "tree_id"),
)

# Every distinct (size, root) a shard has shown us, with one note that signed it.
checkpoints = Table(
    "checkpoints", metadata,
    Column("id", Integer, primary_key=True),
    Column("shard_pk", ForeignKey("shards.id"), index=True, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", String(64), nullable=False),
    Column("note", Text, nullable=False),
    Column("signature_ok", Boolean, nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    #: Proven (RFC 9162 consistency) to be a prefix of a larger stored checkpoint of the shard.
    #: The others are the tips of the history we saw: one for an honest log, several once it
    #: showed a split view. Every new checkpoint is checked against every tip.
    Column("extended", Boolean, default=False, server_default=false(), nullable=False),
    #: When the log last served it as its head (GET /log): its word that the tree had this
    #: size then. Null: seen only in an entry's proof or a receipt, which may be years old.
    Column("head_at", DateTime(timezone=True)),
    UniqueConstraint("shard_pk", "size", "root_hash"),
)

# A pinned endorser key for a component (stage0, kernel, ...).
component_keys = Table(
    "component_keys", metadata,
    Column("id", Integer, primary_key=True),
    Column("component", String(128), index=True, nullable=False),
    Column("key_sha256", String(64), index=True, nullable=False),
    Column("spki_der", LargeBinary, nullable=False),
    Column("source", String(1024), nullable=False),
    UniqueConstraint("component", "key_sha256"),
)

# A log entry: the response bytes as received plus the fields queries need.
entries = Table(
    "entries", metadata,
    Column("id", Integer, primary_key=True),
    Column("log_pk", ForeignKey("logs.id"), nullable=False),
    Column("leaf_hash", String(64), nullable=False),
    Column("uuid", String(80)),
    #: The component it belongs to: the one whose pinned key signed it, else the one under whose
    #: key the log listed it (a foreign entry listed under a pinned key is that key's problem).
    Column("component", String(128), index=True),
    #: Worth another look on the next crawl: its latest verification failed a check of what
    #: the log served (proof, checkpoint, signed timestamp: maybe a transient fault), or its
    #: statement could not be fetched yet.
    Column("recheck", Boolean, default=False, server_default=false(), index=True, nullable=False),
    Column("rekor_version", Integer, nullable=False),
    Column("tree_id", BigInteger),
    Column("log_index", BigInteger, index=True, nullable=False),
    Column("shard_index", BigInteger),
    Column("integrated_time", BigInteger),
    Column("kind", String(64), nullable=False),
    Column("api_version", String(32), nullable=False),
    #: sha256 the body signs (for Oak: of the statement).
    Column("signed_digest", String(64), index=True),
    Column("signer_key_sha256", String(64)),
    #: The document as received: a Rekor v1 response or a Sigstore bundle.
    Column("raw", LargeBinary, nullable=False),
    Column("raw_format", String(32), nullable=False),
    Column("checkpoint_pk", ForeignKey("checkpoints.id")),
    UniqueConstraint("log_pk", "leaf_hash"),
    Index("ix_entries_signer_time", "signer_key_sha256", "integrated_time"),
)

# A signed statement, logged (entry_pk set) or not, with its inline subject.
endorsements = Table(
    "endorsements", metadata,
    Column("id", Integer, primary_key=True),
    #: component, sha256(statement) and the entry's leaf hash (or "unlogged"): one row each.
    Column("dedup_key", String(300), nullable=False),
    Column("component", String(128), index=True),
    Column("entry_pk", ForeignKey("entries.id"), index=True),
    Column("statement", LargeBinary),
    Column("statement_sha256", String(64), index=True),
    Column("statement_format", String(32)),
    Column("signature", LargeBinary),
    Column("subject", LargeBinary),
    Column("subject_name", String(SUBJECT_NAME_CHARS)),
    Column("subject_sha256", String(64), index=True),
    Column("not_before", DateTime(timezone=True)),
    Column("not_after", DateTime(timezone=True)),
    Column("source", String(1024), nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    #: The entry's integratedTime (copied for ordering); NULL when not logged.
    Column("integrated_time", BigInteger),
    #: sha256 of the SPKI of the key whose signature verified (logged or not).
    Column("signer_key_sha256", String(64)),
    UniqueConstraint("dedup_key"),
    # `audit component NAME`: newest first, without sorting every endorsement of NAME.
    Index("ix_endorsements_component_time", "component", "integrated_time"),
)

# A receipt that an endorsement was made public, byte-exact as it travelled with it.
#
# Oak's SignedEndorsement carries up to three: a Rekor entry (kind `rekor`), a C2SP
# tlog-proof (`c2sp`) and a PES confirmation (`pes`); auditor.verify.receipts checks them.
# An endorsement row holds one set of receipts: a copy of the statement with other
# receipts is another row (see the endorsement's dedup_key).
receipts = Table(
    "receipts", metadata,
    Column("id", Integer, primary_key=True),
    Column("endorsement_pk", ForeignKey("endorsements.id"), index=True, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    UniqueConstraint("endorsement_pk", "kind", "sha256"),
)

# One run of the checks over an entry and/or endorsement.
verifications = Table(
    "verifications", metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_pk", ForeignKey("entries.id"), index=True),
    Column("endorsement_pk", ForeignKey("endorsements.id"), index=True),
    Column("ok", Boolean, nullable=False),
    Column("verified_at", DateTime(timezone=True), nullable=False),
    Column("tool_version", String(64), nullable=False),
)

#
check_results = Table(
    "check_results", metadata,
    Column("id", Integer, primary_key=True),
    Column("verification_pk", ForeignKey("verifications.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", String(64), nullable=False),
    #: True, False, or NULL when the check did not apply.
    Column("ok", Boolean),
    Column("detail", Text, nullable=False),
    UniqueConstraint("verification_pk", "name"),
)

# One crawl, reconciliation or scheduled run, with its outcome.
runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("started_at", DateTime(timezone=True), index=True, nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("complete", Boolean, default=False, nullable=False),
    Column("exit_code", Integer),
    #: The run's JSON summary (counts, requests, retries).
    Column("summary", Text, default="{}", nullable=False),
    Column("tool_version", String(64), nullable=False),
)

# A finding, one row per fingerprint, with when it was first and last seen.
findings = Table(
    "findings", metadata,
    Column("id", Integer, primary_key=True),
    Column("fingerprint", String(32), nullable=False),
    Column("rule", String(64), index=True, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("component", String(128), index=True),
    Column("release", String(256)),
    Column("detail", Text, nullable=False),
    #: JSON: entry UUIDs, log indexes, digests on both sides, checkpoints.
    Column("evidence", Text, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), index=True, nullable=False),
    Column("first_run_pk", ForeignKey("runs.id")),
    Column("last_run_pk", ForeignKey("runs.id"), index=True),
    UniqueConstraint("fingerprint"),
)

# Progress of a bounded range scan, so a killed scan resumes where it stopped.
scan_cursors = Table(
    "scan_cursors", metadata,
    Column("id", Integer, primary_key=True),
    Column("log_pk", ForeignKey("logs.id"), nullable=False),
    Column("from_index", BigInteger, nullable=False),
    Column("to_index", BigInteger, nullable=False),
    #: The next virtual index to inspect; advanced only after a batch is stored.
    Column("next_index", BigInteger, nullable=False),
    UniqueConstraint("log_pk", "from_index", "to_index"),
)

# Something a log did that a sound log never does, proven by what it signed.
#
# A split view, a rollback, a fork, a frozen shard that grew, a signed head whose unsigned
# fields disagree with it, a checkpoint that does not verify. Stored once per fingerprint and
# reported by every later run (a run never forgets what an earlier run proved) until an
# operator suppresses the finding.
log_faults = Table(
    "log_faults", metadata,
    Column("id", Integer, primary_key=True),
    Column("log_pk", ForeignKey("logs.id"), index=True),
    Column("tree_id", BigInteger),
    Column("rule", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    #: JSON: both checkpoints, sizes, the fields that disagreed.
    Column("evidence", Text, nullable=False),
    Column("identity", String(256), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    UniqueConstraint("fingerprint"),
)

# An entry the log listed under a component key that we have not been able to fetch.
#
# A log that withholds entries must not look complete: every run tries these again and stays
# incomplete (exit 3), naming them, until the log serves them.
pending_entries = Table(
    "pending_entries", metadata,
    Column("id", Integer, primary_key=True),
    Column("log_pk", ForeignKey("logs.id"), nullable=False),
    Column("uuid", String(80), nullable=False),
    Column("component", String(128)),
    Column("reason", Text, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_tried", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, default=1, nullable=False),
    UniqueConstraint("log_pk", "uuid"),
)

# A finding as one run reported it (suppressed or not), so reports stream from here.
run_findings = Table(
    "run_findings", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_pk", ForeignKey("runs.id"), index=True, nullable=False),
    Column("finding_pk", ForeignKey("findings.id"), nullable=False),
    #: JSON {"reason", "expires"} of the suppression that applied in this run, or NULL.
    Column("suppression", Text),
    #: The finding's detail and evidence (JSON) as this run saw them.
    Column("detail", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    UniqueConstraint("run_pk", "finding_pk"),
)

# The delivery ledger: one alert (a finding's fingerprint) on one alert channel.
#
# `state` is what the channel last received: `unsent` (never delivered: the last try
# failed), `open` (the "new" alert was delivered) or `resolved`. A claim (`claimed_by`,
# `claimed_at`) reserves the row for the run that is sending right now, so two hosts sharing
# the database never both send; it is cleared when the outcome is recorded, and a claim
# older than the lease (a run that died mid-send) may be taken over.
alert_deliveries = Table(
    "alert_deliveries", metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("state", String(16), index=True, nullable=False),
    #: Who is sending it now: host, process and run start (None when nobody is).
    Column("claimed_by", String(255)),
    Column("claimed_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("attempts", Integer, default=0, nullable=False),
    #: Why the last try failed (one line, no secrets); None once delivered.
    Column("last_error", Text),
    #: Where the alert lives on the channel, when it says (a GitHub issue URL).
    Column("reference", String(1024)),
    #: JSON of the "new" alert as sent: a later "resolved" message is worded from it.
    Column("alert", Text, nullable=False),
    UniqueConstraint("channel", "fingerprint"),
)

# A file of the publisher's content-addressed store (Oak's `oak-files`), by its SHA-256.
#
# Files are immutable: once served with bytes that hash to the name they are never fetched
# again. A store that served other bytes under the name is remembered (`altered`) and
# reported until an operator suppresses the finding, even if it later serves the right ones.
publisher_files = Table(
    "publisher_files", metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    #: The bytes, once served with the right hash; NULL while only altered bytes were.
    Column("content", LargeBinary),
    #: What the store served instead (`sha2-256:<hex>` of those bytes, or their size).
    Column("altered", String(80)),
    #: The files URL it was fetched from, and which link named it.
    Column("store", String(1024), nullable=False),
    Column("wanted_by", String(512), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    UniqueConstraint("sha256"),
)

# A link of the publisher's index as last served: `<links>/<type>/sha2-256:<source>`.
publisher_links = Table(
    "publisher_links", metadata,
    Column("id", Integer, primary_key=True),
    #: The links URL.
    Column("store", String(1024), nullable=False),
    Column("link_type", Integer, nullable=False),
    Column("source_sha256", String(64), nullable=False),
    #: The hashes it lists (hex, one per line, as served); empty when absent.
    Column("targets", Text, nullable=False),
    #: False: the index answered 404 (Oak reads that as an empty list).
    Column("present", Boolean, nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("store", "link_type", "source_sha256"),
)

# A key file of the publisher's store: the hash the index names the key by, and its key.
#
# Learned by following an endorsement's signature (link 14) to its key (16), from a keyset's
# list (22), by finding one of our keys' files in the store, or by applying the form the
# publisher stores keys in (PEM, DER) to a pinned key.
publisher_keys = Table(
    "publisher_keys", metadata,
    Column("id", Integer, primary_key=True),
    #: The links URL.
    Column("store", String(1024), nullable=False),
    Column("key_file_sha256", String(64), nullable=False),
    #: sha256 of the key's SPKI DER; NULL when the file is not a key (or not in the store).
    Column("spki_sha256", String(64), index=True),
    #: The encoding of the file, when one of ours reproduces its bytes ("pem", "der", ...).
    Column("form", String(16)),
    Column("learned", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    UniqueConstraint("store", "key_file_sha256"),
)

# An endorsement package the publisher's index lists under a key (link 21).
#
# `pending` until every piece has been served (the statement, its signature and key, and the
# receipts its links name), then verified once with the named checks and compared with the
# log; the outcome stays here as evidence.
published_packages = Table(
    "published_packages", metadata,
    Column("id", Integer, primary_key=True),
    #: The links URL.
    Column("store", String(1024), nullable=False),
    Column("endorsement_sha256", String(64), index=True, nullable=False),
    #: The key file hash it is listed under, and that key's component.
    Column("key_file_sha256", String(64), nullable=False),
    Column("component", String(128)),
    Column("signature_sha256", String(64)),
    Column("public_key_sha256", String(64)),
    Column("rekor_sha256", String(64)),
    Column("tlog_proof_sha256", String(64)),
    Column("pes_sha256", String(64)),
    Column("pending", Boolean, default=True, nullable=False),
    #: What the package lacks (a 404 file or link), while it does.
    Column("missing", Text),
    #: JSON [{name, ok, detail}]: the named checks of the package as published.
    Column("checks", Text),
    Column("ok", Boolean),
    #: The entry its Rekor receipt names, and how the log's own copy compares with it.
    Column("receipt_uuid", String(80)),
    Column("log_answer", String(16)),
    Column("log_detail", Text),
    Column("endorsement_pk", ForeignKey("endorsements.id")),
    Column("first_listed", DateTime(timezone=True), nullable=False),
    Column("verified_at", DateTime(timezone=True)),
    UniqueConstraint("store", "endorsement_sha256"),
)

# A range of a tiled log's entries, scanned for some pinned keys as one unit of work.
#
# Ranges are planned toward each trusted checkpoint's size, a bounded number at a time as the
# scan reaches them (and again from 0 for a key pinned later). A scanner claims one
# (`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL), and in that same transaction stores the
# entries it found under the keys and marks the range done:
# the scan position is committed with the entries it covers, a killed scan loses only its
# uncommitted range, and scanners on several hosts split a log without a coordinator.
tile_ranges = Table(
    "tile_ranges", metadata,
    Column("id", Integer, primary_key=True),
    Column("log_pk", ForeignKey("logs.id"), nullable=False),
    Column("start_index", BigInteger, nullable=False),
    Column("end_index", BigInteger, nullable=False),
    #: sha256 of the pinned keys (DER SPKI) looked for, sorted, comma-separated.
    Column("keys", Text, nullable=False),
    #: A catch-up range: keys pinned after the log was scanned this far, looked for again.
    Column("catch_up", Boolean, default=False, server_default=false(), nullable=False),
    Column("done", Boolean, default=False, server_default=false(), nullable=False),
    #: What the scan found: entries under the keys, entries that are no log entry we can read.
    Column("matches", Integer, default=0, server_default="0", nullable=False),
    Column("unparsable", Integer, default=0, server_default="0", nullable=False),
    #: The first unparsable entry of the range: "<index>: <reason>".
    Column("unparsable_sample", Text),
    Column("scanned_at", DateTime(timezone=True)),
    Index("ix_tile_ranges_log_pk_done", "log_pk", "done", "start_index"),
)

# A pinned key a tiled log's planned ranges look for (a key pinned later is caught up).
tile_scan_keys = Table(
    "tile_scan_keys", metadata,
    Column("id", Integer, primary_key=True),
    Column("log_pk", ForeignKey("logs.id"), nullable=False),
    Column("key_sha256", String(64), nullable=False),
    UniqueConstraint("log_pk", "key_sha256"),
)
