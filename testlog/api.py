"""Rekor v1 API documents built from a ``RekorLog`` as seen through ``ContentFaults``.

Everything here is HTTP-free: each call returns the JSON document of a 200 answer or
raises ``ApiError`` with the status and message Rekor would send. Proofs and
checkpoints are made relative to the *current* head of the entry's shard, at read time,
like the real log.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from testlog import bodies
from testlog.faults import ContentFaults, Endpoint
from testlog.log import LogEntry, RekorLog, Shard
from testlog.signing import set_payload

MAX_SEARCH_QUERIES = 10  # Rekor's limit on entryUUIDs + logIndexes + entries per retrieve
_UUID = re.compile(r"^([0-9a-fA-F]{64}|[0-9a-fA-F]{80})$")
_HASH = re.compile(r"^(sha256:)?([0-9a-fA-F]{64})$")
_OTHER_HASH = re.compile(r"^(sha512:)?[0-9a-fA-F]{128}$|^(sha1:)?[0-9a-fA-F]{40}$")

Json = dict[str, Any]


class ApiError(Exception):
    """An error answer: JSON ``{code, message}``, or an empty body when ``empty``."""

    def __init__(self, status: int, message: str, *, code: int | None = None, empty: bool = False):
        super().__init__(message)
        self.status = status
        self.code = status if code is None else code
        self.message = message
        self.empty = empty


class Unanswered(Exception):
    """The request asks for an entry the log never answers for (``Faults.hung``)."""


@dataclass(frozen=True)
class VisibleShard:
    """A shard as served for one request: possibly its fork, possibly rolled back."""

    shard: Shard
    size: int
    active: bool

    def root(self) -> bytes:
        return self.shard.tree.root(self.size)

    def entry(self, shard_index: int) -> LogEntry | None:
        return self.shard.entries[shard_index] if 0 <= shard_index < self.size else None


class RekorApi:
    """The read API over one log. One instance per request (it caches checkpoints)."""

    def __init__(self, log: RekorLog, faults: ContentFaults) -> None:
        self.log = log
        self.faults = faults
        self._checkpoints: dict[tuple[int, int, bool], str] = {}

    # -- views ----------------------------------------------------------------------------

    def visible_shards(self, endpoint: Endpoint | None = None) -> list[VisibleShard]:
        """The shards as served (by `endpoint`: entry answers may come from a fork)."""
        shards = self.log.shards
        forked = self.faults.forked or endpoint in self.faults.forked_entries
        out = []
        for i, real in enumerate(shards):
            active = i == len(shards) - 1
            shard = self.log.view(real, forked)
            size = shard.size
            rollback = self.faults.rollback_size(real.tree_id, active)
            if rollback is not None:
                size = max(0, min(size, rollback))
            out.append(VisibleShard(shard, size, active))
        return out

    def _visible(self, tree_id: int) -> VisibleShard | None:
        return next((v for v in self.visible_shards() if v.shard.tree_id == tree_id), None)

    def checkpoint(self, view: VisibleShard, tamper: bool) -> str:
        key = (view.shard.tree_id, view.size, tamper)
        if key not in self._checkpoints:
            origin = self.log.origin(view.shard.tree_id)
            root = view.root()
            # A tampered checkpoint carries a well-formed signature over other bytes.
            other = f"{origin}\n{view.size + 1}\n{base64.b64encode(root).decode()}\n".encode()
            self._checkpoints[key] = self.log.signer.checkpoint(
                origin, view.size, root, sign_over=other if tamper else None
            )
        text = self._checkpoints[key]
        # The log's signature line served twice: a note no honest log signs.
        return text + text.rsplit("\n\n", 1)[1] if self.faults.repeat_signature else text

    # -- GET /log, /log/proof, /log/publicKey ---------------------------------------------

    def log_info(self) -> Json:
        views = self.visible_shards()
        tamper = self.faults.tamper_checkpoint and self.faults.tampers(None)
        active = views[-1]
        doc: Json = self._tree_head(active, tamper)
        for name, value in self.faults.misreport:
            doc[name] = int(value) if name == "treeSize" else value
        inactive = [self._tree_head(v, tamper) for v in views[:-1]
                    if v.shard.tree_id not in self.faults.unlisted_shards]
        if self.faults.reverse_shards:
            inactive.reverse()
        if inactive:
            doc["inactiveShards"] = inactive
        return doc

    def _tree_head(self, view: VisibleShard, tamper: bool) -> Json:
        return {
            "rootHash": view.root().hex(),
            "signedTreeHead": self.checkpoint(view, tamper),
            "treeID": str(view.shard.tree_id),
            "treeSize": view.size,
        }

    def consistency_proof(self, first: int, last: int, tree_id: int | None) -> Json:
        view = self.visible_shards()[-1] if tree_id is None else self._visible(tree_id)
        if view is None:
            raise ApiError(400, f"no tree with treeID {tree_id}")
        if first > last:
            raise ApiError(
                400, f"firstSize({first}) must be less than or equal to lastSize({last})"
            )
        if last > view.size:
            raise ApiError(400, f"lastSize({last}) is greater than the tree size ({view.size})")
        hashes = view.shard.tree.consistency_proof(first, last)
        if self.faults.tamper_consistency_proof and hashes:
            hashes[0] = _flip(hashes[0])
        return {"hashes": [h.hex() for h in hashes], "rootHash": view.shard.tree.root(last).hex()}

    def public_key(self, tree_id: int | None) -> bytes:
        if tree_id is not None and self.log.shard(tree_id) is None:
            raise ApiError(400, f"no tree with treeID {tree_id}")
        return self.log.signer.public_pem

    # -- entries --------------------------------------------------------------------------

    def entry_by_index(self, virtual_index: int) -> Json:
        found = self._unhung(self._find_by_index(virtual_index, Endpoint.ENTRY_BY_INDEX))
        if found is None:
            # Rekor answers a logIndex past the end with 404 and no body at all.
            raise ApiError(404, "", empty=True)
        return self.entry_document(*found)

    def entry_by_uuid(self, uuid: str) -> Json:
        if not _UUID.match(uuid):
            raise ApiError(400, f"invalid entry UUID: {uuid!r}")
        found = self._served(self._find_by_uuid(uuid, Endpoint.ENTRY_BY_UUID))
        if found is None:
            raise ApiError(404, f"entry with UUID {uuid.lower()} was not found")
        return self.entry_document(*found)

    def retrieve(self, query: object) -> list[Json]:
        if not isinstance(query, dict):
            raise ApiError(400, "the search query must be a JSON object")
        uuids = query.get("entryUUIDs") or []
        indexes = query.get("logIndexes") or []
        proposed = query.get("entries") or []
        if not all(isinstance(x, list) for x in (uuids, indexes, proposed)):
            raise ApiError(400, "entryUUIDs, logIndexes and entries must be arrays")
        if len(uuids) + len(indexes) + len(proposed) > MAX_SEARCH_QUERIES:
            raise ApiError(422, f"more than max allowed {MAX_SEARCH_QUERIES} entries in request")
        if proposed:
            raise ApiError(400, "searching by proposed entries is not supported by the test log")
        found: list[tuple[VisibleShard, LogEntry]] = []
        for uuid in uuids:
            if not isinstance(uuid, str) or not _UUID.match(uuid):
                raise ApiError(400, f"invalid entry UUID: {uuid!r}")
            hit = self._served(self._find_by_uuid(uuid, Endpoint.RETRIEVE))
            if hit is not None:  # missing items are silently omitted
                found.append(hit)
                other = dict(self.faults.double_answer_uuid).get(hit[1].virtual_index)
                if other is not None:
                    found.append((hit[0], self._relabelled(hit[1], other)))
        for index in indexes:
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise ApiError(400, f"invalid log index: {index!r}")
            hit = self._served(self._find_by_index(index, Endpoint.RETRIEVE))
            if hit is not None:
                found.append(hit)
            other = dict(self.faults.double_answer).get(index)
            second = None if other is None else self._find_by_index(other, Endpoint.RETRIEVE)
            if second is not None:
                found.append((second[0], self._relabelled(second[1], index)))
        # Rekor answers in no particular order; never the request order, so that clients
        # that match by position fail here and not only in production.
        ordered = sorted(found, key=lambda hit: hit[1].leaf_hash)
        if len(ordered) > 1 and ordered == found:
            ordered.reverse()
        return [self.entry_document(view, entry) for view, entry in ordered]

    def entry_document(self, view: VisibleShard, entry: LogEntry) -> Json:
        entry = self._dated(entry)
        tamper = self.faults.tampers(entry.virtual_index)
        hashes = view.shard.tree.inclusion_proof(entry.shard_index, view.size)
        if tamper and self.faults.tamper_inclusion_proof:
            hashes = [_flip(hashes[0]), *hashes[1:]] if hashes else [bytes(32)]
        sig = entry.signed_entry_timestamp
        if tamper and self.faults.tamper_set:
            # A valid DER signature by the log key, over the wrong index.
            payload = set_payload(
                entry.body_b64, entry.integrated_time, self.log.log_id, entry.virtual_index + 1
            )
            sig = self.log.signer.sign(payload)
        checkpoint = self.checkpoint(view, tamper and self.faults.tamper_checkpoint)
        uuid = entry.uuid
        if self.faults.nameless_tree:
            uuid = entry.leaf_hash.hex()
            checkpoint = self.log.signer.checkpoint(f"{self.log.hostname} - nameless", view.size,
                                                    view.root())
        # A member Rekor may add (an attestation), holding what JSON can escape but no
        # database can store.
        unstorable = ({"attestation": {"data": "\u0000\ud800"}}
                      if entry.virtual_index in self.faults.unstorable_text else {})
        return {
            uuid: {
                **unstorable,
                "body": entry.body_b64,
                "integratedTime": entry.integrated_time,
                "logID": self.log.log_id,
                "logIndex": entry.virtual_index,
                "verification": {
                    "inclusionProof": {
                        "checkpoint": checkpoint,
                        "hashes": [h.hex() for h in hashes],
                        "logIndex": entry.shard_index,  # shard-local, unlike the outer logIndex
                        "rootHash": view.root().hex(),
                        "treeSize": view.size,
                    },
                    "signedEntryTimestamp": base64.b64encode(sig).decode(),
                },
            }
        }

    def _served(self, hit: tuple[VisibleShard, LogEntry] | None
                ) -> tuple[VisibleShard, LogEntry] | None:
        """`hit`, unless the log withholds that entry."""
        hit = self._unhung(hit)
        if hit is not None and hit[1].virtual_index in self.faults.withheld:
            return None
        return hit

    def _unhung(self, hit: tuple[VisibleShard, LogEntry] | None
                ) -> tuple[VisibleShard, LogEntry] | None:
        """`hit`; Unanswered if the log never answers for that entry."""
        if hit is not None and hit[1].virtual_index in self.faults.hung:
            raise Unanswered(hit[1].virtual_index)
        return hit

    def _find_by_index(self, virtual_index: int, endpoint: Endpoint
                       ) -> tuple[VisibleShard, LogEntry] | None:
        served = dict(self.faults.relabel).get(virtual_index)
        if served is not None:
            hit = self._find_by_index(served, endpoint)
            return None if hit is None else (hit[0], self._relabelled(hit[1], virtual_index))
        for view in self.visible_shards(endpoint):
            entry = view.entry(virtual_index - view.shard.offset)
            if entry is not None:
                return view, entry
        return None

    def _relabelled(self, entry: LogEntry, virtual_index: int) -> LogEntry:
        """`entry` claiming virtual index `virtual_index`, under a signed entry timestamp the
        log signs anew over it; its shard index (its inclusion proof) stays its own."""
        payload = set_payload(entry.body_b64, entry.integrated_time, self.log.log_id,
                              virtual_index)
        return dataclasses.replace(entry, virtual_index=virtual_index,
                                   signed_entry_timestamp=self.log.signer.sign(payload))

    def _dated(self, entry: LogEntry) -> LogEntry:
        """`entry` dated back, under a signed entry timestamp the log signs anew over the
        earlier time, if the log backdates it (see Faults.backdate)."""
        earlier = dict(self.faults.backdate).get(entry.virtual_index)
        if earlier is None:
            return entry
        integrated = entry.integrated_time - earlier
        payload = set_payload(entry.body_b64, integrated, self.log.log_id, entry.virtual_index)
        return dataclasses.replace(entry, integrated_time=integrated,
                                   signed_entry_timestamp=self.log.signer.sign(payload))

    def _find_by_uuid(self, uuid: str, endpoint: Endpoint
                      ) -> tuple[VisibleShard, LogEntry] | None:
        uuid = uuid.lower()
        leaf = bytes.fromhex(uuid[-64:])
        tree_id = int(uuid[:16], 16) if len(uuid) == 80 else None
        for view in self.visible_shards(endpoint):
            if tree_id is not None and view.shard.tree_id != tree_id:
                continue
            index = view.shard.by_leaf.get(leaf)
            entry = None if index is None else view.entry(index)
            if entry is not None:
                return view, self._as_labelled(entry)
        return None

    def _as_labelled(self, entry: LogEntry) -> LogEntry:
        """`entry` under the index the log relabels it to, if it does (see Faults.relabel)."""
        asked = next((a for a, s in self.faults.relabel if s == entry.virtual_index), None)
        return entry if asked is None else self._relabelled(entry, asked)

    # -- POST /index/retrieve -------------------------------------------------------------

    def search_index(self, query: object) -> list[str]:
        if not isinstance(query, dict):
            raise ApiError(400, "the search query must be a JSON object")
        operator = query.get("operator", "and")
        if operator not in ("and", "or"):
            raise ApiError(400, f"invalid operator: {operator!r}")
        results: list[set[str]] = []
        if "publicKey" in query:
            results.append(self._uuids(self.log.by_key(_search_key(query["publicKey"])))
                           | set(self.faults.extra_listings))
        if "hash" in query:
            results.append(self._search_hash(query["hash"]))
        if "email" in query or "subject" in query:
            results.append(set())  # identities are not indexed by the test log
        if not results:
            raise ApiError(400, "the search query names no publicKey, hash, email or subject")
        merged = set.intersection(*results) if operator == "and" else set.union(*results)
        return sorted(merged)

    def _search_hash(self, value: object) -> set[str]:
        if not isinstance(value, str):
            raise ApiError(400, "hash must be a string")
        match = _HASH.match(value)
        if match is None:
            if _OTHER_HASH.match(value):
                return set()  # valid, but only SHA-256 digests are indexed here
            raise ApiError(400, f"invalid hash: {value!r}")
        return self._uuids(self.log.by_hash(match.group(2).lower()))

    def _uuids(self, entries: list[LogEntry]) -> set[str]:
        """UUIDs of the entries that the current view serves (the index follows the view)."""
        views = {v.shard.tree_id: v for v in self.visible_shards(Endpoint.SEARCH_INDEX)}
        out = set()
        for entry in entries:
            view = views.get(entry.tree_id)
            if (view is not None and view.entry(entry.shard_index) is entry
                    and entry.virtual_index not in self.faults.unlisted):
                out.add(entry.uuid)
        return out


def _search_key(public_key: object) -> bytes:
    if not isinstance(public_key, dict):
        raise ApiError(400, "publicKey must be an object")
    if public_key.get("format") != "x509":
        raise ApiError(400, "the test log only indexes x509 public keys")
    try:
        pem = base64.b64decode(public_key.get("content", ""), validate=True)
        return bodies.parse_verifier(pem).spki_der
    except ValueError as exc:
        raise ApiError(400, f"invalid x509 public key: {exc}") from None


def _flip(digest: bytes) -> bytes:
    return bytes([digest[0] ^ 0x01]) + digest[1:]
