"""The test log's Merkle tree against a naive, literal RFC 6962 §2.1 implementation."""

from __future__ import annotations

import hashlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rekor_checks import consistent, root_from_inclusion

from testlog.merkle import EMPTY_ROOT, MerkleTree


# -- RFC 6962 §2.1, written out as the RFC states it (recursion over the leaf list) -------
def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


# RFC 9162 §2.1.3.2 / §2.1.4.2 verification, for the large trees, is the independent
# checker's (rekor_checks.py).


def _data(n: int) -> list[bytes]:
    return [f"leaf {i}".encode() for i in range(n)]


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert MerkleTree().root() == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", range(1, 40))
def test_roots_paths_and_consistency_match_the_rfc_recursion(n: int) -> None:
    data = _data(n)
    tree = MerkleTree()
    for d in data:
        tree.append(d)
    for size in range(1, n + 1):
        assert tree.root(size) == mth(data[:size])
        for m in range(size):
            assert tree.inclusion_proof(m, size) == path(m, data[:size])
        for first in range(1, size):
            assert tree.consistency_proof(first, size) == subproof(first, data[:size], True)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(40, 300), data=st.data())
def test_random_larger_trees_match_the_rfc(n: int, data: st.DataObject) -> None:
    leaves = _data(n)
    tree = MerkleTree()
    for d in leaves:
        tree.append(d)
    size = data.draw(st.integers(1, n))
    m = data.draw(st.integers(0, size - 1))
    first = data.draw(st.integers(1, size))
    assert tree.root(size) == mth(leaves[:size])
    assert tree.inclusion_proof(m, size) == path(m, leaves[:size])
    expected = [] if first == size else subproof(first, leaves[:size], True)
    assert tree.consistency_proof(first, size) == expected


def test_a_10000_leaf_tree_answers_proofs_fast_and_they_verify() -> None:
    leaves = _data(10_000)
    tree = MerkleTree()
    for d in leaves:
        tree.append(d)
    root = tree.root()
    assert root == mth(leaves)
    started = time.perf_counter()
    for m in range(0, 10_000, 7):
        proof = tree.inclusion_proof(m)
        assert root_from_inclusion(m, 10_000, tree.leaf(m), proof) == root
    for first in range(1, 10_000, 97):
        proof = tree.consistency_proof(first)
        assert consistent(first, 10_000, tree.root(first), root, proof)
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"1,532 proofs took {elapsed:.2f}s"


def test_a_wrong_proof_does_not_verify() -> None:
    tree = MerkleTree(hashlib.sha256(d).digest() for d in _data(13))
    proof = tree.inclusion_proof(5)
    proof[1] = bytes(32)
    assert root_from_inclusion(5, 13, tree.leaf(5), proof) != tree.root()
    consistency = tree.consistency_proof(6)
    assert not consistent(6, 13, tree.root(5), tree.root(), consistency)


@pytest.mark.parametrize(
    ("call", "args"),
    [("root", (4,)), ("inclusion_proof", (3, 3)), ("inclusion_proof", (0, 4)),
     ("consistency_proof", (2, 1)), ("consistency_proof", (1, 4))],
)  # fmt: skip
def test_out_of_range_requests_are_refused(call: str, args: tuple[int, ...]) -> None:
    tree = MerkleTree(hashlib.sha256(d).digest() for d in _data(3))
    with pytest.raises(ValueError):
        getattr(tree, call)(*args)
