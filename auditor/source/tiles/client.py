"""The static read API of a tiled log (C2SP tlog-tiles), over an injected fetcher.

The client only moves bytes: the checkpoint text, hash tiles and entry bundles, fetched in
parallel through a bounded thread pool, and full ones kept in an optional on-disk cache. It
trusts nothing it returns; `tree.TiledTree` and `scanner.Scanner` verify every tile before use.
Retries, rate limits and deadlines belong to the fetcher (the shared HTTP module).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from auditor.http_client import ResponseTooLarge
from auditor.prefetch import in_order
from auditor.source.tiles.cache import TileCache
from auditor.source.tiles.codec import BUNDLE_LENGTH_PREFIX, MAX_BUNDLE_ENTRY, bundle_prefix
from auditor.source.tiles.errors import TileFormatError, TileMissingError
from auditor.source.tiles.layout import TILE_WIDTH, TileId
from auditor.source.tiles.tree import TileData
from auditor.verify.checkpoint import MAX_NOTE_SIZE
from auditor.verify.merkle import HASH_SIZE

DEFAULT_PARALLELISM = 8


class Fetcher(Protocol):
    """HTTP GET for one URL: the body, or None when the resource does not exist (404).

    Implementations must be thread-safe and raise (an `IncompleteError`) when they give up, and
    `ResponseTooLarge` when the body is longer than `max_bytes` (having read no more of it).
    """

    def get(self, url: str, *, max_bytes: int) -> bytes | None: ...


#: The most bytes each kind of resource can hold (C2SP tlog-tiles): a hash tile is 256 hashes,
#: a bundle 256 entries of at most 65,535 bytes after a 2-byte length, and a checkpoint a note
#: `parse_checkpoint` reads (1 Mi characters, 4 bytes at most each). Anything longer is not
#: read to its end: a log answering 64 MiB (the HTTP client's own bound) to every request
#: held a gigabyte with the 16 requests in flight.
MAX_BYTES = {
    "tile": TILE_WIDTH * HASH_SIZE,
    "bundle": TILE_WIDTH * (BUNDLE_LENGTH_PREFIX + MAX_BUNDLE_ENTRY),
    "checkpoint": 4 * MAX_NOTE_SIZE,
}


class TileClient:
    """One log's checkpoint, tiles and bundles under the URL prefix `prefix`.

    `requests` counts the fetches by kind ("checkpoint", "tile", "bundle"); cache hits are
    not fetches.
    """

    def __init__(
        self,
        prefix: str,
        fetcher: Fetcher,
        *,
        cache: TileCache | None = None,
        parallelism: int = DEFAULT_PARALLELISM,
    ) -> None:
        if parallelism < 1:
            raise ValueError("parallelism must be at least 1")
        self.prefix = prefix.rstrip("/")
        self.cache = cache
        self.requests: collections.Counter[str] = collections.Counter()
        self._fetcher = fetcher
        self._window = 2 * parallelism
        self._pool = ThreadPoolExecutor(parallelism, thread_name_prefix="tiles")
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> TileClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def checkpoint(self) -> str:
        """The log's current checkpoint text, unverified."""
        url = f"{self.prefix}/checkpoint"
        data = self._get(url, "checkpoint")
        if data is None:
            raise TileMissingError(f"{url}: the log serves no checkpoint (404)")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise TileFormatError(f"{url}: the checkpoint is not UTF-8 text") from None

    def read(self, tiles: Sequence[TileId], *, fresh: bool = False) -> list[TileData]:
        """The tiles or bundles, fetched in parallel (`fresh`: not from the cache)."""
        return list(self._pool.map(lambda tile: self._read_one(tile, fresh), tiles))

    def stream(self, tiles: Iterable[TileId]) -> Iterator[TileData]:
        """The tiles or bundles in order, with at most 2 × parallelism of them in flight."""
        return in_order(lambda tile: self._pool.submit(self._read_one, tile, False), tiles,
                        self._window)

    def remember(self, data: TileData) -> None:
        """Cache `data` once it verified, if it is a full tile or bundle not already cached."""
        if self.cache is not None and data.tile.is_full and not data.cached:
            self.cache.store(data.tile, data.data)

    def url(self, tile: TileId) -> str:
        return f"{self.prefix}/{tile.path}"

    def _read_one(self, tile: TileId, fresh: bool) -> TileData:
        if self.cache is not None and not fresh:
            cached = self.cache.load(tile)
            if cached is not None:
                return TileData(tile, cached, cached=True)
        kind = "bundle" if tile.is_bundle else "tile"
        data = self._get(self.url(tile), kind)
        if data is None and not tile.is_full:
            # tlog-tiles: a log may delete a partial tile once the full one exists; the
            # partial one is then a prefix of it.
            full = self._get(self.url(tile.full()), kind)
            data = None if full is None else _prefix(tile, full)
        if data is None:
            raise TileMissingError(f"{self.url(tile)}: the log does not serve {tile} (404)")
        return TileData(tile, data)

    def _get(self, url: str, kind: str) -> bytes | None:
        with self._lock:
            self.requests[kind] += 1
        try:
            return self._fetcher.get(url, max_bytes=MAX_BYTES[kind])
        except ResponseTooLarge:
            # Malformed like a tile of the wrong length: named, not a log that stopped answering.
            raise TileFormatError(f"{url}: the answer is longer than {MAX_BYTES[kind]} bytes, "
                                  f"the most a {kind} can be") from None


def _prefix(tile: TileId, full: bytes) -> bytes:
    """The partial `tile` cut from the bytes of its full tile."""
    if tile.is_bundle:
        return bundle_prefix(tile.full(), full, tile.width)
    if len(full) != TILE_WIDTH * HASH_SIZE:
        raise TileFormatError(f"{tile.full()}: a full tile is {TILE_WIDTH * HASH_SIZE} bytes, "
                              f"got {len(full)}")
    return full[: tile.width * HASH_SIZE]
