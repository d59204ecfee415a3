"""The `auditor.source.tiles.Fetcher` tests and benchmarks use against the local tiled log."""

from __future__ import annotations

import threading
import time

import requests

from auditor.errors import IncompleteError
from auditor.http_client import ResponseTooLarge


class RequestsFetcher:
    """``auditor.source.tiles.Fetcher`` over ``requests``: 200 is the body, 404 is None, and
    anything else (or a body slower than ``deadline``) is an ``IncompleteError``. No retries:
    those belong to the shared HTTP module."""

    def __init__(self, *, deadline: float = 30.0) -> None:
        self.deadline = deadline
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def get(self, url: str, *, max_bytes: int) -> bytes | None:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        started = time.monotonic()
        try:
            with session.get(url, stream=True, timeout=self.deadline) as response:
                if response.status_code == 404:
                    return None
                if response.status_code != 200:
                    raise IncompleteError(f"GET {url}: HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > max_bytes:
                        raise ResponseTooLarge(f"GET {url}: larger than {max_bytes} bytes")
                    if time.monotonic() - started > self.deadline:
                        raise IncompleteError(f"GET {url}: no complete answer within "
                                              f"{self.deadline} s")
                return bytes(body)
        except requests.RequestException as error:
            raise IncompleteError(f"GET {url}: {error}") from None

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
