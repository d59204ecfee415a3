"""A tiled Merkle tree of a signed size and root, verified tile by tile as it is read.

Nothing read from the log is used before it is tied to the signed root (C2SP tlog-tiles,
RFC 9162 §2.1.1):

- the right-edge (partial) tiles are verified together: the root is a function of them alone
  (see `layout.edge_tiles`) and must equal the checkpoint's;
- a full tile is verified by recomputing its 256 hashes up to the one hash it stands for and
  comparing that with the stored hash one level up, itself read from a verified tile;
- an entry bundle is verified by hashing its entries into a level-0 tile (RFC 9162 leaf hashes)
  and checking that tile the same way: level-0 hash tiles are never needed to scan.

From verified tiles the tree answers inclusion proofs (RFC 9162 §2.1.3.1 PATH) and the root of
any earlier size, which is how consistency is checked without a proof endpoint.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from auditor.source.tiles.codec import parse_hash_tile
from auditor.source.tiles.errors import TileFormatError, TileMismatchError
from auditor.source.tiles.layout import (
    ENTRY_LEVEL,
    TILE_HEIGHT,
    TileId,
    edge_tiles,
    tile_at,
)
from auditor.verify.merkle import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash

#: Tile nodes: `nodes[r][k]` is the hash of the complete subtree over tile hashes
#: `k·2^r … (k+1)·2^r - 1`; `nodes[0]` are the tile's hashes, `nodes[height][0]` a full tile's
#: own hash.
TileNodes = list[list[bytes]]


@dataclass(frozen=True)
class TileData:
    """The bytes of one tile or bundle as read, and whether they came from the local cache."""

    tile: TileId
    data: bytes
    cached: bool = False


class TileReader(Protocol):
    """Where a tree's tiles come from (the HTTP client, or a test's dictionary)."""

    def read(self, tiles: Sequence[TileId], *, fresh: bool = False) -> list[TileData]:
        """The tiles, in order; `fresh` bypasses any cache."""
        ...

    def remember(self, data: TileData) -> None:
        """`data` verified: keep it if it is immutable (a full tile or bundle)."""
        ...


def leaf_hashes(entries: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.1 leaf hashes SHA-256(0x00 ‖ entry): a bundle's level-0 tile."""
    return [leaf_hash(entry) for entry in entries]


def tile_nodes(hashes: list[bytes]) -> TileNodes:
    """Every complete subtree over a tile's hashes, bottom-up (RFC 9162 §2.1.1 node hashes)."""
    nodes = [hashes]
    while len(level := nodes[-1]) > 1:
        nodes.append([node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)])
    return nodes


def _fold_root(size: int, perfect: Callable[[int, int], bytes]) -> bytes:
    """MTH(D[0:size]) from its complete subtrees, one per set bit of `size`, high to low.

    RFC 9162 §2.1.1 splits at the largest power of two below n, so the root is
    H(P1, H(P2, … H(Pm-1, Pm))) for those subtrees P1 … Pm.
    """
    if size == 0:
        return EMPTY_ROOT
    parts = []
    start = 0
    for h in range(size.bit_length() - 1, -1, -1):
        if size >> h & 1:
            parts.append(perfect(start, h))
            start += 1 << h
    root = parts[-1]
    for part in reversed(parts[:-1]):
        root = node_hash(part, root)
    return root


