"""The tile client: order, bounded parallelism, partial-tile fallback, and the on-disk cache.

The fetcher here is a dictionary of URLs with random delays (the network, not the client);
the client over real HTTP is exercised by the scanner and history tests.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from auditor.http_client import ResponseTooLarge
from auditor.source.tiles import TileCache, TileClient, TileFormatError, TileMissingError
from auditor.source.tiles.layout import ENTRY_LEVEL, TileId


class DictFetcher:
    def __init__(self, resources: dict[str, bytes], *, delay: float = 0.0) -> None:
        self.resources = resources
        self.delay = delay
        self.calls: list[str] = []
        self.active = self.most_active = 0
        self._lock = threading.Lock()
        self._rng = random.Random(7)

    def get(self, url: str, *, max_bytes: int) -> bytes | None:
        with self._lock:
            self.calls.append(url)
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            pause = self._rng.random() * self.delay
        time.sleep(pause)
        with self._lock:
            self.active -= 1
        body = self.resources.get(url)
        if body is not None and len(body) > max_bytes:
            raise ResponseTooLarge(f"GET {url}: larger than {max_bytes} bytes")
        return body


PREFIX = "https://log.example/api/v2"


def _bundles(count: int) -> dict[str, bytes]:
    return {f"{PREFIX}/{TileId(ENTRY_LEVEL, i).path}": b"bundle %d" % i for i in range(count)}


def test_stream_keeps_order_and_bounds_what_is_in_flight() -> None:
    fetcher = DictFetcher(_bundles(100), delay=0.01)
    with TileClient(PREFIX + "/", fetcher, parallelism=4) as client:
        tiles = [TileId(ENTRY_LEVEL, i) for i in range(100)]
        consumed = 0
        for data in client.stream(tiles):
            assert data.data == b"bundle %d" % data.tile.index
            assert data.tile.index == consumed
            consumed += 1
            # Never more than two windows' worth requested ahead of the consumer.
            assert len(fetcher.calls) <= consumed + 2 * 4
        assert fetcher.most_active <= 4
        assert client.requests["bundle"] == 100


def test_read_returns_in_order_and_a_missing_tile_is_incomplete() -> None:
    fetcher = DictFetcher(_bundles(10), delay=0.005)
    with TileClient(PREFIX, fetcher) as client:
        tiles = [TileId(ENTRY_LEVEL, i) for i in (5, 1, 9, 0)]
        assert [d.data for d in client.read(tiles)] == [b"bundle 5", b"bundle 1", b"bundle 9",
                                                        b"bundle 0"]
        with pytest.raises(TileMissingError, match=r"tile/entries/011: the log does not serve "
                           r"tile/entries/011 \(404\)"):
            client.read([TileId(ENTRY_LEVEL, 11)])


def test_a_dropped_partial_tile_is_cut_from_the_full_one() -> None:
    full_tile = bytes(range(256)) * 32
    entries = b"".join(len(e).to_bytes(2, "big") + e for e in [b"a", b"bb", b"ccc"] * 86)[:-5]
    fetcher = DictFetcher({f"{PREFIX}/tile/0/000": full_tile,
                           f"{PREFIX}/tile/entries/000": entries})
    with TileClient(PREFIX, fetcher) as client:
        tile, bundle = client.read([TileId(0, 0, 3), TileId(ENTRY_LEVEL, 0, 2)])
        assert tile.data == full_tile[:96]
        assert bundle.data == b"\x00\x01a\x00\x02bb"
        fetcher.resources[f"{PREFIX}/tile/0/000"] = full_tile[:-1]
        with pytest.raises(TileFormatError, match=r"^tile/0/000: a full tile is 8192 bytes"):
            client.read([TileId(0, 0, 3)])


def test_no_answer_is_read_past_the_most_its_kind_can_hold() -> None:
    """A hash tile is at most 8,192 bytes, a bundle 256 entries of 2 + 65,535 bytes, and a
    checkpoint 4 MiB (1 Mi characters of UTF-8); the fetcher reads no further."""
    fetcher = DictFetcher({f"{PREFIX}/tile/0/000": bytes(8192),
                           f"{PREFIX}/tile/1/000": bytes(8193),
                           f"{PREFIX}/tile/entries/000": bytes(256 * 65537 + 1),
                           f"{PREFIX}/checkpoint": bytes(4 * 2**20 + 1)})
    with TileClient(PREFIX, fetcher) as client:
        assert client.read([TileId(0, 0)])[0].data == bytes(8192)
        for tile, most in ((TileId(1, 0), 8192), (TileId(ENTRY_LEVEL, 0), 256 * 65537)):
            with pytest.raises(TileFormatError, match=f"{tile}: the answer is longer than "
                               f"{most} bytes"):
                client.read([tile])
        with pytest.raises(TileFormatError, match="checkpoint: the answer is longer than "
                           "4194304 bytes, the most a checkpoint can be"):
            client.checkpoint()


def test_the_checkpoint_is_text_or_an_error() -> None:
    fetcher = DictFetcher({f"{PREFIX}/checkpoint": "log\n1\n\u00e9\n".encode()})
    with TileClient(PREFIX, fetcher) as client:
        assert client.checkpoint() == "log\n1\n\u00e9\n"
        fetcher.resources[f"{PREFIX}/checkpoint"] = b"\xff\xfe"
        with pytest.raises(TileFormatError, match="checkpoint is not UTF-8"):
            client.checkpoint()
        del fetcher.resources[f"{PREFIX}/checkpoint"]
        with pytest.raises(TileMissingError, match="serves no checkpoint"):
            client.checkpoint()


def test_the_cache_keeps_verified_full_tiles_only(tmp_path: Path) -> None:
    cache = TileCache.for_log(tmp_path, "log2025-1.rekor.sigstore.dev")
    assert cache.directory.parent == tmp_path
    assert cache.directory.name.startswith("log2025-1.rekor.sigstore.dev-")
    assert TileCache.for_log(tmp_path, "a/b").directory != TileCache.for_log(
        tmp_path, "a_b").directory
    fetcher = DictFetcher(_bundles(3) | {f"{PREFIX}/tile/entries/003.p/7": b"partial"})
    with TileClient(PREFIX, fetcher, cache=cache) as client:
        first = client.read([TileId(ENTRY_LEVEL, 0), TileId(ENTRY_LEVEL, 3, 7)])
        assert not any(d.cached for d in first)
        assert cache.load(TileId(ENTRY_LEVEL, 0)) is None  # nothing is kept before it verifies
        for data in first:
            client.remember(data)
        assert cache.load(TileId(ENTRY_LEVEL, 0)) == b"bundle 0"
        assert cache.load(TileId(ENTRY_LEVEL, 3, 7)) is None
        assert not list(cache.directory.rglob(".tmp-*"))
        again = client.read([TileId(ENTRY_LEVEL, 0)])[0]
        assert again.cached and again.data == b"bundle 0"
        fresh = client.read([TileId(ENTRY_LEVEL, 0)], fresh=True)[0]
        assert not fresh.cached
        assert client.requests["bundle"] == 3
