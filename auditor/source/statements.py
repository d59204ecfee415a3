"""Statement sources: a directory, or a base URL serving Oak's `sha2-256:<hex>` file names.

Content is accepted only if it hashes to the digest asked for. A missing statement is a stored
fact (the entry stays without an endorsement and every run tries again), never an error; a
source that cannot answer (after the shared HTTP client's retries) raises `IncompleteError`.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.source.interface import StatementSource

if TYPE_CHECKING:  # a crawl's worker reads a directory: requests would add 40 ms to its start
    from auditor.http_client import HttpClient

#: Inline subjects are small (attachments, regexes); never download an image to check one.
MAX_BYTES = 1 << 20
#: Requests a remote store has in flight at once, each paced by its client's rate limit (as a
#: crawl's retrieves: see auditor.crawl.rekor_v1.RETRIEVE_AHEAD). One at a time, a store 100 ms
#: away held a crawl to 5 entries/s: a statement and an inline subject per entry.
FETCH_AHEAD = 8


class DirectoryStore(StatementSource):
    """Files named `sha2-256:<hex>`, `sha256:<hex>` or `<hex>` in a directory."""

    portable = True

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.name = str(directory)
        self._path = os.fspath(directory)

    def fetch(self, sha256_hex: str) -> bytes | None:
        for name in (f"sha2-256:{sha256_hex}", f"sha256:{sha256_hex}", sha256_hex):
            content = _small_file(os.path.join(self._path, name))
            if content is not None:
                if hashlib.sha256(content).hexdigest() == sha256_hex:
                    return content
                self.mismatches.append(sha256_hex)
        return None


def _small_file(path: str) -> bytes | None:
    """The bytes of the regular file at `path` if it holds at most MAX_BYTES, else None.

    Opened at once, not looked at first: a crawl asks for two names per entry (its statement,
    and an inline subject that is rarely a file), and a stat before each open, through pathlib,
    cost more CPU (26 against 15 us per entry). Non-blocking, so that a FIFO under the
    name is passed over, not waited on."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        # Absent, or a name we cannot open (a symlink loop, no permission): as good as absent,
        # never the end of the crawl that asked.
        return None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_BYTES and (chunk := os.read(descriptor, MAX_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError:  # a read that fails (EIO): nothing is served
        return None
    finally:
        os.close(descriptor)
    return b"".join(chunks) if size <= MAX_BYTES else None


class HttpStore(StatementSource):
    """`<base>/sha2-256:<hex>` over the shared HTTP client (retries, rate limit, deadlines)."""

    def __init__(self, base_url: str, http: HttpClient) -> None:
        super().__init__()
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.name = self.base_url
        self.http = http
        self._pool: ThreadPoolExecutor | None = None
        #: What fetch_ahead started, taken by `fetch`: its answer, or what it raised.
        self._ahead: dict[str, Future[bytes | None]] = {}

    def fetch_ahead(self, sha256_hexes: Iterable[str]) -> None:
        for future in self._ahead.values():  # asked for last time, never taken
            future.cancel()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(FETCH_AHEAD, thread_name_prefix="statements")
        pool = self._pool
        self._ahead = {name: pool.submit(self._fetch, name) for name in dict.fromkeys(sha256_hexes)}

    def fetch(self, sha256_hex: str) -> bytes | None:
        ahead = self._ahead.pop(sha256_hex, None)
        return ahead.result() if ahead is not None else self._fetch(sha256_hex)

    def close(self) -> None:
        self.http.close()  # first: what is still being fetched ends at its next attempt
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _fetch(self, sha256_hex: str) -> bytes | None:
        from auditor.http_client import ResponseTooLarge  # loaded with `self.http`

        try:
            content = self.http.get(f"{self.base_url}sha2-256:{sha256_hex}",
                                    max_bytes=MAX_BYTES)
        except ResponseTooLarge:
            return None  # an artifact (an image), not a statement or an inline subject
        if content is None:
            return None
        if hashlib.sha256(content).hexdigest() != sha256_hex:
            self.mismatches.append(sha256_hex)
            return None
        return content


class EmptyStore(StatementSource):
    name = "none"
    portable = True

    def fetch(self, sha256_hex: str) -> bytes | None:
        return None
