"""Tile math against the RFC 6962 reference tree: every size, partial tiles, every level.

Tiles of height 1 to 3 make every level appear in trees of a few thousand leaves; height 8
(the real 256-wide tiles) is checked on sizes around the level boundaries up to level 2.
"""

from __future__ import annotations

import random

import pytest
from tiles_reference import ReferenceReader, ReferenceTree

from auditor.source.tiles.errors import TileFormatError, TileMismatchError
from auditor.source.tiles.layout import ENTRY_LEVEL, TileId, edge_tiles, tile_at
from auditor.source.tiles.tree import TiledTree, leaf_hashes, tile_nodes
from auditor.verify.merkle import EMPTY_ROOT, leaf_hash, verify_consistency, verify_inclusion

REFERENCE = ReferenceTree([b"entry %d" % i for i in range(70_000)])


def _tree(size: int, height: int) -> tuple[TiledTree, ReferenceReader]:
    reader = ReferenceReader(REFERENCE, height)
    return TiledTree(size, REFERENCE.root(size), reader, height=height), reader


def _check_everything(size: int, height: int, indexes: list[int], sizes: list[int]) -> None:
    tree, reader = _tree(size, height)
    tree.verify_edge()
    for m in sizes:
        assert tree.root_at(m) == REFERENCE.root(m), (size, height, m)
    for i in indexes:
        proof = tree.inclusion_proof(i)
        assert proof == REFERENCE.path(i, size), (size, height, i)
        verify_inclusion(i, size, REFERENCE.leaf(i), proof, REFERENCE.root(size))
    # Every tile read had the width the tree of this size gives it.
    for tile in reader.reads:
        assert tile == tile_at(size, tile.level, tile.index, height)


@pytest.mark.parametrize("height", [1, 2, 3])
def test_every_size_every_leaf_and_every_earlier_root_with_short_tiles(height: int) -> None:
    for size in range(0, 130):
        _check_everything(size, height, list(range(size)), list(range(size + 1)))


@pytest.mark.parametrize("height", [1, 2, 3])
def test_larger_trees_reach_every_level_with_short_tiles(height: int) -> None:
    rng = random.Random(height)
    for size in [255, 256, 257, 511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097, 5000]:
        indexes = [0, size - 1, *rng.sample(range(size), 20)]
        sizes = [0, 1, size, *rng.sample(range(size), 20)]
        _check_everything(size, height, indexes, sizes)
    # A height-1 tree of 4097 leaves has 13 levels of tiles, each one used above.
    assert max(t.level for t in edge_tiles(4097, 1)) == 12


