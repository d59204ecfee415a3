"""Tile paths (C2SP tlog-tiles) and the tile and bundle formats, parsed strictly."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.source.tiles.codec import bundle_prefix, parse_entry_bundle, parse_hash_tile
from auditor.source.tiles.errors import TileFormatError
from auditor.source.tiles.layout import (
    ENTRY_LEVEL,
    TileId,
    bundles_covering,
    encode_tile_index,
    parse_tile_path,
    tile_width,
)


@pytest.mark.parametrize(
    ("index", "encoded"),
    [
        (0, "000"),
        (5, "005"),
        (999, "999"),
        (1000, "x001/000"),
        (1234067, "x001/x234/067"),  # the spec's example
        (10**9, "x001/x000/x000/000"),
    ],
)
def test_index_encoding(index: int, encoded: str) -> None:
    assert encode_tile_index(index) == encoded


@pytest.mark.parametrize(
    ("tile", "path"),
    [
        (TileId(0, 1234067), "tile/0/x001/x234/067"),
        (TileId(0, 1234067, 8), "tile/0/x001/x234/067.p/8"),
        (TileId(ENTRY_LEVEL, 5, 255), "tile/entries/005.p/255"),
        (TileId(63, 0, 1), "tile/63/000.p/1"),
    ],
)
def test_paths(tile: TileId, path: str) -> None:
    assert tile.path == str(tile) == path
    assert parse_tile_path(path) == tile


@given(st.integers(-1, 63), st.integers(0, 2**60), st.integers(1, 256))
def test_every_tile_path_parses_back(level: int, index: int, width: int) -> None:
    tile = TileId(level, index, width)
    assert parse_tile_path(tile.path) == tile


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/5",  # not three digits
        "tile/0/x000/005",  # a leading zero group: a second spelling of 005
        "tile/0/001/234",  # an inner group without its x
        "tile/00/000",
        "tile/64/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/07",
        "tile/entries/000.p/",
        "/tile/0/000",
        "tile/0/000/",
        "tile/-1/000",
    ],
)
def test_other_spellings_are_refused(path: str) -> None:
    with pytest.raises(TileFormatError, match="tile"):
        parse_tile_path(path)


def test_bundles_covering_a_range() -> None:
    assert list(bundles_covering(0, 0, 0)) == []
    assert list(bundles_covering(10, 600, 700)) == [
        TileId(ENTRY_LEVEL, 0), TileId(ENTRY_LEVEL, 1), TileId(ENTRY_LEVEL, 2, 188)
    ]
    assert list(bundles_covering(512, 513, 513)) == [TileId(ENTRY_LEVEL, 2, 1)]
    assert tile_width(513, ENTRY_LEVEL, 2) == 1
    with pytest.raises(ValueError):
        list(bundles_covering(5, 700, 600))


def _bundle(entries: list[bytes]) -> bytes:
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


ENTRIES = [b"", b"a", b"x" * 300, b"\0" * 65535]


def test_bundle_round_trip() -> None:
    tile = TileId(ENTRY_LEVEL, 7, 4)
    assert parse_entry_bundle(tile, _bundle(ENTRIES)) == ENTRIES
    assert bundle_prefix(tile.full(), _bundle(ENTRIES), 2) == _bundle(ENTRIES[:2])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_bundle(ENTRIES)[:-1], "entry 3 claims 65535 bytes at offset 309, past the bundle's "
         "end \\(65843 bytes\\)"),
        (_bundle(ENTRIES[:3]) + b"\x01", "bundle is truncated inside the length of entry 3"),
        (_bundle(ENTRIES[:3]), "bundle holds 3 entries, expected 4"),
        (_bundle([*ENTRIES, b"more"]), "bundle holds more than 4 entries \\(6 bytes follow "
         "entry 3\\)"),
        (b"", "bundle holds 0 entries, expected 4"),
        (b"\xff\xff", "entry 0 claims 65535 bytes at offset 2"),
    ],
)
def test_malformed_bundles_name_the_bundle(data: bytes, message: str) -> None:
    with pytest.raises(TileFormatError, match=f"^tile/entries/007.p/4: {message}"):
        parse_entry_bundle(TileId(ENTRY_LEVEL, 7, 4), data)


def test_hash_tiles() -> None:
    hashes = [hashlib.sha256(b"%d" % i).digest() for i in range(3)]
    tile = TileId(2, 1, 3)
    assert parse_hash_tile(tile, b"".join(hashes)) == hashes
    for data in (b"".join(hashes)[:-1], b"".join(hashes) + b"\0", b""):
        with pytest.raises(TileFormatError, match=r"^tile/2/001\.p/3: a tile of 3 hashes is 96"):
            parse_hash_tile(tile, data)


def test_tile_ids_refuse_impossible_coordinates() -> None:
    for level, index, width in [(-2, 0, 1), (64, 0, 1), (0, -1, 1), (0, 0, 0), (0, 0, 257)]:
        with pytest.raises(ValueError):
            TileId(level, index, width)
