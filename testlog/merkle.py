"""An append-only RFC 6962 / RFC 9162 Merkle tree with fast proofs.

Every complete, aligned subtree hash is cached when a leaf is appended (``levels[k][i]``
covers leaves ``[i * 2**k, (i + 1) * 2**k)``), so the hash of any range the RFC recursion
asks for costs O(log n) node hashes and a proof O(log² n): a 10,000-leaf log answers
proofs in microseconds. Memory is two hashes per leaf.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162 §2.1.1: MTH({}) = HASH()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d0}) = HASH(0x00 || d0)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: HASH(0x01 || MTH(left) || MTH(right))."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n`` > 1), RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """Leaf hashes in log order plus every complete subtree hash above them."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append_leaf_hash(h)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def leaf_hashes(self) -> list[bytes]:
        return list(self._levels[0])

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def append(self, data: bytes) -> bytes:
        """Append a leaf by its data; return its leaf hash."""
        h = leaf_hash(data)
        self.append_leaf_hash(h)
        return h

    def append_leaf_hash(self, h: bytes) -> None:
        if len(h) != 32:
            raise ValueError("a leaf hash is 32 bytes")
        self._levels[0].append(h)
        level = 0
        # A new complete subtree closes each time a level's count becomes even.
        while len(self._levels[level]) % 2 == 0:
            pair = self._levels[level][-2:]
            if len(self._levels) == level + 1:
                self._levels.append([])
            self._levels[level + 1].append(node_hash(pair[0], pair[1]))
            level += 1

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the tree made of the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._range_hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path of leaf ``index`` in the tree of ``size`` leaves, leaf to root.

        RFC 6962 §2.1.1 PATH(m, D[n]) (RFC 9162 §2.1.3.1).
        """
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is outside a tree of size {size}")
        return self._path(index, 0, size)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """Proof that the tree of ``first`` leaves is a prefix of the tree of ``second``.

        RFC 6962 §2.1.2 PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 §2.1.4.1).
        """
        second = self.size if second is None else second
        self._check_size(second)
        if not 0 <= first <= second:
            raise ValueError(f"first size {first} is not between 0 and {second}")
        if first in (0, second):
            return []
        return self._subproof(first, 0, second, True)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")

    def _range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range the RFC recursion produces (``start`` aligned)."""
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return self._levels[n.bit_length() - 1][start // n]
        k = _split(n)
        return node_hash(self._range_hash(start, start + k), self._range_hash(start + k, end))

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, start, start + k), self._range_hash(start + k, end)]
        return [*self._path(m - k, start + k, end), self._range_hash(start, start + k)]

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [self._range_hash(start, end)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, whole), self._range_hash(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self._range_hash(start, start + k)]