@pytest.mark.parametrize(
    "size", [1, 2, 255, 256, 257, 300, 511, 512, 1000, 65_535, 65_536, 65_537, 70_000]
)
def test_real_tile_height_around_level_boundaries(size: int) -> None:
    rng = random.Random(size)
    indexes = sorted({0, size - 1, size // 2, *rng.sample(range(size), min(size, 10))})
    sizes = sorted({0, 1, size - 1, size, 256, 65_536, *rng.sample(range(size), min(size, 10))})
    _check_everything(size, 8, indexes, [m for m in sizes if m <= size])


def test_tlog_tiles_example_of_size_70000() -> None:
    # tlog-tiles "Partial Tiles": 273 full level-0 tiles, a partial one of width 112, one full
    # level-1 tile, a partial one of width 17 and a partial level-2 tile of width 1.
    assert edge_tiles(70_000) == [TileId(0, 273, 112), TileId(1, 1, 17), TileId(2, 0, 1)]
    assert tile_at(70_000, 0, 272) == TileId(0, 272)
    assert tile_at(70_000, 1, 0) == TileId(1, 0)
    assert edge_tiles(256) == [TileId(1, 0, 1)]


def test_consistency_between_any_two_sizes_from_the_later_trees_tiles() -> None:
    for old in range(0, 80):
        for new in range(old, 80):
            tree, _ = _tree(new, 2)
            root = tree.root_at(old)
            assert root == REFERENCE.root(old)
            verify_consistency(old, new, root, tree.root_hash, REFERENCE.proof(old, new))


def test_empty_tree() -> None:
    reader = ReferenceReader(REFERENCE, 8)
    TiledTree(0, EMPTY_ROOT, reader).verify_edge()
    with pytest.raises(TileMismatchError, match="no tiles"):
        TiledTree(0, REFERENCE.root(1), reader).verify_edge()
    assert not reader.reads


def test_a_wrong_root_is_reported_with_the_edge_tiles() -> None:
    reader = ReferenceReader(REFERENCE, 8)
    tree = TiledTree(70_000, REFERENCE.root(69_999), reader)
    with pytest.raises(TileMismatchError) as error:
        tree.verify_edge()
    message = str(error.value)
    assert "tile/0/273.p/112, tile/1/001.p/17, tile/2/000.p/1" in message
    assert REFERENCE.root(69_999).hex() in message


def test_a_tampered_edge_tile_fails_the_root() -> None:
    tree, reader = _tree(70_000, 8)
    edge = TileId(1, 1, 17)
    good = reader.read([edge])[0].data
    reader.tampered[edge] = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(TileMismatchError, match="right-edge tiles"):
        tree.inclusion_proof(5)


@pytest.mark.parametrize("tile", [TileId(1, 0), TileId(0, 3)])
def test_a_tampered_full_tile_is_named(tile: TileId) -> None:
    tree, reader = _tree(70_000, 8)
    good = reader.read([tile])[0].data
    reader.tampered[tile] = bytes([good[0] ^ 0x80]) + good[1:]
    with pytest.raises(TileMismatchError) as error:
        tree.inclusion_proof(3 * 256 + 7)
    assert str(error.value).startswith(f"{tile}: ")
    # The tile it was checked against is named too.
    parent = "tile/1/000" if tile.level == 0 else "tile/2/000.p/1"
    assert parent in str(error.value)


def test_a_tile_of_the_wrong_length_is_a_format_error() -> None:
    tree, reader = _tree(70_000, 8)
    tile = TileId(0, 3)
    reader.tampered[tile] = reader.read([tile])[0].data + b"\0" * 32
    with pytest.raises(TileFormatError, match=r"^tile/0/003: a tile of 256 hashes is 8192 bytes, "
                       r"got 8224$"):
        tree.inclusion_proof(3 * 256)


def test_verified_full_tiles_are_remembered_and_a_bad_cached_copy_is_refetched() -> None:
    tree, reader = _tree(70_000, 8)
    proof = tree.inclusion_proof(1000)
    assert set(reader.cache) == {TileId(1, 0), TileId(0, 3)}  # never a partial tile
    reads = sum(reader.reads.values())

    tree2 = TiledTree(70_000, REFERENCE.root(70_000), reader)
    assert tree2.inclusion_proof(1000) == proof
    # Only the edge tiles were fetched again; both full tiles came from the cache.
    assert sum(reader.reads.values()) == reads + 3
    assert not reader.fresh_reads

    reader.cache_override[TileId(0, 3)] = b"\0" * 8192
    tree3 = TiledTree(70_000, REFERENCE.root(70_000), reader)
    assert tree3.inclusion_proof(1000) == proof
    assert reader.fresh_reads == {TileId(0, 3): 1}


def test_a_bad_cached_copy_and_a_bad_log_copy_is_an_error() -> None:
    tree, reader = _tree(70_000, 8)
    tree.inclusion_proof(1000)
    tile = TileId(0, 3)
    reader.cache_override[tile] = b"\1" * 8192
    reader.tampered[tile] = b"\2" * 8192
    with pytest.raises(TileMismatchError, match=r"^tile/0/003: "):
        TiledTree(70_000, REFERENCE.root(70_000), reader).inclusion_proof(1000)


def _bundle_hashes(tile: TileId) -> list[bytes]:
    first = tile.index * 256
    return leaf_hashes([REFERENCE.entries[i] for i in range(first, first + tile.width)])


def test_entry_bundles_are_checked_without_level_0_tiles() -> None:
    tree, reader = _tree(70_000, 8)
    for index in range(274):
        bundle = tile_at(70_000, ENTRY_LEVEL, index)
        tree.check_leaf_hashes(bundle, _bundle_hashes(bundle))
    # Level-1 and level-2 tiles and the edge, never a full level-0 tile.
    assert {t for t in reader.reads if t.level == 0} == {TileId(0, 273, 112)}
    assert sorted(reader.reads) == sorted([TileId(0, 273, 112), TileId(1, 0), TileId(1, 1, 17),
                                           TileId(2, 0, 1)])
    # A checked bundle's tile serves inclusion proofs without a read.
    before = sum(reader.reads.values())
    assert tree.inclusion_proof(273 * 256 + 5) == REFERENCE.path(273 * 256 + 5, 70_000)
    assert sum(reader.reads.values()) == before


@pytest.mark.parametrize("index", [0, 200, 273])
def test_a_bundle_with_one_wrong_entry_is_named(index: int) -> None:
    tree, _ = _tree(70_000, 8)
    bundle = tile_at(70_000, ENTRY_LEVEL, index)
    hashes = _bundle_hashes(bundle)
    hashes[7] = leaf_hash(b"not the logged entry")
    with pytest.raises(TileMismatchError) as error:
        tree.check_leaf_hashes(bundle, hashes)
    assert str(error.value).startswith(f"{bundle}: ")


def test_tile_nodes_are_the_complete_subtrees() -> None:
    hashes = [leaf_hash(b"%d" % i) for i in range(5)]
    nodes = tile_nodes(hashes)
    assert [len(level) for level in nodes] == [5, 2, 1]
    reference = ReferenceTree([b"%d" % i for i in range(5)])
    assert nodes[1] == [reference.mth(0, 2), reference.mth(2, 4)]
    assert nodes[2] == [reference.mth(0, 4)]
