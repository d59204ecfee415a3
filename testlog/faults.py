"""Fault switches for the local Rekor, settable from a test while the server runs.

Transport faults (429, 5xx, hangs, delays, truncated JSON, batch reordering) are applied
by the HTTP layer; content faults (tampering, forks, rollbacks) are captured per request as
an immutable ``ContentFaults`` snapshot that the response builders read.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field


class Endpoint(enum.StrEnum):
    """Rekor v1 read endpoints, as counted and targeted by faults."""

    LOG_INFO = "log"  # GET /api/v1/log
    CONSISTENCY = "proof"  # GET /api/v1/log/proof
    ENTRY_BY_INDEX = "entry_by_index"  # GET /api/v1/log/entries?logIndex=N
    ENTRY_BY_UUID = "entry_by_uuid"  # GET /api/v1/log/entries/{uuid}
    RETRIEVE = "retrieve"  # POST /api/v1/log/entries/retrieve
    SEARCH_INDEX = "search_index"  # POST /api/v1/index/retrieve
    PUBLIC_KEY = "public_key"  # GET /api/v1/log/publicKey
    FILES = "files"  # GET /files/sha2-256:<hex> (a content-addressed statement store)
    OTHER = "other"  # anything else (answered 404/405)


class FailureKind(enum.Enum):
    RATE_LIMIT = "rate_limit"  # 429 with an HTML body and Retry-After, like the real proxy
    SERVER_ERROR = "server_error"  # a 5xx
    HANG = "hang"  # no answer until the client gives up (bounded by Faults.hang_limit)
    TRUNCATE = "truncate"  # a 200 whose JSON body is cut in half
    TRICKLE = "trickle"  # a 200 whose body arrives one byte every `interval` seconds
    REPLACE = "replace"  # a 200 whose body is `body`, whatever was asked
    REDIRECT = "redirect"  # a 302 whose Location header is `body`, its bytes as they are


@dataclass
class ScheduledFailure:
    kind: FailureKind
    remaining: int
    endpoint: Endpoint | None = None  # None: any endpoint
    status: int = 503
    retry_after: int = 1
    interval: float = 0.0
    body: bytes = b""


@dataclass(frozen=True)
class ContentFaults:
    """What a single response must misrepresent; a consistent snapshot of ``Faults``."""

    forked: bool = False
    #: Endpoints whose entries (and proofs) come from the fork while GET /log stays honest.
    forked_entries: frozenset[Endpoint] = frozenset()
    rollback: tuple[tuple[int | None, int], ...] = ()  # (treeID or None = active, size)
    tamper_inclusion_proof: bool = False
    tamper_set: bool = False
    tamper_checkpoint: bool = False
    tamper_consistency_proof: bool = False
    tamper_only: frozenset[int] | None = None  # virtual indexes; None: every entry
    #: GET /log reports these unsigned fields instead of the true ones (the signed
    #: checkpoint is unchanged): "treeID", "treeSize", "rootHash" -> value, per active shard.
    misreport: tuple[tuple[str, str], ...] = ()
    #: Virtual indexes the log withholds: retrieve omits them, GET by UUID answers 404.
    withheld: frozenset[int] = frozenset()
    #: Virtual indexes the log never answers for (see Faults).
    hung: frozenset[int] = frozenset()
    #: UUIDs the search index adds to every public-key search (a foreign listing).
    extra_listings: tuple[str, ...] = ()
    #: Virtual indexes the search index leaves out (it hides them; retrieve still serves them).
    unlisted: frozenset[int] = frozenset()
    #: Virtual indexes whose entry documents carry text that is not text (see Faults).
    unstorable_text: frozenset[int] = frozenset()
    #: (asked, served): the entry at virtual index `served` answers for `asked` (see Faults).
    relabel: tuple[tuple[int, int], ...] = ()
    #: Tree ids of inactive shards GET /log leaves out.
    unlisted_shards: frozenset[int] = frozenset()
    #: GET /log lists its inactive shards newest first.
    reverse_shards: bool = False
    #: (virtual index, seconds): the entry served dated that much earlier (see Faults).
    backdate: tuple[tuple[int, int], ...] = ()
    #: (asked, other): retrieve answers `asked` with its entry and `other`'s (see Faults).
    double_answer: tuple[tuple[int, int], ...] = ()
    #: (asked, other): retrieve by UUID answers `asked` twice, once at `other` (see Faults).
    double_answer_uuid: tuple[tuple[int, int], ...] = ()
    #: Entry documents keyed by the bare leaf hash, their checkpoints under a tree id that is
    #: no number (see Faults).
    nameless_tree: bool = False
    repeat_signature: bool = False

    def tampers(self, virtual_index: int | None) -> bool:
        """Whether entry-level tampering applies to this entry (None: a log-level document)."""
        if self.tamper_only is None:
            return True
        return virtual_index is not None and virtual_index in self.tamper_only

    def rollback_size(self, tree_id: int, active: bool) -> int | None:
        for target, size in self.rollback:
            if target == tree_id or (target is None and active):
                return size
        return None


@dataclass
class Faults:
    """Thread-safe fault switches. Booleans and ``delay`` may be assigned directly."""

    delay: float = 0.0  # seconds added before every response
    hang_limit: float = 10.0  # a hung request gives up after this long (or at server close)
    shuffle_batches: bool = False  # retrieve results in random order (default order is not
    # request order either, but deterministic)
    duplicate_batches: bool = False  # every retrieve result appears twice
    tamper_inclusion_proof: bool = False
    tamper_set: bool = False
    tamper_checkpoint: bool = False
    tamper_consistency_proof: bool = False
    tamper_only: set[int] | None = None  # restrict entry tampering to these virtual indexes
    serve_fork: bool = False  # serve the forks made with RekorLog.fork (split view)
    #: Serve the forks in these endpoints' entry answers only (GET /log stays honest): the
    #: split view hides in inclusion proofs.
    fork_entries: set[Endpoint] = field(default_factory=set)
    #: GET /log's unsigned fields replaced ("treeID"/"treeSize"/"rootHash" -> value).
    misreport: dict[str, str] = field(default_factory=dict)
    withheld: set[int] = field(default_factory=set)  # virtual indexes the log withholds
    #: Virtual indexes the log never answers for: a request that asks for one of them (by
    #: retrieve, UUID or index) hangs until ``hang_limit`` or server close, each time it is
    #: asked. A crawl stalls at the batch that holds one, whatever the timing.
    hung: set[int] = field(default_factory=set)
    extra_listings: list[str] = field(default_factory=list)  # UUIDs added to key searches
    unlisted: set[int] = field(default_factory=set)  # virtual indexes the search index hides
    #: Virtual indexes whose entry documents carry a member holding U+0000 and an unpaired
    #: surrogate, escaped as JSON allows ("\u0000", "\ud800"): text no database stores.
    unstorable_text: set[int] = field(default_factory=set)
    #: Asked virtual index -> the virtual index whose entry answers for it, by index: its
    #: logIndex rewritten and its signed entry timestamp signed anew over the index asked for
    #: (the log signs what it likes), its inclusion proof still its own leaf's; served by UUID
    #: it carries the asked index too. The entry at the asked index goes unseen.
    relabel: dict[int, int] = field(default_factory=dict)
    #: Tree ids of inactive shards GET /log no longer lists (a log that drops a frozen shard
    #: from its history; its entries are still served).
    unlisted_shards: set[int] = field(default_factory=set)
    #: GET /log lists its inactive shards newest first (Rekor lists them oldest first, the
    #: order their sizes add up in to the virtual indexes; nothing signs that order).
    reverse_shards: bool = False
    #: Virtual index -> seconds: the entry's integratedTime is served that much earlier, under
    #: a signed entry timestamp the log signs anew over it (a log dating an entry back to when
    #: an expired key or endorsement was still valid).
    backdate: dict[int, int] = field(default_factory=dict)
    #: Asked virtual index -> another virtual index: retrieve answers the asked index with
    #: two different entries, its own and the other's relabelled to it (logIndex and signed
    #: entry timestamp over the asked index, as `relabel` makes it): the log contradicts itself.
    double_answer: dict[int, int] = field(default_factory=dict)
    #: Asked virtual index -> another virtual index: retrieve asked for the asked entry's UUID
    #: answers with two different entries under it, the entry and the entry relabelled to the
    #: other index (as `relabel` makes it); GET /log/entries/{uuid} answers once, truly.
    double_answer_uuid: dict[int, int] = field(default_factory=dict)
    #: Entry documents keyed by the 64-hex leaf hash (no tree id), their checkpoints signed
    #: under the origin `<host> - nameless`: a tree no history holds.
    nameless_tree: bool = False
    #: Every checkpoint (heads and entries) carries the log's signature line twice.
    repeat_signature: bool = False
    _rollback: dict[int | None, int] = field(default_factory=dict)
    _scheduled: list[ScheduledFailure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rate_limit(
        self, count: int = 1, *, retry_after: int = 1, endpoint: Endpoint | None = None
    ) -> None:
        """The next ``count`` requests (to ``endpoint``, or any) get 429 + HTML + Retry-After."""
        self._schedule(ScheduledFailure(FailureKind.RATE_LIMIT, count, endpoint, 429, retry_after))

    def server_errors(
        self, count: int = 1, *, status: int = 503, endpoint: Endpoint | None = None
    ) -> None:
        """The next ``count`` requests get a ``status`` (5xx) answer: a burst of server errors."""
        if not 500 <= status <= 599:
            raise ValueError("server_errors takes a 5xx status")
        self._schedule(ScheduledFailure(FailureKind.SERVER_ERROR, count, endpoint, status))

    def hang(self, count: int = 1, *, endpoint: Endpoint | None = None) -> None:
        """The next ``count`` requests never answer (until ``hang_limit`` or server close)."""
        self._schedule(ScheduledFailure(FailureKind.HANG, count, endpoint))

    def truncate(self, count: int = 1, *, endpoint: Endpoint | None = None) -> None:
        """The next ``count`` JSON answers are cut in half (status 200, invalid JSON)."""
        self._schedule(ScheduledFailure(FailureKind.TRUNCATE, count, endpoint))

    def trickle(self, count: int = 1, *, interval: float = 1.0,
                endpoint: Endpoint | None = None) -> None:
        """The next ``count`` answers trickle in, one byte every ``interval`` seconds (each
        read is quick, the whole answer is not: a read timeout alone never fires)."""
        self._schedule(ScheduledFailure(FailureKind.TRICKLE, count, endpoint,
                                        interval=interval))

    def replace(self, body: bytes, count: int = 1, *, endpoint: Endpoint | None = None) -> None:
        """The next ``count`` answers are 200 with ``body`` (a hostile document)."""
        self._schedule(ScheduledFailure(FailureKind.REPLACE, count, endpoint, body=body))

    def redirect(self, location: bytes, count: int = 1, *,
                 endpoint: Endpoint | None = None) -> None:
        """The next ``count`` answers are 302 to ``location``, written byte for byte (one that
        is no UTF-8 or no URL: requests parses it even when it is not to follow it)."""
        self._schedule(ScheduledFailure(FailureKind.REDIRECT, count, endpoint, 302,
                                        body=location))

    def rollback(self, size: int, *, tree_id: int | None = None) -> None:
        """Serve shard ``tree_id`` (default: whichever is active) as if it had ``size`` leaves."""
        with self._lock:
            self._rollback[tree_id] = size

    def clear_rollback(self) -> None:
        with self._lock:
            self._rollback.clear()

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._scheduled.clear()
            self._rollback.clear()
            self.delay = 0.0
            self.shuffle_batches = self.duplicate_batches = False
            self.tamper_inclusion_proof = self.tamper_set = False
            self.tamper_checkpoint = self.tamper_consistency_proof = False
            self.tamper_only = None
            self.serve_fork = False
            self.fork_entries.clear()
            self.misreport.clear()
            self.withheld.clear()
            self.hung.clear()
            self.extra_listings.clear()
            self.unlisted.clear()
            self.unstorable_text.clear()
            self.relabel.clear()
            self.unlisted_shards.clear()
            self.reverse_shards = False
            self.backdate.clear()
            self.double_answer.clear()
            self.double_answer_uuid.clear()
            self.nameless_tree = False
            self.repeat_signature = False

    def pending(self) -> int:
        """How many scheduled failures have not fired yet."""
        with self._lock:
            return sum(f.remaining for f in self._scheduled)

    def take_failure(self, endpoint: Endpoint) -> ScheduledFailure | None:
        """Consume one scheduled failure that applies to ``endpoint``, oldest first."""
        with self._lock:
            for failure in self._scheduled:
                if failure.remaining > 0 and failure.endpoint in (None, endpoint):
                    failure.remaining -= 1
                    return failure
            self._scheduled[:] = [f for f in self._scheduled if f.remaining > 0]
            return None

    def content(self) -> ContentFaults:
        with self._lock:
            return ContentFaults(
                forked=self.serve_fork,
                forked_entries=frozenset(self.fork_entries),
                rollback=tuple(self._rollback.items()),
                tamper_inclusion_proof=self.tamper_inclusion_proof,
                tamper_set=self.tamper_set,
                tamper_checkpoint=self.tamper_checkpoint,
                tamper_consistency_proof=self.tamper_consistency_proof,
                tamper_only=None if self.tamper_only is None else frozenset(self.tamper_only),
                misreport=tuple(self.misreport.items()),
                withheld=frozenset(self.withheld),
                hung=frozenset(self.hung),
                extra_listings=tuple(self.extra_listings),
                unlisted=frozenset(self.unlisted),
                unstorable_text=frozenset(self.unstorable_text),
                relabel=tuple(self.relabel.items()),
                unlisted_shards=frozenset(self.unlisted_shards),
                reverse_shards=self.reverse_shards,
                backdate=tuple(self.backdate.items()),
                double_answer=tuple(self.double_answer.items()),
                double_answer_uuid=tuple(self.double_answer_uuid.items()),
                nameless_tree=self.nameless_tree,
                repeat_signature=self.repeat_signature,
            )

    def _schedule(self, failure: ScheduledFailure) -> None:
        if failure.remaining < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._scheduled.append(failure)
