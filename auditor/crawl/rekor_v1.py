"""Following a Rekor v1 log (sigstore/rekor `openapi.yaml`): signed heads, search index, entries.

One crawl: verify the log's heads against the stored history of each tree, identified by the
tree id in each head's **signed** origin (`<host> - <treeID>`): the unsigned `treeID`,
`treeSize` and `rootHash` beside it only have to agree with it, and a disagreement is itself a
`CHECKPOINT_INVALID` fault. Then discover entries by component key (the search index, a hint
only), by the sha256 of statements held but not seen logged, from UUIDs and indexes the user
lists, from entries an earlier run could not fetch, and optionally by a bounded range scan that
trusts no index. Every discovered entry is fetched or the crawl is incomplete and names it (a
log that withholds entries never looks complete). Entries whose last verification failed on
what the log served, or whose statement was missing, are looked at again. Each new entry's
checkpoint is bound to the history with consistency proofs.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from pyroaring import BitMap64
from sqlalchemy.orm import Session

from auditor.crawl.heap import fewer_collections
from auditor.crawl.history import (
    History,
    Prover,
    TreeState,
    keep_unproven,
    verified_checkpoint,
)
from auditor.crawl.ingest import Fetched, Ingest, Prepared, count, crawl_findings
from auditor.crawl.interface import CrawlJob, LogSource
from auditor.crawl.listing import Listed, Listing
from auditor.crawl.placement import ShardOffsets
from auditor.crawl.signed_time import dated_back, from_the_future
from auditor.crawl.store_behind import StoreBehind
from auditor.crawl.summary import CrawlSummary
from auditor.errors import IncompleteError
from auditor.findings import Finding, RuleId, unique
from auditor.http_client import HttpRefused
from auditor.prefetch import prefetched
from auditor.source.rekor_client import (
    RETRIEVE_LIMIT,
    ConflictingAnswersError,
    MalformedResponseError,
    RawEntry,
    RekorClient,
    ShardHead,
)
from auditor.store import crawl_state, models, repository
from auditor.store import history as stored_history
from auditor.store.database import works_apart
from auditor.store.repository import lock_log, log_row
from auditor.verify.checkpoint import Checkpoint, origin_tree_id
from auditor.verify.entry import Verification, failed, with_check
from auditor.verify.merkle import ProofError, leaf_hash, verify_consistency
from auditor.verify.trust import LogKey, LogKeyring
from auditor.verify_ahead import WORKER_FROM, VerifyAhead
from auditor.wording import counted, first_of

T = TypeVar("T")
R = TypeVar("R")

#: Entries stored per transaction, at most. A crawl's first batches are smaller (one retrieve,
#: then twice as many each time), so it stores something at once and a killed crawl keeps it;
#: later ones share each transaction's fixed cost (measured with scripts/bench_ingest.py).
STORE_BATCH = 500
#: Retrieve requests in flight at once, while the batches before are verified and stored. Each
#: waits for the client's rate limit, so as many run at once as the rate and the log's latency
#: make (Little's law: R requests/s answered in L s keep R x L in flight): 8 keep a log 100 ms
#: away busy up to 80 requests/s (the default rate is 4). A loopback log answers faster than
#: the crawl uses its answers, and RETRIEVE_HELD bounds how far ahead they run.
RETRIEVE_AHEAD = 8
#: Retrieve answers held ahead of their use: the next store batch is fetched while this one is
#: stored.
RETRIEVE_HELD = STORE_BATCH // RETRIEVE_LIMIT
#: Why the log's answer is not the entry asked for, said for this many indexes at most.
_REASONS_SHOWN = 5


def _chunks(items: Sequence[T], size: int = RETRIEVE_LIMIT) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def signed_tree_id(checkpoint: Checkpoint) -> int | None:
    """The tree id a Rekor v1 checkpoint's origin signs (`<host> - <treeID>`)."""
    return origin_tree_id(checkpoint.origin)


def consistency_prover(client: RekorClient) -> Prover:
    """Consistency between two stored states of a tree, as the log proves it (RFC 9162
    §2.1.4.2); a log that will not prove it has no proof."""
    def prove(tree_id: int, smaller: TreeState, larger: TreeState) -> str | None:
        try:
            proof = client.consistency_proof(smaller.size, larger.size, tree_id)
        except HttpRefused as refused:
            return f"the log refused the consistency proof ({refused.diagnostics()})"
        try:
            verify_consistency(smaller.size, larger.size, smaller.root_hash, larger.root_hash,
                               proof.hashes)
        except ProofError as error:
            return str(error)
        return None
    return prove


