"""Following a tiled transparency log (C2SP tlog-tiles): Rekor v2 shards and Tessera logs.

One crawl, in the model of the Rekor v1 source (`crawl.rekor_v1`):

1. Under the log's row lock, read its checkpoint and trust it only when the log's key signed
   it under the log's name (C2SP tlog-checkpoint) and, with a C2SP tlog-policy, the policy's
   witness quorum cosigned it. Otherwise it is a stored `CHECKPOINT_INVALID` or
   `UNWITNESSED_CHECKPOINT` fault, and nothing is read from it. A trusted checkpoint is held
   against every stored tip of the log's history (`crawl.history.History`), consistency
   computed from the new tree's tiles; a rollback, fork or split view is `LOG_INCONSISTENT`
   with both checkpoints, and the scan stops there.
2. Plan ranges of entries up to its size (and from the start for keys pinned since), then claim
   them one at a time (`store.tile_scan`): every bundle of a range is verified against the
   checkpoint before it is read (`source.tiles.Scanner`), its entries under pinned keys are
   verified with the named checks (`crawl.ingest`; judged at first sight, as Rekor v2 records
   no integration time) and stored in the transaction that marks the range done. A tile or
   bundle that does not hash to the signed root is a `CHECKPOINT_INVALID` fault naming it,
   and nothing of its range is stored.
3. Entries whose statement was missing are verified again from their stored documents.

A no-op rescan is one checkpoint request: an unchanged checkpoint needs no consistency tile,
and no range is open.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NoReturn

from cryptography.hazmat.primitives.asymmetric import ed25519
from pyroaring import BitMap64
from sqlalchemy.orm import Session

from auditor.crawl.heap import fewer_collections
from auditor.crawl.history import History, TreeState, keep_unproven
from auditor.crawl.ingest import Fetched, Ingest, Prepared, count, crawl_findings
from auditor.crawl.interface import CrawlJob, LogSource
from auditor.crawl.summary import CrawlSummary
from auditor.errors import ConfigError, IncompleteError, InputError
from auditor.findings import Finding, RuleId, unique
from auditor.http_client import HttpClient
from auditor.source.entry import TILED_TREE_ID
from auditor.source.tiles import (
    CheckpointRejectedError,
    KeyMatcher,
    LogKeyVerifier,
    Scanner,
    TileClient,
    TileFormatError,
    TileMismatchError,
)
from auditor.source.tiles.document import (
    RAW_FORMAT,
    entry_document,
    log_entry,
    parse_entry_document,
)
from auditor.source.tiles.layout import TILE_WIDTH
from auditor.source.tiles.scanner import ScanBatch
from auditor.store import crawl_state, models, tile_scan
from auditor.store import history as stored_history
from auditor.store.repository import log_row
from auditor.verify.checkpoint import Checkpoint
from auditor.verify.keys import PublicKey
from auditor.verify.note_keys import NoteKey, SignatureType
from auditor.verify.policy import Policy, evaluate_checkpoint
from auditor.verify.trust import LogKey, LogKeyring, c2sp_key_id

#: Entries per claimed range (64 bundles): the unit scanners split a log into, and the most a
#: killed scan reads again.
DEFAULT_SCAN_RANGE = 64 * TILE_WIDTH
#: The most ranges planned at once (16.7 million entries at the default range): a checkpoint's
#: size is the log's word, and a hostile one (2^40 entries more) made one transaction insert a
#: row per range up to it (67 million; 2^49 for a size of 2^63 - 1). Ranges past them are
#: planned when the scan gets there.
PLAN_AHEAD = 1024
#: The most of a hostile checkpoint kept as evidence.
_EVIDENCE_TEXT = 4096


def log_key_of(key: NoteKey) -> LogKey:
    """A tiled log's checkpoint key (signed-note Ed25519) as a pinned log key: its key ID
    (C2SP signed-note) is the log ID Rekor v2 entries carry in Sigstore bundles."""
    if key.signature_type is not SignatureType.ED25519:
        raise ConfigError(f"log verifier {key.name}: a tiled log's checkpoints are checked "
                          f"with an Ed25519 (0x01) key, not {key.signature_type.label}")
    crypto = ed25519.Ed25519PublicKey.from_public_bytes(key.public_key)
    return LogKey(PublicKey.from_crypto(crypto), c2sp_key_id(key.name, crypto), name=key.name)


@dataclass(frozen=True)
class TiledLogSpec:
    """One tiled log to follow: where, under which key, with which witnesses."""

    #: The tlog-tiles prefix: `<url>/checkpoint`, `<url>/tile/...`.
    url: str
    #: Ed25519, named after the log's origin; its validity window is the shard's.
    log_key: LogKey
    policy: Policy | None = None
    #: A retired Rekor v2 shard: frozen, scanned to its final size once, then left alone.
    retired: bool = False
    scan_range: int = DEFAULT_SCAN_RANGE

    def __post_init__(self) -> None:
        if self.log_key.name is None or not self.log_key.is_ed25519:
            raise ConfigError(f"tiled log {self.url}: the log key must be Ed25519 and named")
        if self.scan_range < 1 or self.scan_range % TILE_WIDTH:
            raise ConfigError(f"tiled log {self.url}: scan_range must be a positive multiple "
                              f"of {TILE_WIDTH}, not {self.scan_range}")
        if self.policy is not None and not any(
                k.name == self.origin and k.public_key == self.ed25519_key.public_bytes_raw()
                for k in self.policy.log_keys):
            # tlog-policy: the log's signature is one the policy names; a policy for another
            # key would make every checkpoint "unwitnessed" for the wrong reason.
            raise ConfigError(f"tiled log {self.url}: its witness policy names no log key "
                              f"equal to the log verifier {self.origin}")

    @property
    def origin(self) -> str:
        assert self.log_key.name is not None
        return self.log_key.name

    @property
    def ed25519_key(self) -> ed25519.Ed25519PublicKey:
        crypto = self.log_key.key.crypto
        assert isinstance(crypto, ed25519.Ed25519PublicKey)
        return crypto


class TiledLogSource(LogSource):
    #: Scanners split a tiled log's ranges through the database: several may run at once.
    concurrent = True

    def __init__(self, spec: TiledLogSpec, client: TileClient,
                 http: HttpClient | None = None) -> None:
        self.spec = spec
        self.client = client
        self.http = http
        self.name = spec.url

    def crawl(self, job: CrawlJob) -> CrawlSummary:
        with fewer_collections():  # see auditor.crawl.heap
            return TiledCrawl(self, job).run()

    def close(self) -> None:
        if self.http is not None:
            self.http.close()  # first: the tiles still being fetched end at their next attempt
        self.client.close()

    def traffic(self) -> tuple[int, int]:
        """(requests, retries) so far: the HTTP client's, or the tile client's fetches."""
        if self.http is not None:
            return self.http.stats.requests, self.http.stats.retries
        return sum(self.client.requests.values()), 0


class _Stop(Exception):
    """The scan cannot go on from this checkpoint (the reason is in the summary)."""


class TiledCrawl:
    def __init__(self, source: TiledLogSource, job: CrawlJob) -> None:
        self.source = source
        self.spec = source.spec
        self.client = source.client
        self.job = job
        # Entries of a retired shard are judged under its key without the end of its window:
        # the shard is frozen (growth is a fault), so every entry in it was logged before.
        key = replace(self.spec.log_key, valid_until=None) if self.spec.retired \
            else self.spec.log_key
        self.ingest = Ingest(job, LogKeyring((key,), source=f"tiled log {self.spec.url}"))
        #: The pinned keys by sha256 of their DER SPKI (what `KeyMatcher` reports).
        self.pinned = {k.key_id.hex(): k for _, k in job.keyset.all_keys()}
        self._matchers: dict[str, KeyMatcher | None] = {}
        self.scanner = Scanner(self.client, KeyMatcher([]))
        self.summary = CrawlSummary(source=self.spec.url)
        self.log: models.Log | None = None
        self.checkpoint: Checkpoint | None = None
        #: The row ids of the entries the scan stored (`Ingest.settled`: compact).
        self._touched = BitMap64()
        self._findings: list[Finding] = []

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> CrawlSummary:
        requests, retries = self.source.traffic()
        try:
            if self._finished():
                self.summary.complete = True
                return self.summary
            checkpoint = self._head()
            self._scan(checkpoint)
            self._recheck()
            self.summary.complete = True
        except _Stop as stop:
            self.summary.fail(str(stop))
        except IncompleteError as error:
            self.summary.fail(error.diagnostics())
        finally:
            now_requests, now_retries = self.source.traffic()
            self.summary.requests = now_requests - requests
            self.summary.retries = now_retries - retries
            self.summary.findings = unique(self._findings + crawl_findings(
                self.job, self.spec.log_key.log_id.hex(), self._touched - self.ingest.settled))
        return self.summary

    def _finished(self) -> bool:
        """A retired shard already scanned to its final size for every key: nothing to read
        (its log may be gone; asking for its checkpoint would make every run incomplete)."""
        if not self.spec.retired:
            return False
        with self.job.sessions() as session:
            self.log = tile_scan.finished_frozen(session, self.spec.log_key.log_id.hex(),
                                                 set(self.pinned))
        return self.log is not None

    # -- the checkpoint ---------------------------------------------------------------------

    def _head(self) -> Checkpoint:
        """The log's trusted checkpoint, held against its history, with ranges planned to it."""
        try:
            # Lock the log's row BEFORE asking for its checkpoint: a concurrent scanner that
            # stores a newer one first must not make ours look like a rollback.
            with self._locked_log() as session:
                tile_scan.set_url(self._log(), self.spec.url)
                checkpoint = self.checkpoint = self._trusted(session)
                if checkpoint is not None:
                    history = History(session, self._log(), self._prove)
                    found = history.observe(TILED_TREE_ID, checkpoint, head=True,
                                            frozen=self.spec.retired)
                    self._findings.extend(found)
                    if not found:
                        self._plan(session, checkpoint)
        except (TileMismatchError, TileFormatError) as error:
            # The new tree's tiles, read to prove it extends the stored one, do not hash to
            # its root: nothing from it was stored.
            assert self.checkpoint is not None
            self._tile_fault(error, self.checkpoint)
        except IncompleteError:
            if self.checkpoint is not None:  # trusted, but the tiles proving it were not served
                with self._locked_log() as session:
                    keep_unproven(session, self._log(), [(TILED_TREE_ID, self.checkpoint)])
            raise
        if checkpoint is None:
            raise _Stop(f"the checkpoint of {self.spec.origin} is not trusted; nothing was read")
        if self._findings:
            raise _Stop(f"the checkpoint of {self.spec.origin} (size {checkpoint.size}) "
                        "contradicts the log's history; nothing was read from it")
        return checkpoint

    def _trusted(self, session: Session) -> Checkpoint | None:
        """The log's checkpoint if the log key and the witness policy accept it; else a stored
        fault."""
        text, verdict = "", None
        try:
            text = self.client.checkpoint()
            checkpoint = LogKeyVerifier(self.spec.origin, self.spec.ed25519_key)(text)
            if self.spec.policy is not None:
                verdict = evaluate_checkpoint(self.spec.policy, checkpoint)
                if verdict.rejection is not None:  # a policy witness's line does not verify
                    raise CheckpointRejectedError(verdict.rejection)
        # Not text, malformed, another origin, no log signature, a policy witness's bad line.
        except InputError as error:
            self._fault(session, Finding(
                RuleId.CHECKPOINT_INVALID, None, f"checkpoint of {self.spec.origin}: {error}",
                self._evidence("checkpoint_signature", checkpoint=text[:_EVIDENCE_TEXT],
                               checkpoint_sha256=hashlib.sha256(text.encode()).hexdigest(),
                               problem=str(error)),
                identity=("tree_id", "kind", "url", "checkpoint_sha256")))
            return None
        if verdict is None or verdict.ok:
            return checkpoint
        why = verdict.log_detail if verdict.log_key is None else verdict.quorum_detail
        self._fault(session, Finding(
            RuleId.UNWITNESSED_CHECKPOINT, None, f"checkpoint of {self.spec.origin} at size "
            f"{checkpoint.size} is not trusted: {why}",
            self._evidence("unwitnessed", **_at(checkpoint), log_signature=verdict.log_detail,
                           quorum=verdict.quorum_detail, witnesses=[
                               {"name": o.witness.name, "key": o.witness.key.vkey,
                                "status": o.status.value, "detail": o.detail}
                               for o in verdict.witnesses]),
            identity=("tree_id", "kind", "url", "checkpoint_size", "checkpoint_root")))
        return None

    def _prove(self, _tree_id: int, smaller: TreeState, larger: TreeState) -> str | None:
        """RFC 9162 §2.1.4: the larger tree's tiles, verified against its root, give the root of
        the smaller size; a tiled log serves no proof endpoint."""
        assert self.checkpoint is not None and larger.size == self.checkpoint.size
        root = self.scanner.tree(self.checkpoint).root_at(smaller.size)
        if root == smaller.root_hash:
            return None
        return (f"the tiles of the tree of size {larger.size} give root {root.hex()} for size "
                f"{smaller.size}, where the stored checkpoint signed {smaller.root_hash.hex()}")

    def _plan(self, session: Session, checkpoint: Checkpoint) -> None:
        """Ranges toward the checkpoint for every pinned key, and from the start for new keys
        (as many as were planned before: each was planned `PLAN_AHEAD` at a time)."""
        log = self._log()
        enrolled = tile_scan.enrolled_keys(session, log)
        tile_scan.withdraw(session, log, enrolled - set(self.pinned))
        new = set(self.pinned) - enrolled
        planned = tile_scan.frontier(session, log)
        if new and planned:
            tile_scan.plan(session, log, 0, planned, self.spec.scan_range,
                           tile_scan.key_list(new), catch_up=True)
        tile_scan.enrol(session, log, new)
        self._plan_ahead(session, checkpoint)

    def _plan_ahead(self, session: Session, checkpoint: Checkpoint) -> bool:
        """Plan the next `PLAN_AHEAD` ranges toward the checkpoint, under the log's lock;
        False if every entry up to it is planned."""
        log = self._log()
        planned = tile_scan.frontier(session, log)
        if planned >= checkpoint.size:
            return False
        tile_scan.plan(session, log, planned, checkpoint.size, self.spec.scan_range,
                       tile_scan.key_list(self.pinned), most=PLAN_AHEAD)
        return True

    # -- faults -----------------------------------------------------------------------------

    def _evidence(self, kind: str, **extra: Any) -> dict[str, Any]:
        return {"tree_id": TILED_TREE_ID, "kind": kind, "url": self.spec.url,
                "origin": self.spec.origin, **extra}

    def _fault(self, session: Session, finding: Finding) -> None:
        stored_history.record_fault(session, self.log, TILED_TREE_ID, finding.evidence["kind"],
                                    finding)
        self._findings.append(finding)

    def _tile_fault(self, error: InputError, checkpoint: Checkpoint) -> NoReturn:
        """A tile or bundle that does not hash to (or parse under) the signed root, named."""
        kind = "tile_mismatch" if isinstance(error, TileMismatchError) else "tile_format"
        finding = Finding(
            RuleId.CHECKPOINT_INVALID, None, f"{self.spec.url}: {error}",
            self._evidence(kind, **_at(checkpoint), problem=str(error)),
            identity=("tree_id", "kind", "url", "checkpoint_size", "checkpoint_root", "problem"))
        with self._locked_log() as session:
            self._fault(session, finding)
        raise _Stop(f"{self.spec.url}: a tile does not verify against the checkpoint of size "
                    f"{checkpoint.size}; the scan stopped there")

    @contextmanager
    def _locked_log(self) -> Iterator[Session]:
        """A transaction holding the log's row (`self.log`) locked to its end, read anew: one
        read by a transaction that rolled back (the checkpoint did not come, a consistency
        tile did not verify) is expired and detached, and one it created is gone."""
        with self.job.sessions.begin() as session:
            self.log = log_row(session, self.spec.log_key.log_id, self.spec.log_key)
            yield session

    def _log(self) -> models.Log:
        assert self.log is not None
        return self.log

    # -- scanning -----------------------------------------------------------------------------

    def _scan(self, checkpoint: Checkpoint) -> None:
        """Claim and scan open ranges until none is left, ours or another scanner's, planning
        more until the checkpoint's size is reached."""
        log_pk = self._log().id
        while True:
            try:
                with self.job.sessions.begin() as session:
                    claimed = tile_scan.claim(session, log_pk, checkpoint.size) or \
                        tile_scan.claim(session, log_pk, checkpoint.size, wait=True)
                    if claimed is None:
                        if tile_scan.open_ranges(session, log_pk, checkpoint.size):
                            continue  # PostgreSQL: a waited-for row went away under LIMIT 1
                    else:
                        self._scan_range(session, checkpoint, claimed)
                        continue
            except (TileMismatchError, TileFormatError) as error:
                self._tile_fault(error, checkpoint)
            # The log's row is locked first, like every writer's (repository.lock_log).
            with self._locked_log() as session:
                if not self._plan_ahead(session, checkpoint):
                    return

    def _scan_range(self, session: Session, checkpoint: Checkpoint,
                    claimed: models.TileRange) -> None:
        """Read one claimed range and store what its keys signed, in the claim's transaction."""
        matcher = self._matcher(claimed.keys)
        prepared: list[Prepared] = []
        scanned, unparsable, sample = 0, 0, None
        if matcher is not None:
            seen_at = datetime.now(UTC)
            for batch in self._batches(checkpoint, claimed, matcher):
                prepared.extend(self._prepare(batch, seen_at))
                scanned += batch.scanned
                unparsable += len(batch.unparsable)
                if sample is None and batch.unparsable:
                    first = batch.unparsable[0]
                    sample = f"{first.index}: {first.reason}"
        stored = self.ingest.store_all(session, prepared)
        for item, result in zip(prepared, stored, strict=True):
            count(self.summary, item, result.entry_new, again=False)
        tile_scan.finish(session, claimed, len(prepared), unparsable, sample)
        # Every entry is stored under this log's row: its log id is the log key's.
        self._touched.update(r.entry_id for r in stored if r.entry_id is not None)
        # Counted with the range: a range that fails midway is read again, not scanned.
        self.summary.scanned += scanned
        self.summary.discovered += len(prepared)
        self.summary.unparsable += unparsable

    def _batches(self, checkpoint: Checkpoint, claimed: models.TileRange,
                 matcher: KeyMatcher) -> Iterator[ScanBatch]:
        self.scanner.matcher = matcher
        total = checkpoint.size
        # closing(): a failure mid-range cancels the bundles still being fetched.
        with closing(self.scanner.scan(checkpoint, claimed.start_index,
                                       claimed.end_index)) as batches:
            for batch in batches:
                self.job.progress(f"scanning {self.spec.origin}", batch.end, total)
                yield batch

    def _matcher(self, keys: str) -> KeyMatcher | None:
        """The matcher for a range's keys that are still pinned (None: none is)."""
        if keys not in self._matchers:
            wanted = [self.pinned[k] for k in keys.split(",") if k in self.pinned]
            self._matchers[keys] = KeyMatcher(k.spki_der for k in wanted) if wanted else None
        return self._matchers[keys]

    def _prepare(self, batch: ScanBatch, seen_at: datetime) -> list[Prepared]:
        log_id = self.spec.log_key.log_id
        fetched = []
        for match in batch.matches:
            components = {c for digest in match.key_sha256
                          for c in self.job.keyset.components_of(self.pinned[digest.hex()])}
            fetched.append(Fetched(log_entry(match.index, match.entry, match.proof, log_id),
                                   entry_document(match, self.spec.origin), RAW_FORMAT,
                                   f"{self.spec.url} {match.index}",
                                   components.pop() if len(components) == 1 else None, seen_at))
        return self.ingest.prepare_all(fetched)

    # -- entries to look at again -------------------------------------------------------------

    def _recheck(self) -> None:
        """Entries whose statement was missing (or whose checks failed on what was served) are
        verified again from their stored documents, at the time they were first seen."""
        log_pk = self._log().id
        with self.job.sessions() as session:
            marked = [row for row in crawl_state.entries_to_recheck(session, log_pk)
                      if row.raw_format == RAW_FORMAT and row.id not in self._touched]
            seen = tile_scan.first_seen(session, [row.id for row in marked])
        if not marked:
            return
        log_id = self.spec.log_key.log_id
        fetched = [Fetched(parse_entry_document(row.raw, log_id, f"stored entry {row.leaf_hash}"),
                           row.raw, RAW_FORMAT, f"{self.spec.url} {row.log_index}", row.component,
                           seen.get(row.id)) for row in marked]
        prepared = self.ingest.prepare_all(fetched)
        with self.job.sessions.begin() as session:
            self.ingest.store_all(session, prepared, again=True)
            for item in prepared:
                count(self.summary, item, new=False, again=True)
        self._touched.update(row.id for row in marked)


def _at(checkpoint: Checkpoint) -> dict[str, Any]:
    """A checkpoint as evidence: the signed note, its size and root."""
    return {"checkpoint": checkpoint.raw[:_EVIDENCE_TEXT], "checkpoint_size": checkpoint.size,
            "checkpoint_root": checkpoint.root_hash.hex()}
