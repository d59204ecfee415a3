"""The bytes of hash tiles and entry bundles (C2SP tlog-tiles), parsed strictly.

A hash tile is `width` concatenated 32-byte hashes; an entry bundle is `width` entries, each a
big-endian uint16 length and then that many bytes. Anything else (a wrong length, a truncated
bundle, an entry too many or too few, trailing bytes) is a `TileFormatError` naming the tile.
"""

from __future__ import annotations

from auditor.source.tiles.errors import TileFormatError
from auditor.source.tiles.layout import TileId
from auditor.verify.merkle import HASH_SIZE

#: An entry's length, a big-endian uint16: no entry is longer than MAX_BUNDLE_ENTRY bytes.
BUNDLE_LENGTH_PREFIX = 2
MAX_BUNDLE_ENTRY = (1 << 8 * BUNDLE_LENGTH_PREFIX) - 1


def parse_hash_tile(tile: TileId, data: bytes) -> list[bytes]:
    """The hashes of hash tile `tile`, exactly `tile.width` of them."""
    expected = tile.width * HASH_SIZE
    if len(data) != expected:
        raise TileFormatError(
            f"{tile}: a tile of {tile.width} hashes is {expected} bytes, got {len(data)}"
        )
    return [data[i : i + HASH_SIZE] for i in range(0, expected, HASH_SIZE)]


def parse_entry_bundle(tile: TileId, data: bytes) -> list[bytes]:
    """The entries of entry bundle `tile`, exactly `tile.width` of them and nothing after."""
    entries = _read_entries(tile, data, tile.width)
    if len(entries) < tile.width:
        raise TileFormatError(f"{tile}: bundle holds {len(entries)} entries, expected {tile.width}")
    end = _entries_end(entries)
    if end != len(data):
        raise TileFormatError(
            f"{tile}: bundle holds more than {tile.width} entries ({len(data) - end} bytes "
            f"follow entry {tile.width - 1})"
        )
    return entries


def bundle_prefix(tile: TileId, full_bundle: bytes, width: int) -> bytes:
    """The first `width` entries of full bundle `tile`, encoded: a partial bundle's bytes.

    tlog-tiles lets a log drop a partial tile once the full one exists; the partial bundle a
    checkpoint needs is then a prefix of the full one.
    """
    entries = _read_entries(tile, full_bundle, width)
    if len(entries) < width:
        raise TileFormatError(f"{tile}: bundle holds {len(entries)} entries, expected {width}")
    return full_bundle[: _entries_end(entries)]


def _read_entries(tile: TileId, data: bytes, limit: int) -> list[bytes]:
    """Up to `limit` length-prefixed entries from the start of `data`."""
    entries: list[bytes] = []
    offset, size = 0, len(data)
    while offset < size and len(entries) < limit:
        if offset + BUNDLE_LENGTH_PREFIX > size:
            raise TileFormatError(
                f"{tile}: bundle is truncated inside the length of entry {len(entries)} "
                f"(offset {offset})"
            )
        length = int.from_bytes(data[offset : offset + BUNDLE_LENGTH_PREFIX], "big")
        start = offset + BUNDLE_LENGTH_PREFIX
        offset = start + length
        if offset > size:
            raise TileFormatError(
                f"{tile}: entry {len(entries)} claims {length} bytes at offset {start}, past "
                f"the bundle's end ({size} bytes)"
            )
        entries.append(data[start:offset])
    return entries


def _entries_end(entries: list[bytes]) -> int:
    return sum(len(entry) for entry in entries) + BUNDLE_LENGTH_PREFIX * len(entries)
