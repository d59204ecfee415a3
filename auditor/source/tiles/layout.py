"""Where a tiled log keeps its hashes and entries, and which tiles a tree size is made of.

C2SP tlog-tiles: the hash tile `<L>/<N>` holds the stored hashes `N·256 … N·256+255` of level
`L`, where the stored hash `j` of level `L` is MTH(D[j·256^L : (j+1)·256^L]); entry bundle `N`
holds the entries of level-0 tile `N`. Only the rightmost tile of each level may be partial.
Coordinates follow golang.org/x/mod/sumdb/tlog, where entry bundles are "level -1" tiles.

The geometry functions take the tile height (8 in every real log: 256 hashes per tile) so
that the same code can be checked on small trees with short tiles, where every level appears.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from auditor.source.tiles.errors import TileFormatError

#: tlog-tiles: full tiles are 256 hashes (a subtree of height 8) wide.
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
#: The level of entry bundles in tile coordinates (golang.org/x/mod/sumdb/tlog's L = -1).
ENTRY_LEVEL = -1
#: tlog-tiles: `<L>` is a decimal between 0 and 63.
MAX_LEVEL = 63

_INDEX_GROUP = 1000
_TILE_PATH = re.compile(
    r"tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<groups>(?:x[0-9]{3}/)*)(?P<last>[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


@dataclass(frozen=True, order=True)
class TileId:
    """One hash tile (`level` ≥ 0) or entry bundle (`level` = ENTRY_LEVEL) of a given width."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not ENTRY_LEVEL <= self.level <= MAX_LEVEL:
            raise ValueError(f"tile level {self.level} is outside {ENTRY_LEVEL}..{MAX_LEVEL}")
        if self.index < 0:
            raise ValueError(f"tile index {self.index} is negative")
        if not 1 <= self.width <= TILE_WIDTH:
            raise ValueError(f"tile width {self.width} is outside 1..{TILE_WIDTH}")

    @property
    def is_bundle(self) -> bool:
        return self.level == ENTRY_LEVEL

    @property
    def is_full(self) -> bool:
        return self.width == TILE_WIDTH

    def full(self) -> TileId:
        """The full tile this (partial) tile is a prefix of."""
        return TileId(self.level, self.index)

    @property
    def path(self) -> str:
        """The resource path below the log prefix, e.g. `tile/entries/x001/234.p/5`."""
        level = "entries" if self.is_bundle else str(self.level)
        suffix = "" if self.is_full else f".p/{self.width}"
        return f"tile/{level}/{encode_tile_index(self.index)}{suffix}"

    def __str__(self) -> str:
        return self.path


def encode_tile_index(index: int) -> str:
    """tlog-tiles: zero-padded 3-digit groups, all but the last with an `x` (`x001/x234/067`)."""
    if index < 0:
        raise ValueError(f"tile index {index} is negative")
    groups = [index % _INDEX_GROUP]
    index //= _INDEX_GROUP
    while index:
        groups.append(index % _INDEX_GROUP)
        index //= _INDEX_GROUP
    *upper, last = reversed(groups)
    return "".join(f"x{group:03d}/" for group in upper) + f"{last:03d}"


def parse_tile_path(path: str) -> TileId:
    """The tile a resource path names; raise `TileFormatError` unless it is the one spelling."""
    match = _TILE_PATH.fullmatch(path)
    if match is None:
        raise TileFormatError(f"{path!r} is not a tlog-tiles tile path")
    groups = [int(g[1:]) for g in match["groups"].split("/")[:-1]]
    if groups and groups[0] == 0:
        # Leading zero groups would give one tile two paths.
        raise TileFormatError(f"{path!r}: tile index has a leading zero group")
    index = 0
    for group in (*groups, int(match["last"])):
        index = index * _INDEX_GROUP + group
    level = ENTRY_LEVEL if match["level"] == "entries" else int(match["level"])
    width = TILE_WIDTH if match["width"] is None else int(match["width"])
    if level > MAX_LEVEL or (match["width"] is not None and width >= TILE_WIDTH):
        raise TileFormatError(f"{path!r}: level or partial width out of range")
    return TileId(level, index, width)


# --- tree geometry ---------------------------------------------------------------------------


def stored_hash_count(size: int, level: int, height: int = TILE_HEIGHT) -> int:
    """How many complete level-`level` subtrees (stored hashes) a tree of `size` leaves has."""
    return size >> (height * level)


def tile_width(size: int, level: int, index: int, height: int = TILE_HEIGHT) -> int:
    """Width of tile (`level`, `index`) in a tree of `size` leaves; 0 if the tree has none.

    Entry bundles (ENTRY_LEVEL) are as wide as the level-0 tile of the same index.
    """
    width = 1 << height
    count = stored_hash_count(size, max(level, 0), height) - index * width
    return max(0, min(width, count))


def tile_at(size: int, level: int, index: int, height: int = TILE_HEIGHT) -> TileId:
    """Tile (`level`, `index`) as it exists in a tree of `size` leaves (full or partial)."""
    width = tile_width(size, level, index, height)
    if width == 0:
        raise ValueError(f"a tree of size {size} has no tile {level}/{index}")
    return TileId(level, index, width)


def edge_tiles(size: int, height: int = TILE_HEIGHT) -> list[TileId]:
    """The partial tiles at the right edge of a tree of `size` leaves, level 0 upwards.

    The root is a function of these alone: bit `h` of the size is a complete subtree of
    2^h leaves, which is 2^(h mod height) consecutive hashes of the level-(h div height) edge
    tile (tlog-tiles "Partial Tiles": that tile has floor(size / 256^L) mod 256 hashes).
    """
    width = 1 << height
    tiles = []
    level = 0
    while (count := stored_hash_count(size, level, height)) > 0:
        if count % width:
            tiles.append(TileId(level, count // width, count % width))
        level += 1
    return tiles


def bundles_covering(start: int, end: int, size: int) -> Iterator[TileId]:
    """The entry bundles, as they exist in a tree of `size` leaves, that hold `start … end-1`."""
    if not 0 <= start <= end <= size:
        raise ValueError(f"range {start}..{end} is not inside a tree of size {size}")
    if start == end:
        return
    for index in range(start // TILE_WIDTH, (end - 1) // TILE_WIDTH + 1):
        yield tile_at(size, ENTRY_LEVEL, index)