class TiledTree:
    """The tree of `size` leaves whose signed root is `root_hash`, read through `reader`.

    Verified tiles are kept in a small LRU (`cache_tiles`) besides the edge tiles, so memory
    does not grow with the log. Not thread-safe: one scan drives one tree.
    """

    def __init__(
        self,
        size: int,
        root_hash: bytes,
        reader: TileReader,
        *,
        height: int = TILE_HEIGHT,
        cache_tiles: int = 64,
    ) -> None:
        if size < 0 or len(root_hash) != HASH_SIZE:
            raise ValueError("a tree needs a size >= 0 and a 32-byte root hash")
        self.size = size
        self.root_hash = root_hash
        self.height = height
        self._reader = reader
        self._width = 1 << height
        self._mask = self._width - 1
        self._verified: OrderedDict[tuple[int, int], TileNodes] = OrderedDict()
        self._cache_tiles = cache_tiles
        self._edge: dict[int, TileNodes] | None = None

    # --- verification ------------------------------------------------------------------------

    def verify_edge(self) -> None:
        """Read the right-edge tiles and check that they hash to the signed root (once)."""
        if self._edge is not None:
            return
        tiles = edge_tiles(self.size, self.height)
        read = self._reader.read(tiles) if tiles else []
        nodes = {d.tile.level: tile_nodes(parse_hash_tile(d.tile, d.data)) for d in read}

        def perfect(start: int, h: int) -> bytes:
            level, r = divmod(h, self.height)
            return nodes[level][r][((start >> (self.height * level)) & self._mask) >> r]

        root = _fold_root(self.size, perfect)
        if root != self.root_hash:
            names = ", ".join(map(str, tiles)) or "no tiles (empty tree)"
            raise TileMismatchError(
                f"right-edge tiles {names} hash to root {root.hex()}, but the checkpoint of "
                f"size {self.size} says {self.root_hash.hex()}"
            )
        self._edge = nodes

    def check_leaf_hashes(self, bundle: TileId, hashes: list[bytes]) -> None:
        """Check the leaf hashes of entry bundle `bundle` against the signed root.

        Raise `TileMismatchError` naming the bundle if they do not hash to it. On success the
        level-0 tile is kept verified, for inclusion proofs of its entries.
        """
        expected_tile = tile_at(self.size, ENTRY_LEVEL, bundle.index, self.height)
        if bundle != expected_tile or len(hashes) != bundle.width:
            raise ValueError(f"{bundle} with {len(hashes)} hashes is not {expected_tile}")
        nodes = tile_nodes(hashes)
        if bundle.width == self._width:
            expected = self.stored_hash(1, bundle.index)
            got = nodes[-1][0]
            if got != expected:
                raise TileMismatchError(
                    f"{bundle}: its entries hash to {got.hex()}, but "
                    f"{self._parent(0, bundle.index)} (verified against the checkpoint root) "
                    f"says {expected.hex()}"
                )
        else:
            self.verify_edge()
            assert self._edge is not None
            edge = self._edge[0][0]
            if hashes != edge:
                first = next(i for i, (a, b) in enumerate(zip(hashes, edge, strict=True)) if a != b)
                raise TileMismatchError(
                    f"{bundle}: entry {bundle.index * self._width + first} has leaf hash "
                    f"{hashes[first].hex()}, but the verified right-edge tile "
                    f"{TileId(0, bundle.index, bundle.width)} says {edge[first].hex()}"
                )
        self._keep((0, bundle.index), nodes)

    def stored_hash(self, level: int, index: int) -> bytes:
        """The verified hash of the complete subtree `index` of level `level` (tlog-tiles)."""
        return self._nodes(level, index >> self.height)[0][index & self._mask]

    # --- what verified tiles prove -------------------------------------------------------------

    def subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range the RFC 9162 recursion produces, from verified tiles."""
        if not 0 <= start < end <= self.size:
            raise ValueError(f"range {start}..{end} is not inside a tree of size {self.size}")
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return self._perfect(start, n.bit_length() - 1)
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self.subtree_hash(start, start + k), self.subtree_hash(start + k, end))

    def inclusion_proof(self, index: int) -> list[bytes]:
        """RFC 9162 §2.1.3.1 PATH(index, D[0:size]), leaf to root."""
        if not 0 <= index < self.size:
            raise ValueError(f"leaf {index} is outside a tree of size {self.size}")
        siblings = []
        start, end = 0, self.size
        while end - start > 1:
            k = 1 << ((end - start - 1).bit_length() - 1)
            if index < start + k:
                siblings.append((start + k, end))
                end = start + k
            else:
                siblings.append((start, start + k))
                start += k
        return [self.subtree_hash(a, b) for a, b in reversed(siblings)]

    def root_at(self, size: int) -> bytes:
        """MTH(D[0:size]) of an earlier (or this) size, from this tree's verified tiles."""
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} is outside 0..{self.size}")
        self.verify_edge()
        return _fold_root(size, self._perfect)

    # --- tiles -----------------------------------------------------------------------------

    def _perfect(self, start: int, h: int) -> bytes:
        """The complete subtree of 2^h leaves at `start` (aligned), from its verified tile."""
        level, r = divmod(h, self.height)
        j = start >> (self.height * level)
        return self._nodes(level, j >> self.height)[r][(j & self._mask) >> r]

    def _nodes(self, level: int, index: int) -> TileNodes:
        """The nodes of hash tile (`level`, `index`), read and verified if not yet."""
        hit = self._verified.get((level, index))
        if hit is not None:
            self._verified.move_to_end((level, index))
            return hit
        tile = tile_at(self.size, level, index, self.height)
        if tile.width < self._width:  # partial: an edge tile
            self.verify_edge()
            assert self._edge is not None
            return self._edge[level]
        expected = self.stored_hash(level + 1, index)
        data = self._reader.read([tile])[0]
        try:
            nodes = self._check_full(tile, data.data, expected)
        except (TileFormatError, TileMismatchError):
            if not data.cached:
                raise
            # A cached copy that no longer verifies is never trusted: read the log again.
            data = self._reader.read([tile], fresh=True)[0]
            nodes = self._check_full(tile, data.data, expected)
        self._reader.remember(data)
        self._keep((level, index), nodes)
        return nodes

    def _check_full(self, tile: TileId, data: bytes, expected: bytes) -> TileNodes:
        nodes = tile_nodes(parse_hash_tile(tile, data))
        if nodes[-1][0] != expected:
            raise TileMismatchError(
                f"{tile}: its hashes hash to {nodes[-1][0].hex()}, but "
                f"{self._parent(tile.level, tile.index)} (verified against the checkpoint root) "
                f"says {expected.hex()}"
            )
        return nodes

    def _parent(self, level: int, index: int) -> TileId:
        """The tile holding the stored hash that level-`level` tile `index` stands for."""
        return tile_at(self.size, level + 1, index >> self.height, self.height)

    def _keep(self, key: tuple[int, int], nodes: TileNodes) -> None:
        self._verified[key] = nodes
        self._verified.move_to_end(key)
        while len(self._verified) > self._cache_tiles:
            self._verified.popitem(last=False)

