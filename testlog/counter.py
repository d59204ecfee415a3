"""Requests a test server received, counted by kind (faulted ones included), thread-safe."""

from __future__ import annotations

import collections
import threading
from typing import Generic, TypeVar

K = TypeVar("K")


class RequestCounter(Generic[K]):
    def __init__(self) -> None:
        self._counts: collections.Counter[K] = collections.Counter()
        self._lock = threading.Lock()

    def add(self, kind: K) -> None:
        with self._lock:
            self._counts[kind] += 1

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