def conflicting_answers(key: int | str, answers: tuple[RawEntry, RawEntry]) -> Finding:
    """LOG_INCONSISTENT: the log answered `key` (an index, or an entry UUID) with two different
    entries at once."""
    hashes = [leaf_hash(raw.entry.body).hex() for raw in answers]
    described = [{"uuid": raw.uuid, "leaf_hash": leaf,
                  "document_sha256": hashlib.sha256(raw.raw).hexdigest(),
                  "log_index": raw.entry.log_index,
                  "integrated_time": raw.entry.integrated_time}
                 for raw, leaf in zip(answers, hashes, strict=True)]
    leaves = sorted(hashes)
    named = " and ".join(f"leaf hash {answer['leaf_hash']} (document sha256 "
                         f"{answer['document_sha256']})" for answer in described)
    asked = ("log_index", f"index {key}") if isinstance(key, int) else ("uuid", f"entry {key}")
    return Finding(
        RuleId.LOG_INCONSISTENT, None, f"the log answered {asked[1]} with two different "
        f"entries: {named}",
        {"tree_id": None, "kind": "conflicting_answers", asked[0]: key,
         "leaf_hashes": leaves, "answers": described},
        identity=("kind", asked[0], "leaf_hashes"))


def backdated_fault(session: Session, log: models.Log, item: Prepared,
                    tree_id: int) -> tuple[str, Finding] | None:
    """Why the entry (of tree `tree_id`) was dated back before a head the log served without
    it, and the LOG_INCONSISTENT fault that says so, stored (see `crawl.signed_time`)."""
    entry = item.fetched.entry
    found = dated_back(session, log, entry, tree_id)
    if found is None or entry.proof is None:
        return None
    why, head, head_at = found
    finding = Finding(
        RuleId.LOG_INCONSISTENT, None, f"the log signed integratedTime "
        f"{entry.integrated_time} for entry {entry.uuid}: {why}",
        {"tree_id": tree_id, "kind": "backdated", "uuid": entry.uuid,
         "log_index": entry.log_index, "leaf": entry.proof.log_index,
         "integrated_time": entry.integrated_time, "head_size": head.size,
         "head_root": head.root_hash, "head": head.note, "head_at": head_at.isoformat(),
         "entry": item.fetched.raw.decode("utf-8", "replace")},
        identity=("tree_id", "kind", "uuid", "integrated_time"))
    stored_history.record_fault(session, log, tree_id, "backdated", finding)
    return why, finding


def held_to_heads(session: Session, log: models.Log,
                  item: Prepared) -> tuple[Prepared, Finding | None]:
    """`item`, its `set` check failed if the time the log signed is before a head it served
    without the entry; the fault, if so."""
    verification = item.verification
    checkpoint = verification.checkpoint
    if checkpoint is None or not verification.checkpoint_verified or \
            not verification.check("set").ok:
        return item, None  # only a time the log signed is its word against its own heads
    tree_id = signed_tree_id(checkpoint)
    found = None if tree_id is None else backdated_fault(session, log, item, tree_id)
    if found is None:
        return item, None
    return replace(item, verification=with_check(verification, failed("set", found[0]))), \
        found[1]


class EntryCheckpoints:
    """Judges the checkpoint each entry's inclusion proof names against the stored history of
    its tree, once per checkpoint. It must run before the entry is stored: storing an entry
    stores its checkpoint, and a checkpoint already stored is never judged again, so a split
    view served only inside inclusion proofs would go unseen."""

    def __init__(self, prove: Prover) -> None:
        self.prove = prove
        self._judged: set[tuple[int, int, bytes]] = set()

    def judge(self, session: Session, log: models.Log,
              verification: Verification) -> list[Finding]:
        checkpoint = verification.checkpoint
        if checkpoint is None or not verification.checkpoint_verified:
            return []  # an unverified checkpoint proves nothing either way; the checks say so
        tree_id = signed_tree_id(checkpoint)
        if tree_id is None or (tree_id, checkpoint.size, checkpoint.root_hash) in self._judged:
            return []  # entries fetched together share their checkpoint
        self._judged.add((tree_id, checkpoint.size, checkpoint.root_hash))
        return History(session, log, self.prove).observe(tree_id, checkpoint)


class RekorV1Source(LogSource):
    def __init__(self, client: RekorClient, keyring: LogKeyring, *,
                 ahead: int = RETRIEVE_AHEAD, worker_from: int = WORKER_FROM) -> None:
        self.client = client
        self.keyring = keyring
        self.name = client.base_url
        #: Retrieve requests in flight while a batch is verified (see `prefetched`).
        self.ahead = ahead
        #: Entries to fetch from which batches are verified in a worker (see `VerifyAhead`).
        self.worker_from = worker_from

    def crawl(self, job: CrawlJob) -> CrawlSummary:
        with fewer_collections():  # see auditor.crawl.heap
            return RekorV1Crawl(self, job).run()

    def close(self) -> None:
        self.client.close()


