"""Scan a range of a tiled log for entries signed under pinned keys, one verified bundle at a time.

Rekor v2 has no search index and no get-by-index: the only way to know what a key signed is to
read every entry. The scanner reads the entry bundles of a verified checkpoint's tree in order
(prefetched in parallel), checks each bundle against the signed root before looking inside it
(`TiledTree.check_leaf_hashes`), and yields one `ScanBatch` per bundle: the matching entries
with an RFC 9162 inclusion proof and the checkpoint, and the entries that do not parse. A
caller stores a batch's matches together with `batch.end` as its new scan position; a scan
resumes from any index. Memory is bounded by the prefetch window, not by the log.
"""

from __future__ import annotations

import base64
from collections.abc import Generator
from dataclasses import dataclass

from auditor.source.entry import InclusionProof, LogEntry
from auditor.source.tiles.client import TileClient
from auditor.source.tiles.codec import parse_entry_bundle
from auditor.source.tiles.errors import TileFormatError, TileMismatchError
from auditor.source.tiles.layout import TILE_WIDTH, TileId, bundles_covering
from auditor.source.tiles.rekor_v2 import KeyMatcher, UnparsableEntryError
from auditor.source.tiles.tree import TileData, TiledTree, leaf_hashes
from auditor.verify.checkpoint import Checkpoint


@dataclass(frozen=True)
class MatchedEntry:
    """An entry under a pinned key, with what verifying it needs (RFC 9162 §2.1.3)."""

    index: int
    #: The entry exactly as logged (its RFC 9162 leaf hash is sha256(0x00 ‖ entry)).
    entry: bytes
    kind: str
    #: SHA-256 of each pinned key (DER SPKI) among the entry's verifiers.
    key_sha256: tuple[bytes, ...]
    #: Inclusion in the checkpoint's tree; `proof.checkpoint` is the signed note's text.
    proof: InclusionProof

    def log_entry(self, log_id: bytes) -> LogEntry:
        """The entry as `auditor.verify.entry.verify_entry` takes it, like a Rekor v2 bundle's.

        `log_id` is the log's C2SP key id (`auditor.verify.trust.c2sp_key_id`), which
        Rekor v2 bundles carry as `logId.keyId`.
        """
        return LogEntry(
            rekor_version=2,
            uuid=None,
            body=self.entry,
            body_text=base64.b64encode(self.entry).decode("ascii"),
            integrated_time=None,
            log_id=log_id,
            log_index=self.index,
            proof=self.proof,
            signed_entry_timestamp=None,
        )


@dataclass(frozen=True)
class UnparsableEntry:
    index: int
    reason: str


@dataclass(frozen=True)
class ScanBatch:
    """Entries `start … end-1` of one verified bundle: every one was read and counted."""

    bundle: TileId
    start: int
    end: int
    matches: tuple[MatchedEntry, ...]
    unparsable: tuple[UnparsableEntry, ...]

    @property
    def scanned(self) -> int:
        return self.end - self.start


class Scanner:
    def __init__(self, client: TileClient, matcher: KeyMatcher) -> None:
        self.client = client
        self.matcher = matcher
        self._tree: TiledTree | None = None

    def tree(self, checkpoint: Checkpoint) -> TiledTree:
        """The tree of the verified `checkpoint`, kept while scans use that checkpoint: scans of
        consecutive ranges read the right edge and the upper tiles once, not once per range."""
        tree = self._tree
        if tree is None or (tree.size, tree.root_hash) != (checkpoint.size, checkpoint.root_hash):
            tree = self._tree = TiledTree(checkpoint.size, checkpoint.root_hash, self.client)
        return tree

    def scan(
        self, checkpoint: Checkpoint, start: int = 0, end: int | None = None
    ) -> Generator[ScanBatch, None, None]:
        """Batches covering entries `start … end-1` (default: to the checkpoint's size), in order.

        `checkpoint` must already be verified. Raises `TileMismatchError` or `TileFormatError`
        naming the first bundle or tile that does not verify; the batches before it stand. A
        caller that stops early should `close()` the generator: that cancels the prefetches.
        """
        end = checkpoint.size if end is None else end
        if not 0 <= start <= end <= checkpoint.size:
            raise ValueError(f"scan range {start}..{end} is outside 0..{checkpoint.size}")
        if start == end:
            return
        tree = self.tree(checkpoint)
        tree.verify_edge()
        for data in self.client.stream(bundles_covering(start, end, checkpoint.size)):
            entries = self._verified_entries(tree, data)
            first = data.tile.index * TILE_WIDTH
            yield self._batch(tree, checkpoint, data.tile, entries, max(start, first),
                              min(end, first + data.tile.width))

    def _verified_entries(self, tree: TiledTree, data: TileData) -> list[bytes]:
        try:
            entries = self._check(tree, data)
        except (TileFormatError, TileMismatchError):
            if not data.cached:
                raise
            # A cached bundle that no longer verifies is never trusted: read the log again.
            data = self.client.read([data.tile], fresh=True)[0]
            entries = self._check(tree, data)
        self.client.remember(data)
        return entries

    @staticmethod
    def _check(tree: TiledTree, data: TileData) -> list[bytes]:
        entries = parse_entry_bundle(data.tile, data.data)
        tree.check_leaf_hashes(data.tile, leaf_hashes(entries))
        return entries

    def _batch(self, tree: TiledTree, checkpoint: Checkpoint, bundle: TileId,
               entries: list[bytes], start: int, end: int) -> ScanBatch:
        first = bundle.index * TILE_WIDTH
        matches, unparsable = [], []
        for index in range(start, end):
            entry = entries[index - first]
            try:
                match = self.matcher.match(entry)
            except UnparsableEntryError as error:
                unparsable.append(UnparsableEntry(index, str(error)))
                continue
            if match is None:
                continue
            proof = InclusionProof(
                log_index=index,
                tree_size=checkpoint.size,
                root_hash=checkpoint.root_hash,
                hashes=tuple(tree.inclusion_proof(index)),
                checkpoint=checkpoint.raw,
            )
            matches.append(MatchedEntry(index, entry, match.kind, match.key_sha256, proof))
        return ScanBatch(bundle, start, end, tuple(matches), tuple(unparsable))
