"""Requests a test server received, counted by kind (faulted ones included), and the most of
each kind it answered at once; thread-safe."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

K = TypeVar("K")


class RequestCounter(Generic[K]):
    def __init__(self) -> None:
        self._counts: collections.Counter[K] = collections.Counter()
        self._running: collections.Counter[K] = collections.Counter()
        self._peaks: collections.Counter[K] = collections.Counter()
        self._lock = threading.Lock()

    def add(self, kind: K) -> None:
        with self._lock:
            self._counts[kind] += 1

    @contextmanager
    def answering(self, kind: K) -> Iterator[None]:
        """Count a request of `kind` and hold it as in flight while it is answered."""
        with self._lock:
            self._counts[kind] += 1
            self._running[kind] += 1
            self._peaks[kind] = max(self._peaks[kind], self._running[kind])
        try:
            yield
        finally:
            with self._lock:
                self._running[kind] -= 1

    def peak(self, kind: K) -> int:
        """The most requests of `kind` answered at once."""
        with self._lock:
            return self._peaks[kind]

    def __getitem__(self, kind: K) -> int:
        with self._lock:
            return self._counts[kind]

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {str(k): v for k, v in self._counts.items()}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._peaks.clear()
