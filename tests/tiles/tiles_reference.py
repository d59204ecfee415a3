"""Tiles of the RFC 6962 reference tree (tests/verify/test_merkle.py), for any tile height.

Written from the tlog-tiles definition alone: the stored hash `j` of level `L` is
MTH(D[j·W^L : (j+1)·W^L]) with W = 2^height, taken from the reference tree's MTH; a tile is
its stored hashes concatenated. Shares nothing with `auditor.source.tiles` but the TileId type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from auditor.source.tiles.layout import ENTRY_LEVEL, TileId
from auditor.source.tiles.tree import TileData
from tests.verify.test_merkle import ReferenceTree

__all__ = ["ReferenceReader", "ReferenceTree", "reference_tile"]


def reference_tile(tree: ReferenceTree, tile: TileId, height: int) -> bytes:
    width = 1 << height
    span = width**tile.level
    first = tile.index * width
    return b"".join(
        tree.mth((first + i) * span, (first + i + 1) * span) for i in range(tile.width)
    )


class ReferenceReader:
    """A `TileReader` over the reference tree, with a fake cache and read counters.

    `tampered` maps tiles to the bytes served instead; `cache` holds what `remember` kept,
    and `cache_override` what a "disk" returns instead of it (a corrupted cache file).
    """

    def __init__(self, tree: ReferenceTree, height: int) -> None:
        self.tree = tree
        self.height = height
        self.tampered: dict[TileId, bytes] = {}
        self.cache: dict[TileId, bytes] = {}
        self.cache_override: dict[TileId, bytes] = {}
        self.reads: Counter[TileId] = Counter()
        self.fresh_reads: Counter[TileId] = Counter()

    def read(self, tiles: Sequence[TileId], *, fresh: bool = False) -> list[TileData]:
        out = []
        for tile in tiles:
            assert tile.level != ENTRY_LEVEL, "hash tiles only"
            if not fresh and tile in self.cache:
                out.append(TileData(tile, self.cache_override.get(tile, self.cache[tile]), True))
                continue
            (self.fresh_reads if fresh else self.reads)[tile] += 1
            if tile in self.tampered:
                data = self.tampered[tile]
            else:
                data = reference_tile(self.tree, tile, self.height)
            out.append(TileData(tile, data, False))
        return out

    def remember(self, data: TileData) -> None:
        if data.tile.width == 1 << self.height:
            self.cache[data.tile] = data.data
