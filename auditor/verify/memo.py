"""Verifications done once: bounded memos of signature checks and of signed checkpoint notes.

An Oak `rekord` entry carries one ECDSA-SHA256 signature that two named checks verify (the
body's signature over the statement's digest, the endorsement's over the statement's bytes), and
entries served together often carry the same signed checkpoint note (a log that signs its
checkpoint afresh for every answer gives each answer its own). A signature check is a
pure function of (key, signature, message), so its outcome is remembered under the key's DER
SPKI, the signature and the message's SHA-256 (`auditor.verify.keys`); a note's under its text
and the keys it was checked with (`auditor.verify.entry`). Nothing else is remembered: every
check is still run and reported for every entry, only the arithmetic is not repeated.

Each memo is an LRU of bounded size, so memory stays flat however many entries a crawl reads,
and thread-safe; each process has its own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: Distinct signatures remembered: a batch's worth of entries many times over.
SIGNATURE_MEMO_SIZE = 4096
#: Distinct checkpoint notes remembered: a crawl meets a few per shard.
NOTE_MEMO_SIZE = 256


@dataclass(frozen=True)
class MemoStats:
    hits: int
    misses: int
    size: int


class Memo(Generic[K, V]):
    """An LRU of at most `capacity` computed values."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a memo holds at least one value")
        self.capacity = capacity
        self._values: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, key: K, compute: Callable[[], V]) -> V:
        """The value remembered for `key`, else `compute()` (run outside the lock)."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                self._hits += 1
                return self._values[key]
            self._misses += 1
        value = compute()
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.capacity:
                self._values.popitem(last=False)
        return value

    def stats(self) -> MemoStats:
        with self._lock:
            return MemoStats(self._hits, self._misses, len(self._values))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._hits = self._misses = 0


#: (SPKI DER, signature, SHA-256 of the message) -> whether the signature verifies.
SIGNATURES: Memo[tuple[bytes, bytes, bytes], bool] = Memo(SIGNATURE_MEMO_SIZE)
