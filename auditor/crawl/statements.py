"""Content-addressed statement store: Oak serves files at a base URL by `sha2-256:<hex>`.

Statements (and inline subjects) are not in Rekor; the crawler fetches them by digest from a
URL or a local directory. Content is accepted only if it hashes to the digest asked for; a
missing statement is a stored fact ("statement unavailable"), never an error.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path

import requests

#: Inline subjects are small (attachments, regexes); never download an image to check one.
MAX_BYTES = 1 << 20


class StatementStore(ABC):
    @abstractmethod
    def fetch(self, sha256_hex: str) -> bytes | None:
        """The bytes whose sha256 is `sha256_hex`, or None when the store does not have them."""


def _verified(content: bytes | None, sha256_hex: str) -> bytes | None:
    if content is None or hashlib.sha256(content).hexdigest() != sha256_hex:
        return None
    return content


class DirectoryStore(StatementStore):
    """Files named `sha2-256:<hex>`, `sha256:<hex>` or `<hex>`, anywhere below a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def fetch(self, sha256_hex: str) -> bytes | None:
        for name in (f"sha2-256:{sha256_hex}", f"sha256:{sha256_hex}", sha256_hex):
            path = self.directory / name
            if path.is_file() and path.stat().st_size <= MAX_BYTES:
                found = _verified(path.read_bytes(), sha256_hex)
                if found is not None:
                    return found
        return None


class HttpStore(StatementStore):
    def __init__(self, base_url: str, *, timeout: tuple[float, float] = (5, 30),
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self.session = session or requests.Session()
        self.requests = 0

    def fetch(self, sha256_hex: str) -> bytes | None:
        self.requests += 1
        try:
            with self.session.get(f"{self.base_url}sha2-256:{sha256_hex}", timeout=self.timeout,
                                  stream=True) as response:
                if response.status_code != 200:
                    return None
                content = response.raw.read(MAX_BYTES + 1, decode_content=True)
        except requests.RequestException:
            return None
        if len(content) > MAX_BYTES:
            return None
        return _verified(content, sha256_hex)


class EmptyStore(StatementStore):
    def fetch(self, sha256_hex: str) -> bytes | None:
        return None


def open_store(source: str | None) -> StatementStore:
    if not source:
        return EmptyStore()
    if source.startswith(("http://", "https://")):
        return HttpStore(source)
    return DirectoryStore(Path(source))