class RekorV1Crawl:
    def __init__(self, source: RekorV1Source, job: CrawlJob) -> None:
        self.client = source.client
        self.keyring = source.keyring
        self.job = job
        self.ahead = source.ahead
        self.ingest = Ingest(job, source.keyring)
        self.summary = CrawlSummary(source=source.name)
        self.log: models.Log | None = None
        self.log_key: LogKey | None = None
        self.total_size = 0
        self.prove = consistency_prover(self.client)
        self.checkpoints = EntryCheckpoints(self.prove)
        #: The row ids of this log's entries the crawl stored (`Ingest.settled`: compact).
        self._touched = BitMap64()
        #: UUIDs fetched only because the request names them (`--uuid`, `[crawl] uuids`): no
        #: index listed them, and one the log does not serve is not tried again next run.
        self._requested: set[str] = set()
        #: Why each index the request names (`--log-index`) was not served.
        self._unserved: list[str] = []
        self._findings: list[Finding] = []
        #: The heads verified by the last `observe_heads`, with their tree ids.
        self._signed_heads: list[tuple[int, Checkpoint]] = []
        #: Where each shard starts among the virtual indexes, from the verified heads.
        self.offsets = ShardOffsets()
        #: Indexes the log answered with another place's entry, and whose (for the first few:
        #: a range of millions answered so holds no sentence for each).
        self._misanswered: dict[int, str | None] = {}
        #: Indexes and UUIDs the log answered, asked for alone, with two different entries;
        #: and the indexes it answered with a malformed document, with why.
        self._conflicting: dict[int | str, tuple[RawEntry, RawEntry]] = {}
        self._malformed: dict[int, str] = {}
        self._behind = StoreBehind(inline=not works_apart(job.sessions))
        self._verifying: VerifyAhead[Fetched, Prepared] = VerifyAhead(
            self.ingest.preparer, worker_from=source.worker_from)

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> CrawlSummary:
        request = self.job.request
        try:
            self._heads()
            self._fetch_uuids(self._discover())
            self._recheck()
            if request.log_indexes:
                self._fetch_indexes(list(request.log_indexes))
            if request.from_index is not None and request.to_index is not None:
                self._range_scan(request.from_index, request.to_index)
            self.summary.complete = True
            listed = [u for u in self.summary.missing if u not in self._requested]
            requested = [u for u in self.summary.missing if u in self._requested]
            if listed:
                self.summary.fail(
                    f"the log did not serve {counted(len(listed), 'entry')} it lists under "
                    f"component keys ({first_of(listed)}); they are tried again on every run")
            if requested:
                self.summary.fail(
                    f"the log did not serve {counted(len(requested), 'entry')} asked for by UUID "
                    f"(--uuid, [crawl] uuids): {first_of(requested)}")
            for why in self._unserved:
                self.summary.fail(why)
            self._unanswered()
            if self.offsets.disorder is not None:
                self.summary.fail(f"the log's shards do not line up with where they started "
                                  f"when first seen: {self.offsets.disorder}; entries of that "
                                  f"tree and later ones are not held to their indexes")
            if self._misanswered:
                answered = counted(len(self._misanswered), "index", "indexes")
                said = [why for why in self._misanswered.values() if why is not None]
                more = len(self._misanswered) - len(said)
                self.summary.fail(f"the log answered {answered} with entries from other places: "
                                  f"{', '.join(said)}" + (f" and {more} more" if more else ""))
        except IncompleteError as error:
            self.summary.fail(error.diagnostics())
        finally:
            self._last_store()
            self.summary.requests = self.client.requests
            self.summary.retries = self.client.retries
            self.summary.findings = unique(self._findings + crawl_findings(
                self.job, self.log_key.log_id.hex() if self.log_key else None,
                self._touched - self.ingest.settled))
        return self.summary

    def _unanswered(self) -> None:
        """Each contradiction is a stored fault naming both answers; the indexes no entry
        could be taken for make the crawl incomplete (an entry asked for by UUID is then taken
        from GET /log/entries/{uuid}, or is missing)."""
        if self._conflicting:
            with self.job.sessions.begin() as session:
                for key, answers in sorted(self._conflicting.items(), key=lambda k: str(k[0])):
                    finding = conflicting_answers(key, answers)
                    stored_history.record_fault(session, self.log, None, "conflicting_answers",
                                                finding)
                    self._findings.append(finding)
        indexes = [str(key) for key in self._conflicting if isinstance(key, int)]
        if indexes:
            self.summary.fail(
                f"the log answered {counted(len(indexes), 'index', 'indexes')} with "
                f"two different entries each: {first_of(indexes)}")
        if self._malformed:
            said = [f"{index}: {why}" for index, why in sorted(self._malformed.items())]
            self.summary.fail(
                f"the log answered {counted(len(said), 'index', 'indexes')} with a malformed "
                f"entry: {'; '.join(said[:_REASONS_SHOWN])}"
                + (f" and {len(said) - _REASONS_SHOWN} more" if len(said) > _REASONS_SHOWN
                   else ""))

    def _last_store(self) -> None:
        """Whatever ended the run, the batches verified and being stored are stored (or rolled
        back) first."""
        try:
            try:
                self._verifying.close()
            finally:
                self._behind.close()
        except IncompleteError as error:
            self.summary.fail(error.diagnostics())

    # -- heads ----------------------------------------------------------------------------

    def _heads(self) -> None:
        try:
            with self.job.sessions.begin() as session:
                self._findings.extend(self.observe_heads(session))
        except IncompleteError:
            # Rolled back (a consistency proof the log did not serve): the heads it verified
            # are kept all the same.
            if self.log_key is not None and self._signed_heads:
                with self.job.sessions.begin() as session:
                    keep_unproven(session, log_row(session, self.log_key.log_id, self.log_key),
                                  self._signed_heads)
            raise

    def observe_heads(self, session: Session) -> list[Finding]:
        """Verify every shard head the log reports and hold it against the stored history
        (in the caller's transaction, which keeps the log's row locked to its end)."""
        now = datetime.now(UTC)
        found = len(self._findings)
        self._signed_heads = []
        # Lock the pinned logs' rows BEFORE asking for the head: a concurrent crawler that
        # stores a newer head first must not make ours look like a rollback.
        for log in stored_history.pinned_logs(
                session, [key.log_id.hex() for key in self.keyring.keys]):
            lock_log(session, log)
        info = self.client.log_info()
        active = self._head(session, info.active, False, now)
        inactive = [self._head(session, head, True, now) for head in info.inactive]
        self._place_shards(session, inactive, None if active is None else active[0])
        if self.log is None:
            # No head verified: entries are still verified one by one, against the pinned
            # keys; their checkpoints prove nothing about the log's history.
            self.log_key = self.keyring.keys[0]
            self.log = log_row(session, self.log_key.log_id, self.log_key)
        else:
            listed = {h.tree_id for h in (info.active, *info.inactive)} | {
                tree_id for tree_id, _ in self._signed_heads}
            self._findings.extend(self._dropped(session, listed))
            if active is not None:
                self._findings.extend(self._rotations(session, active[0]))
        heads = self._findings[found:]
        del self._findings[found:]
        return heads

    def _place_shards(self, session: Session, inactive: Sequence[tuple[int, int] | None],
                      active: int | None) -> None:
        """Where each shard starts among the virtual indexes (see `crawl.placement`): the
        starts kept from earlier runs decide, and those first known now are kept."""
        rows = {} if self.log is None else {
            row.tree_id: row for row in stored_history.shards(session, self.log)}
        known = {tree_id: row.first_virtual_index for tree_id, row in rows.items()
                 if row.first_virtual_index is not None}
        self.offsets = ShardOffsets.of_heads(inactive, active, known)
        for tree_id, offset in self.offsets.offsets.items():
            if tree_id in rows and rows[tree_id].first_virtual_index is None:
                rows[tree_id].first_virtual_index = offset

    def _head(self, session: Session, head: ShardHead, frozen: bool,
              now: datetime) -> tuple[int, int] | None:
        """Observe one head; the tree id its signed origin names and its signed size, None if
        it does not verify."""
        result = verified_checkpoint(head.checkpoint, self.keyring, now)
        if isinstance(result, str):
            self._fault(session, head.tree_id, "head_signature", f"log head of tree "
                        f"{head.tree_id}: {result}", head, None)
            return None
        checkpoint, key = result
        if self.log is None:
            self.log, self.log_key = log_row(session, key.log_id, key), key
        tree_id = signed_tree_id(checkpoint)
        if tree_id is None:
            self._fault(session, head.tree_id, "head_origin", f"log head origin "
                        f"{checkpoint.origin!r} names no tree id", head, checkpoint)
            return None
        disagree = [f"{name} {unsigned} but the signed checkpoint says {signed}"
                    for name, unsigned, signed in (
                        ("treeID", head.tree_id, tree_id),
                        ("treeSize", head.tree_size, checkpoint.size),
                        ("rootHash", head.root_hash.hex(), checkpoint.root_hash.hex()))
                    if unsigned != signed]
        if disagree:
            self._fault(session, tree_id, "unsigned_fields", f"log head of tree {tree_id}: "
                        f"the response's unsigned fields disagree with its signed checkpoint: "
                        f"{'; '.join(disagree)}", head, checkpoint)
        self._signed_heads.append((tree_id, checkpoint))
        history = History(session, self._log(), self.prove)
        self._findings.extend(history.observe(tree_id, checkpoint, head=True, frozen=frozen))
        self.total_size += checkpoint.size
        return tree_id, checkpoint.size

    def _fault(self, session: Session, tree_id: int, kind: str, detail: str, head: ShardHead,
               checkpoint: Checkpoint | None) -> None:
        evidence: dict[str, Any] = {
            "tree_id": tree_id, "kind": kind, "response_tree_id": head.tree_id,
            "response_tree_size": head.tree_size, "response_root_hash": head.root_hash.hex(),
            "checkpoint": head.checkpoint,
            "signed_size": checkpoint.size if checkpoint else None,
            "signed_root": checkpoint.root_hash.hex() if checkpoint else None}
        finding = Finding(RuleId.CHECKPOINT_INVALID, None, detail, evidence,
                          identity=("tree_id", "kind", "response_tree_id", "response_tree_size",
                                    "response_root_hash"))
        stored_history.record_fault(session, self.log, tree_id, kind, finding)
        self._findings.append(finding)

    def _dropped(self, session: Session, listed: set[int]) -> list[Finding]:
        """A tree whose checkpoint the log signed before, and that its heads no longer list
        (as active or inactive): Rekor v1 lists every shard, and a frozen shard is never gone.
        A log that dropped one would hide its entries and shift every later virtual index."""
        findings = []
        for shard in stored_history.shards(session, self._log()):
            last = stored_history.largest(session, shard)
            if shard.tree_id in listed or last is None:
                continue
            finding = Finding(
                RuleId.LOG_INCONSISTENT, None, f"tree {shard.tree_id}, signed by the log at size "
                f"{last.size}, is no longer listed among its shards (the heads list "
                f"{', '.join(map(str, sorted(listed)))})",
                {"tree_id": shard.tree_id, "kind": "shard_dropped", "checkpoint_before":
                 last.note, "stored_size": last.size, "stored_root": last.root_hash,
                 "listed_tree_ids": sorted(listed)},
                identity=("tree_id", "kind", "stored_size", "stored_root"))
            stored_history.record_fault(session, self.log, shard.tree_id, "shard_dropped",
                                        finding)
            findings.append(finding)
        return findings

    def _rotations(self, session: Session, active: int) -> list[Finding]:
        """A known shard other than the signed active one is frozen: the log rotated."""
        findings = []
        for shard in stored_history.shards(session, self._log()):
            if shard.tree_id == active:
                continue
            shard.frozen = True
            findings.append(Finding(
                RuleId.SHARD_ROTATED, None, f"tree {shard.tree_id} is frozen; the active tree "
                f"is {active}", {"frozen_tree_id": shard.tree_id, "active_tree_id": active},
                identity=("frozen_tree_id", "active_tree_id")))
        return findings

    def _log(self) -> models.Log:
        assert self.log is not None
        return self.log

    # -- discovery ----------------------------------------------------------------------------

    def _discover(self) -> Listing:
        """UUIDs to fetch, with the component under whose key each was listed (held as a
        `Listing` for the crawl; the dicts here are gone once they are listed)."""
        listed: dict[str, str | None] = {}
        keys = self.job.keyset.all_keys()
        for done, (component, key) in enumerate(keys):
            self.job.progress("searching the index by component key", done, len(keys))
            for uuid in self.client.search_public_key(key.to_pem().encode()):
                listed.setdefault(uuid, component)
        with self.job.sessions() as session:
            hashes = crawl_state.unlogged_statement_hashes(session)
            pending = crawl_state.pending(session, self._log().id)
        for digest in hashes:
            for uuid in self.client.search_hash(digest):
                listed.setdefault(uuid, None)
        for withheld, listed_under in pending.items():
            listed.setdefault(withheld, listed_under)
        for uuid in self.job.request.uuids:
            if uuid.lower() not in listed:
                self._requested.add(uuid.lower())
                listed[uuid.lower()] = None
        self.summary.discovered = len(listed)
        with self.job.sessions() as session:
            known = crawl_state.known_leaves(session, self._log().id,
                                             (u[-64:] for u in listed))
        fresh = {u: c for u, c in listed.items() if u[-64:] not in known}
        if len(fresh) < len(listed):
            with self.job.sessions.begin() as session:  # listed again and now held
                crawl_state.clear_pending(session, self._log().id,
                                          [u for u in pending if u[-64:] in known])
        return Listing(fresh)

    # -- fetching -----------------------------------------------------------------------------

    def _batches(self, call: Callable[[Sequence[T]], R], items: Sequence[T]) -> Iterator[list[R]]:
        """`call` on each chunk of `items` the log's retrieve takes, the next `ahead` requests
        in flight while a batch is verified and stored; the results grouped into store batches
        of growing size (see STORE_BATCH). The verifier learns how many are coming, and starts
        its worker if that many pay for one."""
        self._verifying.expect(len(items))
        size, group = RETRIEVE_LIMIT, []
        for result in prefetched(call, _chunks(items), ahead=self.ahead,
                                 held=RETRIEVE_HELD if self.ahead else 0):
            group.append(result)
            if len(group) * RETRIEVE_LIMIT >= size:
                yield group
                group, size = [], min(2 * size, STORE_BATCH)
        if group:
            yield group

    def _fetch_uuids(self, listing: Listing, *, again: bool = False) -> None:
        done = 0
        for batch in self._batches(self._retrieve_listed, listing):
            found = {uuid: raw for served, _, _ in batch for uuid, raw in served.items()}
            missing = {uuid: why for _, withheld, _ in batch for uuid, why in withheld.items()}
            listed = {uuid: component for _, _, chunk in batch for uuid, component in chunk}
            self._store([Fetched(raw.entry, raw.raw, "rekor-v1",
                                 f"{self.client.base_url} {raw.uuid}", listed[uuid])
                         for uuid, raw in found.items()], again=again,
                        also=functools.partial(self._pending, list(found), missing, listed),
                        progress=functools.partial(self.job.progress, "fetching entries", done,
                                                   len(listing)))
            done += len(found) + len(missing)
            self.summary.missing.update(missing)
        self._stored_all()

    def _retrieve_listed(self, chunk: Sequence[Listed]
                         ) -> tuple[dict[str, RawEntry], dict[str, str], Sequence[Listed]]:
        """`_retrieve` of a chunk of the listing, which goes along with its answer."""
        return *self._retrieve([uuid for uuid, _ in chunk]), chunk

    def _pending(self, served: list[str], missing: dict[str, str],
                 listed: dict[str, str | None], session: Session) -> None:
        """Entries listed but not served are tried again next run; served ones are done."""
        log_pk = self._log().id
        crawl_state.clear_pending(session, log_pk, served)
        for uuid, reason in missing.items():
            if uuid not in self._requested:  # the user's request is the user's, this run
                crawl_state.set_pending(session, log_pk, uuid, listed[uuid], reason)

    def _retrieve(self, uuids: Sequence[str]) -> tuple[dict[str, RawEntry], dict[str, str]]:
        """Fetched entries and, for the rest, why not. A malformed answer is narrowed down
        to the entries it concerns, so one hostile entry does not hide the others."""
        try:
            result = self.client.retrieve(uuids=uuids)
        except MalformedResponseError as error:
            # Narrowed down as an index scan's answer is, so that every UUID answered with two
            # different entries is named (a batch's error names only the first), then taken
            # from GET /log/entries/{uuid}. Even for one entry: raised, it ended the crawl
            # without naming the entry (and before the batches after it).
            if len(uuids) > 1:
                return self._uuids_one_by_one(uuids)
            if isinstance(error, ConflictingAnswersError):
                self._conflicting.setdefault(uuids[0], error.answers)  # one dict store each
            return self._entry_by_uuid(uuids[0])
        missing = {uuid: ("asked for by UUID (--uuid, [crawl] uuids)" if uuid in self._requested
                          else "listed by the log's index") + " but not returned by retrieve"
                   for uuid in result.missing_uuids}
        return result.by_uuid, missing

    def _uuids_one_by_one(self, uuids: Sequence[str]
                          ) -> tuple[dict[str, RawEntry], dict[str, str]]:
        found: dict[str, RawEntry] = {}
        missing: dict[str, str] = {}
        for uuid in uuids:
            served, withheld = self._retrieve([uuid])
            found.update(served)
            missing.update(withheld)
        return found, missing

    def _entry_by_uuid(self, uuid: str) -> tuple[dict[str, RawEntry], dict[str, str]]:
        try:
            raw = self.client.entry_by_uuid(uuid)
        except MalformedResponseError as error:
            return {}, {uuid: f"the log served a malformed entry: {error.diagnostics()}"}
        if raw is None:
            return {}, {uuid: "the log does not serve it (404)"}
        return {uuid: raw}, {}

    def _by_index_or_why(self, indexes: Sequence[int]) -> tuple[list[RawEntry], tuple[int, ...]]:
        """The entries at `indexes`, and the indexes not served. An entry whose inclusion proof
        puts it elsewhere does not stand for the index it answers: the one there is unseen.
        A malformed answer is narrowed down to the indexes it concerns, each asked for alone:
        one hostile index neither ends the scan nor hides the entries beside it."""
        try:
            result = self.client.retrieve(indexes=indexes)
        except MalformedResponseError as error:
            if len(indexes) > 1:
                return self._one_by_one(indexes)
            self._unreadable(indexes[0], error)
            return [], (indexes[0],)
        served, missing = [], list(result.missing_indexes)
        for index, raw in result.by_index.items():
            why = self.offsets.answered_by(index, raw.entry)
            if why is None:
                served.append(raw)
            else:
                missing.append(index)
                # One dict store: safe across the fetching threads. A range and --log-index
                # may both ask for an index: it is one.
                shown = len(self._misanswered) < _REASONS_SHOWN
                self._misanswered.setdefault(index, why if shown else None)
        return served, tuple(missing)

    def _one_by_one(self, indexes: Sequence[int]) -> tuple[list[RawEntry], tuple[int, ...]]:
        served: list[RawEntry] = []
        missing: list[int] = []
        for index in indexes:
            found, lacking = self._by_index_or_why([index])
            served += found
            missing += lacking
        return served, tuple(missing)

    def _unreadable(self, index: int, error: MalformedResponseError) -> None:
        """Index `index`, asked for alone, answered by no entry the crawl can take: two
        different ones (the log contradicts itself: kept as a fault with both), or a malformed
        document. Not served: the scan stops before it, and the next scan asks again."""
        # One dict store each: safe across the fetching threads.
        if isinstance(error, ConflictingAnswersError):
            self._conflicting.setdefault(index, error.answers)
        else:
            self._malformed.setdefault(index, error.diagnostics())

    def _fetch_indexes(self, indexes: list[int]) -> None:
        """The entries at the indexes the request names (`--log-index`, `[crawl] log_indexes`):
        each is fetched, or the crawl is incomplete and says why (past the log's end, or not
        served)."""
        unserved: list[int] = []
        for batch in self._batches(self._by_index_or_why, indexes):
            unserved += [index for _, missing in batch for index in missing]
            self._store([Fetched(raw.entry, raw.raw, "rekor-v1",
                                 f"{self.client.base_url} {raw.uuid}")
                         for served, _ in batch for raw in served])
        self._stored_all()
        size = self.total_size  # the virtual size: every shard's verified head
        past = [index for index in unserved if index >= size]
        held = [index for index in unserved if index < size]
        holds = f"it holds {counted(size, 'entry')}"
        if past:
            self._unserved.append(f"--log-index {first_of([str(i) for i in past])}: past the "
                                  f"log's end ({holds})")
        if held:
            self._unserved.append(f"the log did not serve --log-index "
                                  f"{first_of([str(i) for i in held])} ({holds})")

    def _range_scan(self, first: int, last: int) -> None:
        """Inspect every entry in [first, last]: keep those signed by a component key. An entry
        of the range the log does not serve makes the crawl incomplete, and the scan's cursor
        stops before it (the next run asks again): a log could otherwise hide an entry from a
        scan that does not trust its search index by leaving it out of `retrieve`."""
        size = self.total_size  # the virtual size: every shard's verified head
        if first >= size:
            self._unserved.append(f"--from-index {first}: past the log's end (it holds "
                                  f"{counted(size, 'entry')})")
            return
        last = min(last, size - 1)  # past the log's end there is nothing to read
        log_pk = self._log().id
        with self.job.sessions.begin() as session:
            start = crawl_state.scan_start(session, log_pk, first, last)
        indexes = range(start, last + 1)
        done = start
        withheld: list[int] = []
        for batch in self._batches(self._by_index_or_why, indexes):
            progress = functools.partial(self.job.progress, "range scan", done - first,
                                         last - first + 1)
            done = min(done + len(batch) * RETRIEVE_LIMIT, last + 1)
            withheld += [index for _, missing in batch for index in missing]
            self._store([Fetched(raw.entry, raw.raw, "rekor-v1",
                                 f"{self.client.base_url} {raw.uuid}")
                         for served, _ in batch for raw in served], only_pinned=True,
                        cursor=(first, last, min(withheld) if withheld else done),
                        progress=progress)
        self._stored_all()
        if withheld:
            self._unserved.append(
                f"the log did not serve {counted(len(withheld), 'entry')} of the range "
                f"{first}-{last} (--from-index/--to-index): "
                f"{first_of([str(i) for i in sorted(withheld)])}; the next scan of the range "
                f"starts again at {min(withheld)}")

    def _recheck(self) -> None:
        """Entries marked for another look (a failure on what the log served, a statement
        that was missing) are fetched and verified again; the latest verification counts."""
        with self.job.sessions() as session:
            marked = {row.uuid: row.component
                      for row in crawl_state.entries_to_recheck(session, self._log().id)
                      if row.uuid is not None and row.id not in self._touched}
        if marked:
            self._fetch_uuids(Listing(marked), again=True)

    # -- storing ------------------------------------------------------------------------------

    def _store(self, fetched: list[Fetched], *, only_pinned: bool = False, again: bool = False,
               cursor: tuple[int, int, int] | None = None,
               also: Callable[[Session], None] | None = None,
               progress: Callable[[], None] | None = None) -> None:
        """Verify a batch (in the worker, while the batch before is stored: `VerifyAhead`),
        then store it in ONE transaction while the next batch is verified (`StoreBehind`); the
        scan cursor moves with it, and `also` (what became of the entries the log did not serve)
        is recorded in it. `progress` is reported once the batches before this one are
        stored."""
        self._verifying.submit(fetched, functools.partial(self._verified, again, cursor, also,
                                                      progress), option=only_pinned)

    def _verified(self, again: bool, cursor: tuple[int, int, int] | None,
                  also: Callable[[Session], None] | None, progress: Callable[[], None] | None,
                  prepared: list[Prepared]) -> None:
        self._behind.wait()
        if progress is not None:
            progress()
        self._behind.submit(functools.partial(self._write, prepared, again, cursor, also))

    def _stored_all(self) -> None:
        """Every batch submitted so far is verified and stored."""
        self._verifying.drain()
        self._behind.wait()

    def _write(self, prepared: list[Prepared], again: bool, cursor: tuple[int, int, int] | None,
               also: Callable[[Session], None] | None) -> None:
        with self.job.sessions.begin() as session:
            # A time the log signed is held against when the entry was first seen: verified
            # again once that time has passed, an entry dated in the future stays a lie.
            leaves = [leaf_hash(item.fetched.entry.body).hex() for item in prepared]
            seen = crawl_state.first_seen(session, self._log().id, leaves)
            at = repository.now()
            prepared = [self._placed(session, item, seen.get(leaf, at))
                        for item, leaf in zip(prepared, leaves, strict=True)]
            # Judged before they are stored: storing an entry stores its checkpoint too, and a
            # checkpoint already stored is never judged again.
            for item in prepared:
                self._bind(session, item)
            stored = self.ingest.store_all(session, prepared, again=again)
            ours = self._log().log_id
            for item, result in zip(prepared, stored, strict=True):
                count(self.summary, item, result.entry_new, again)
                if result.entry_id is not None and item.fetched.entry.log_id.hex() == ours:
                    self._touched.add(result.entry_id)
            if cursor is not None:
                crawl_state.advance_scan(session, self._log().id, *cursor)
            if also is not None:
                also(session)

    def _placed(self, session: Session, item: Prepared, seen: datetime) -> Prepared:
        """`item`, its inclusion check failed if its logIndex is not where its verified
        checkpoint's tree and its proof place it (see `crawl.placement`), its `set` check
        failed if the time it signs had not come when it was first `seen`, or was before a
        head the log served without it (see `crawl.signed_time`)."""
        entry = item.verification.entry
        if entry is None:
            return item
        future = from_the_future(entry, seen)
        if future is not None and item.verification.check("set").ok:
            item = replace(item, verification=with_check(item.verification,
                                                         failed("set", future)))
        item, backdated = held_to_heads(session, self._log(), item)
        if backdated is not None:
            self._findings.append(backdated)
        verification, checkpoint = item.verification, item.verification.checkpoint
        if checkpoint is not None and verification.checkpoint_verified:
            tree_id = signed_tree_id(checkpoint)
            why = self.offsets.misplaced(entry, tree_id)
            if why is not None:
                if verification.check("set").ok:
                    self._signed_misplacement(session, item, tree_id, why)
                item = replace(item, verification=with_check(
                    verification, failed("inclusion_proof", why)))
        return item

    def _signed_misplacement(self, session: Session, item: Prepared, tree_id: int | None,
                             why: str) -> None:
        """A logIndex the log's signed entry timestamp signs, which its own signed checkpoint
        and proof contradict: the log's fault, kept (an entry verified again after the log
        mends its answer passes, and the failed check with it would be forgotten)."""
        entry = item.fetched.entry
        finding = Finding(
            RuleId.LOG_INCONSISTENT, None, f"the log signed logIndex {entry.log_index} for entry "
            f"{entry.uuid}: {why}",
            {"tree_id": tree_id, "kind": "signed_index", "uuid": entry.uuid,
             "log_index": entry.log_index, "entry": item.fetched.raw.decode("utf-8", "replace")},
            identity=("tree_id", "kind", "uuid", "log_index"))
        stored_history.record_fault(session, self.log, tree_id, "signed_index", finding)
        self._findings.append(finding)

    def _bind(self, session: Session, item: Prepared) -> None:
        """Judge the entry's checkpoint against the stored history of the tree it signs."""
        if self.log is not None:
            self._findings.extend(self.checkpoints.judge(session, self.log, item.verification))
