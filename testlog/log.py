"""The state of a local Rekor v1 log: shards of real Merkle trees holding real entries.

Rekor v1 is sharded: one active tree takes new entries, earlier trees are frozen, and
an entry's public ``logIndex`` is *virtual*: the sizes of all earlier shards plus its index
in its own shard. UUIDs are ``%016x`` of the tree ID followed by the RFC 6962 leaf hash.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from testlog import bodies
from testlog.merkle import MerkleTree, leaf_hash
from testlog.signing import LogSigner


class ManualClock:
    """A clock for ``integratedTime`` that only moves when told to; it starts at the real time
    unless told otherwise, as an auditor holds the log's times against its own clock (an
    entry logged after a crawl, dated before the head that crawl saw, was dated back)."""

    def __init__(self, start: int | None = None) -> None:
        self.now = int(time.time()) if start is None else start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int = 1) -> int:
        self.now += seconds
        return self.now


@dataclass(frozen=True)
class LogEntry:
    """One logged entry, with what Rekor stores for it at integration time."""

    body: bytes  # canonical JSON
    integrated_time: int
    tree_id: int
    shard_index: int
    virtual_index: int
    signed_entry_timestamp: bytes  # DER, over the virtual index
    kind: str | None
    artifact_sha256: str | None  # data.hash.value, for the hash search index
    signer_spki: bytes | None  # SPKI DER of spec.signature.publicKey, for the key index

    @property
    def body_b64(self) -> str:
        return base64.b64encode(self.body).decode()

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.body)

    @property
    def uuid(self) -> str:
        """The 80-hex entry UUID: 16-hex tree ID then the leaf hash (what Rekor returns)."""
        return f"{self.tree_id:016x}{self.leaf_hash.hex()}"


@dataclass
class Shard:
    """One Merkle tree of the log."""

    tree_id: int
    offset: int  # virtual index of its first entry: the sum of earlier shards' sizes
    tree: MerkleTree = field(default_factory=MerkleTree)
    entries: list[LogEntry] = field(default_factory=list)
    frozen: bool = False
    by_leaf: dict[bytes, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.tree.size

    def append(self, entry: LogEntry) -> None:
        self.tree.append_leaf_hash(entry.leaf_hash)
        self.entries.append(entry)
        # Rekor refuses duplicates, so the first index of a leaf is the only one.
        self.by_leaf.setdefault(entry.leaf_hash, entry.shard_index)


def _random_tree_id() -> int:
    # Trillian tree IDs are positive int64s, printed in decimal (e.g. 1193050959916656506).
    return secrets.randbelow(2**63 - 2**60) + 2**60


class RekorLog:
    """An in-memory Rekor v1 log. All methods are thread-safe (one re-entrant lock)."""

    def __init__(
        self,
        *,
        signer: LogSigner | None = None,
        hostname: str = "rekor.sigstore.dev",
        clock: Callable[[], int] | None = None,
        tree_ids: Iterable[int] | None = None,
    ) -> None:
        """``hostname`` names the log in checkpoints (origin ``<hostname> - <treeID>``); it
        defaults to the public log's name so verifiers that pin the origin accept it: the
        log key is what tells this log apart. ``tree_ids`` fixes the IDs of the first and
        later shards (random 64-bit IDs otherwise)."""
        self.signer = signer or LogSigner()
        self.hostname = hostname
        self.clock: Callable[[], int] = clock or (lambda: int(time.time()))
        self.lock = threading.RLock()
        self._tree_ids: Iterator[int] = iter(tree_ids) if tree_ids is not None else iter(())
        self._shards: list[Shard] = [Shard(self._next_tree_id(), 0)]
        self._forks: dict[int, Shard] = {}
        self._by_key: dict[bytes, list[LogEntry]] = {}
        self._by_hash: dict[str, list[LogEntry]] = {}

    # -- shards ---------------------------------------------------------------------------

    @property
    def active(self) -> Shard:
        with self.lock:
            return self._shards[-1]

    @property
    def shards(self) -> list[Shard]:
        """Every shard, oldest first; the last one is active."""
        with self.lock:
            return list(self._shards)

    @property
    def log_id(self) -> str:
        return self.signer.log_id

    @property
    def size(self) -> int:
        """The number of real entries over all shards (= the next virtual index)."""
        with self.lock:
            return self.active.offset + self.active.size

    def shard(self, tree_id: int) -> Shard | None:
        with self.lock:
            return next((s for s in self._shards if s.tree_id == tree_id), None)

    def origin(self, tree_id: int) -> str:
        return f"{self.hostname} - {tree_id}"

    def rotate(self, tree_id: int | None = None) -> Shard:
        """Freeze the active shard and open a new, empty one (a new active tree ID)."""
        with self.lock:
            old = self.active
            old.frozen = True
            new_id = tree_id if tree_id is not None else self._next_tree_id()
            if any(s.tree_id == new_id for s in self._shards):
                raise ValueError(f"tree ID {new_id} is already used")
            shard = Shard(new_id, old.offset + old.size)
            self._shards.append(shard)
            return shard

    # -- adding entries -------------------------------------------------------------------

    def add_rekord(
        self,
        statement: bytes,
        signature_der: bytes,
        public_key_pem: bytes,
        *,
        integrated_time: int | None = None,
        check_signature: bool = True,
    ) -> LogEntry:
        """Log a ``rekord`` v0.0.1 (x509) entry: a signature over ``statement``."""
        verifier = bodies.parse_verifier(public_key_pem)
        digest = bodies.sha256(statement)
        if check_signature:
            bodies.check_digest_signature(verifier, digest, signature_der)
        body = bodies.rekord_body(digest.hex(), signature_der, verifier)
        return self._append(body, integrated_time, "rekord", digest.hex(), verifier.spki_der)

    def add_hashedrekord(
        self,
        sha256_digest: bytes,
        signature_der: bytes,
        public_key_pem_or_cert: bytes,
        *,
        integrated_time: int | None = None,
        check_signature: bool = True,
    ) -> LogEntry:
        """Log a ``hashedrekord`` v0.0.1 entry: a signature over a SHA-256 digest."""
        if len(sha256_digest) != 32:
            raise ValueError("sha256_digest must be the 32-byte digest")
        verifier = bodies.parse_verifier(public_key_pem_or_cert)
        if check_signature:
            bodies.check_digest_signature(verifier, sha256_digest, signature_der)
        body = bodies.hashedrekord_body(sha256_digest.hex(), signature_der, verifier)
        return self._append(
            body, integrated_time, "hashedrekord", sha256_digest.hex(), verifier.spki_der
        )

    def add_body(self, body: bytes, *, integrated_time: int | None = None) -> LogEntry:
        """Log an arbitrary canonical body as-is (any kind; not indexed for search)."""
        kind = None
        try:
            parsed = json.loads(body)
            kind = parsed.get("kind") if isinstance(parsed, dict) else None
        except ValueError:
            pass
        return self._append(body, integrated_time, kind, None, None)

    def entries(self) -> list[LogEntry]:
        """Every real entry in virtual-index order."""
        with self.lock:
            return [e for s in self._shards for e in s.entries]

    def entry(self, virtual_index: int) -> LogEntry:
        with self.lock:
            for shard in self._shards:
                if shard.offset <= virtual_index < shard.offset + shard.size:
                    return shard.entries[virtual_index - shard.offset]
        raise IndexError(f"no entry at virtual index {virtual_index}")

    # -- split view -----------------------------------------------------------------------

    def fork(
        self,
        *,
        tree_id: int | None = None,
        at: int | None = None,
        replacements: Iterable[bytes] | None = None,
    ) -> list[LogEntry]:
        """Make a forked copy of a shard (default: the active one) for a split view.

        The fork keeps the first ``at`` leaves (default: all but the last) and replaces
        the rest with other entries (``replacements``, or fresh synthetic ``hashedrekord``s), so
        it has the **same size and a different root**. ``Faults.serve_fork`` switches
        between the two histories; proofs served from the fork are consistent with it.
        Returns the replacement entries.
        """
        with self.lock:
            shard = self.active if tree_id is None else self.shard(tree_id)
            if shard is None:
                raise ValueError(f"no shard with tree ID {tree_id}")
            at = shard.size - 1 if at is None else at
            if not 0 <= at < shard.size:
                raise ValueError(f"cannot fork a shard of size {shard.size} at {at}")
            count = shard.size - at
            new_bodies = list(replacements) if replacements is not None else []
            new_bodies += [_synthetic_hashedrekord() for _ in range(count - len(new_bodies))]
            if len(new_bodies) != count:
                raise ValueError(f"the fork replaces {count} entries, got {len(new_bodies)}")
            fork = Shard(shard.tree_id, shard.offset, frozen=shard.frozen)
            for old in shard.entries[:at]:
                fork.append(old)
            replaced = []
            for original, body in zip(shard.entries[at:], new_bodies, strict=True):
                if leaf_hash(body) == original.leaf_hash:
                    raise ValueError("a fork must replace entries with different bodies")
                entry = self._make_entry(fork, body, original.integrated_time, *_index_keys(body))
                fork.append(entry)
                self._index(entry)
                replaced.append(entry)
            self._forks[shard.tree_id] = fork
            return replaced

    def grow_fork(self, count: int, *, tree_id: int | None = None) -> list[LogEntry]:
        """Append ``count`` fresh synthetic entries to a fork only: the split view goes on."""
        with self.lock:
            shard = self.active if tree_id is None else self.shard(tree_id)
            fork = self._forks.get(shard.tree_id) if shard is not None else None
            if fork is None:
                raise ValueError("no fork to grow: call fork() first")
            added = []
            for _ in range(count):
                body = _synthetic_hashedrekord()
                entry = self._make_entry(fork, body, self.clock(), *_index_keys(body))
                fork.append(entry)
                self._index(entry)
                added.append(entry)
            return added

    def grow_frozen(self, count: int) -> list[LogEntry]:
        """Append ``count`` synthetic entries to the newest frozen shard: a frozen tree that
        changed (its entries' virtual indexes overlap the next shard's; only its head and
        proofs matter to a monitor)."""
        with self.lock:
            frozen = [s for s in self._shards if s.frozen]
            if not frozen:
                raise ValueError("no frozen shard: call rotate() first")
            added = []
            for _ in range(count):
                body = _synthetic_hashedrekord()
                entry = self._make_entry(frozen[-1], body, self.clock(), None, None, None)
                frozen[-1].append(entry)
                added.append(entry)
            return added

    def drop_forks(self) -> None:
        with self.lock:
            self._forks.clear()

    def view(self, shard: Shard, forked: bool) -> Shard:
        """The shard as served: its fork when forks are served and one exists."""
        with self.lock:
            return self._forks.get(shard.tree_id, shard) if forked else shard

    # -- search index ---------------------------------------------------------------------

    def by_key(self, spki_der: bytes) -> list[LogEntry]:
        with self.lock:
            return list(self._by_key.get(spki_der, ()))

    def by_hash(self, sha256_hex: str) -> list[LogEntry]:
        with self.lock:
            return list(self._by_hash.get(sha256_hex.lower(), ()))

    # -- internals ------------------------------------------------------------------------

    def _next_tree_id(self) -> int:
        return next(self._tree_ids, None) or _random_tree_id()

    def _append(
        self,
        body: bytes,
        integrated_time: int | None,
        kind: str | None,
        artifact_sha256: str | None,
        signer_spki: bytes | None,
    ) -> LogEntry:
        with self.lock:
            shard = self.active
            if leaf_hash(body) in shard.by_leaf:
                # Rekor answers 409 Conflict to a duplicate entry.
                raise ValueError("this entry is already in the log")
            time_ = self.clock() if integrated_time is None else integrated_time
            entry = self._make_entry(shard, body, time_, kind, artifact_sha256, signer_spki)
            shard.append(entry)
            self._index(entry)
            return entry

    def _make_entry(
        self,
        shard: Shard,
        body: bytes,
        integrated_time: int,
        kind: str | None,
        artifact_sha256: str | None,
        signer_spki: bytes | None,
    ) -> LogEntry:
        index = shard.size
        virtual = shard.offset + index
        body_b64 = base64.b64encode(body).decode()
        sig = self.signer.signed_entry_timestamp(body_b64, integrated_time, virtual)
        return LogEntry(
            body, integrated_time, shard.tree_id, index, virtual, sig,
            kind, artifact_sha256, signer_spki,
        )  # fmt: skip

    def _index(self, entry: LogEntry) -> None:
        if entry.signer_spki is not None:
            self._by_key.setdefault(entry.signer_spki, []).append(entry)
        if entry.artifact_sha256 is not None:
            self._by_hash.setdefault(entry.artifact_sha256, []).append(entry)


def _index_keys(body: bytes) -> tuple[str | None, str | None, bytes | None]:
    """(kind, data.hash.value, signer SPKI DER) of a rekord/hashedrekord body, else Nones."""
    try:
        doc = json.loads(body)
        spec = doc["spec"]
        pem = base64.b64decode(spec["signature"]["publicKey"]["content"])
        return doc["kind"], spec["data"]["hash"]["value"], bodies.parse_verifier(pem).spki_der
    except (ValueError, KeyError, TypeError):
        return None, None, None


def _synthetic_hashedrekord() -> bytes:
    """A valid ``hashedrekord`` body by a throwaway key over a random digest."""
    key = ec.generate_private_key(ec.SECP256R1())
    digest = secrets.token_bytes(32)
    signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return bodies.hashedrekord_body(digest.hex(), signature, bodies.parse_verifier(pem))
