"""`audit crawl`: keep the database in step with the log for every component key.

One run: verify the log's heads against stored history; discover entries by component key
(the search index, a hint only), by the sha256 of new statements, from UUIDs and indexes the
user lists, and optionally by a bounded range scan that trusts no index; fetch each unknown
entry once, verify it, store it with its statement (one transaction per batch of at most 10);
bind every new entry's checkpoint to the head with a consistency proof. A failure of the log
ends the run as incomplete with everything verified so far kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from auditor.config import KeySet
from auditor.crawl.history import HeadReport, History, observe_heads, verified_checkpoint
from auditor.crawl.statements import StatementStore
from auditor.errors import IncompleteError
from auditor.findings import Finding, invalid_rule, unique
from auditor.source.rekor_client import RETRIEVE_LIMIT, RawEntry, RekorClient
from auditor.store import models
from auditor.store.repository import (
    EndorsementRecord,
    get_or_create,
    lock_log,
    log_row,
    store_verification,
)
from auditor.verify.body import BodyError, parse_body
from auditor.verify.entry import EndorsementMaterial, Verification, verify_entry
from auditor.verify.statement import StatementError, parse_statement
from auditor.verify.trust import LogKeyring

Progress = Callable[[str, int, int], None]
#: Findings that make a crawl exit 1: the log or an entry under a component key is not sound.
INTEGRITY_RULES = ("LOG_INCONSISTENT", "CHECKPOINT_INVALID", "ENTRY_INVALID", "WRONG_KEY",
                   "EXPIRED_AT_INTEGRATION")


@dataclass(frozen=True)
class CrawlRequest:
    uuids: tuple[str, ...] = ()
    log_indexes: tuple[int, ...] = ()
    from_index: int | None = None
    to_index: int | None = None


@dataclass
class CrawlSummary:
    new: int = 0
    verified: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    complete: bool = False
    incomplete_reason: str | None = None
    discovered: int = 0
    statements_unavailable: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def integrity_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.rule in INTEGRITY_RULES]

    def to_json(self) -> dict[str, Any]:
        return {
            "new": self.new,
            "verified": self.verified,
            "failed": self.failed,
            "requests": self.requests,
            "retries": self.retries,
            "complete": self.complete,
            "incomplete_reason": self.incomplete_reason,
            "discovered": self.discovered,
            "statements_unavailable": self.statements_unavailable,
            "index_is_a_hint": True,
            "findings": [f.to_json() for f in self.findings],
        }


def _chunks(items: list[Any], size: int = RETRIEVE_LIMIT) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Crawler:
    def __init__(self, sessions: sessionmaker[Session], client: RekorClient,
                 keyring: LogKeyring, keyset: KeySet, statements: StatementStore,
                 progress: Progress | None = None) -> None:
        self.sessions = sessions
        self.client = client
        self.keyring = keyring
        self.keyset = keyset
        self.statements = statements
        self.progress = progress or (lambda _stage, _done, _total: None)
        self.summary = CrawlSummary()
        self.heads = HeadReport()
        self._bound: set[tuple[int, str]] = set()

    # -- the run ----------------------------------------------------------------------------

    def run(self, request: CrawlRequest) -> CrawlSummary:
        try:
            self._heads()
            self._fetch_uuids(self._discover(request))
            if request.log_indexes:
                self._fetch_indexes(list(request.log_indexes), keep_all=True)
            if request.from_index is not None and request.to_index is not None:
                self._range_scan(request.from_index, request.to_index)
            self.summary.complete = True
        except IncompleteError as error:
            self.summary.incomplete_reason = error.diagnostics()
        finally:
            self.summary.requests = self.client.requests
            self.summary.retries = self.client.retries
            self.summary.findings = unique(self.summary.findings)
        return self.summary

    def _heads(self) -> None:
        with self.sessions.begin() as session:
            # Lock the pinned logs' rows BEFORE asking for the head: a concurrent crawler that
            # stores a newer head first must not make ours look like a rollback.
            pinned = [key.log_id.hex() for key in self.keyring.keys]
            for log in session.scalars(select(models.Log).where(models.Log.log_id.in_(pinned))):
                lock_log(session, log)
            self.heads = observe_heads(session, self.client, self.keyring,
                                       lambda key: log_row(session, key.log_id, key))
            self.log_pk = self.heads.log.id if self.heads.log else None
        self.summary.findings.extend(self.heads.findings)

    # -- discovery ----------------------------------------------------------------------------

    def _known_leaves(self, session: Session) -> set[str]:
        return set(session.scalars(select(models.Entry.leaf_hash).where(
            models.Entry.log_pk == self.log_pk)))

    def _discover(self, request: CrawlRequest) -> list[str]:
        """UUIDs to fetch: by component key, by new statements' hash, and listed by the user."""
        found: dict[str, None] = {}
        keys = self.keyset.all_keys()
        for done, (_, key) in enumerate(keys):
            self.progress("searching the index by component key", done, len(keys))
            for uuid in self.client.search_public_key(key.to_pem().encode()):
                found[uuid] = None
        for digest in self._unsearched_statement_hashes():
            for uuid in self.client.search_hash(digest):
                found[uuid] = None
        for uuid in request.uuids:
            found[uuid.lower()] = None
        with self.sessions() as session:
            known = self._known_leaves(session)
        self.summary.discovered = len(found)
        return [u for u in found if u[-64:] not in known]

    def _unsearched_statement_hashes(self) -> list[str]:
        """Statements we hold but whose entries we do not: they may have been logged since.

        Searching every known statement on every run would make a no-op rerun cost a request
        per statement; statements already matched to an entry are not searched again.
        """
        with self.sessions() as session:
            logged = set(session.scalars(select(models.Entry.signed_digest).where(
                models.Entry.signed_digest.is_not(None))))
            held = set(session.scalars(select(models.Endorsement.statement_sha256).where(
                models.Endorsement.statement_sha256.is_not(None))))
        return sorted(h for h in held - logged if h)

    # -- fetching and storing -----------------------------------------------------------------

    def _fetch_uuids(self, uuids: list[str]) -> None:
        total = len(uuids)
        for done, batch in enumerate(_chunks(uuids)):
            self.progress("fetching new entries", done * RETRIEVE_LIMIT, total)
            result = self.client.retrieve(uuids=batch)
            self._store_batch(list(result.by_uuid.values()), keep_all=True)

    def _fetch_indexes(self, indexes: list[int], keep_all: bool) -> None:
        for batch in _chunks(indexes):
            result = self.client.retrieve(indexes=batch)
            self._store_batch(list(result.by_index.values()), keep_all=keep_all)

    def _range_scan(self, first: int, last: int) -> None:
        """Inspect every entry in [first, last]: keep those signed by a component key."""
        with self.sessions.begin() as session:
            cursor, _ = get_or_create(session, models.ScanCursor,
                                      {"log_pk": self.log_pk, "from_index": first,
                                       "to_index": last}, next_index=first)
            start = cursor.next_index
        for batch_start in range(start, last + 1, RETRIEVE_LIMIT):
            batch = list(range(batch_start, min(batch_start + RETRIEVE_LIMIT, last + 1)))
            self.progress("range scan", batch_start - first, last - first + 1)
            result = self.client.retrieve(indexes=batch)
            self._store_batch(list(result.by_index.values()), keep_all=False,
                              cursor=(first, last, batch[-1] + 1))

    def _store_batch(self, raws: list[RawEntry], keep_all: bool,
                     cursor: tuple[int, int, int] | None = None) -> None:
        """Verify and store a batch in ONE transaction; the scan cursor moves with it."""
        prepared = []
        for raw in raws:
            component, pinned = self.keyset.signer_component(raw.entry.body)
            if not keep_all and not pinned:
                continue
            prepared.append(self._verify(raw, component, pinned))
        with self.sessions.begin() as session:
            for raw, component, verification, record in prepared:
                item = store_verification(session, verification, record, raw=raw.raw,
                                          raw_format="rekor-v1", log_key=self.heads.log_key)
                self._bind_checkpoint(session, raw, verification)
                if item.entry_new:
                    self._count(verification, raw, component)
            if cursor is not None:
                self._advance(session, cursor)

    def _verify(self, raw: RawEntry, component: str | None,
                pinned: bool) -> tuple[RawEntry, str | None, Verification, EndorsementRecord]:
        statement = signature = subject = None
        try:
            body = parse_body(raw.entry.body)
            statement = self.statements.fetch(body.digest.hex())
            signature = body.signature
        except BodyError:
            body = None
        if statement is not None:
            subject = self._inline_subject(statement)
        material = EndorsementMaterial(artifact=statement, subject=subject,
                                       endorser_keys=self.keyset.keys_for(component),
                                       required_claims=self.keyset.claims_for(component))
        verification = verify_entry(raw.entry, self.keyring, material)
        record = EndorsementRecord(component, statement, signature if statement else None,
                                   subject, f"{self.client.base_url} {raw.uuid}")
        if body is not None and statement is None:
            self.summary.statements_unavailable += 1
            # Component None: the entry alone (no statement) is what the store keeps of it.
            self.summary.findings.append(Finding(
                "STATEMENT_UNAVAILABLE", None, f"entry {raw.uuid} (log index "
                f"{raw.entry.log_index}) signs statement sha256:{body.digest.hex()}, whose "
                "bytes are not in the store", {"uuid": raw.uuid, "log_index": raw.entry.log_index,
                                               "statement_sha256": body.digest.hex(),
                                               "signer_component": component},
                identity=("uuid",)))
        if body is not None and not pinned:
            self.summary.findings.append(Finding(
                "WRONG_KEY", component, f"entry {raw.uuid} is signed by key "
                f"sha256:{body.key.key_id.hex()}, which no component pins",
                {"uuid": raw.uuid, "log_index": raw.entry.log_index,
                 "key_sha256": body.key.key_id.hex()}, identity=("uuid",)))
        return raw, component, verification, record

    def _inline_subject(self, statement: bytes) -> bytes | None:
        try:
            parsed = parse_statement(statement)
        except StatementError:
            return None
        digest = parsed.subject.digests.get("sha256") if parsed.subject else None
        return self.statements.fetch(digest) if digest else None

    def _count(self, verification: Verification, raw: RawEntry, component: str | None) -> None:
        self.summary.new += 1
        if verification.ok:
            self.summary.verified += 1
            return
        self.summary.failed += 1
        names = [c.name for c in verification.failures]
        rule = invalid_rule(names, logged=True)
        body = verification.body
        self.summary.findings.append(Finding(
            rule, component, f"entry {raw.uuid} (log index {raw.entry.log_index}) failed: "
            f"{', '.join(names)}",
            {"uuid": raw.uuid, "log_index": raw.entry.log_index, "failed_checks": names,
             "statement_sha256": body.digest.hex() if body else None,
             "details": {c.name: c.detail for c in verification.failures}},
            identity=("uuid", "statement_sha256")))

    def _bind_checkpoint(self, session: Session, raw: RawEntry,
                         verification: Verification) -> None:
        """Bind the entry's checkpoint to the stored history of its tree."""
        proof, tree_id = raw.entry.proof, raw.entry.tree_id
        if proof is None or proof.checkpoint is None or tree_id is None or self.heads.log is None:
            return
        if verification.check("checkpoint_signature").ok is not True:
            return  # an unverified checkpoint proves nothing either way; ENTRY_INVALID says so
        if (tree_id, proof.checkpoint) in self._bound:
            return  # entries fetched together share their checkpoint: bind it once
        result = verified_checkpoint(proof.checkpoint, self.keyring)
        if isinstance(result, str):
            return
        self._bound.add((tree_id, proof.checkpoint))
        history = History(session, self.client, self.heads.log)
        self.summary.findings.extend(history.observe(tree_id, result[0]))

    def _advance(self, session: Session, cursor: tuple[int, int, int]) -> None:
        first, last, next_index = cursor
        row = session.scalar(select(models.ScanCursor).where(
            models.ScanCursor.log_pk == self.log_pk, models.ScanCursor.from_index == first,
            models.ScanCursor.to_index == last))
        if row is not None:
            row.next_index = max(row.next_index, next_index)
