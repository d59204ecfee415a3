"""RFC 9162 Merkle proofs, checked against a naive tree written from the RFC's definitions.

The reference below is deliberately the slow, recursive text of RFC 6962 §2.1 (MTH, PATH,
SUBPROOF), sharing nothing with `auditor.verify.merkle` except SHA-256. On top of it: published
Certificate Transparency vectors, real Rekor v1 proofs from the Oak data and a real Rekor v2 proof
from sigstore-python's test assets.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.verify.merkle import (
    ProofError,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

DATA = Path(__file__).resolve().parents[1] / "data"
OAK_ENTRIES = sorted((DATA / "oak").glob("**/logentry.json"))


# --- the reference tree: RFC 6962 §2.1, §2.1.1, §2.1.2 transcribed -------------------------------


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class ReferenceTree:
    """D[0:n] for a fixed list of leaf inputs; every range's MTH is memoised.

    D[n] is a prefix of the full list for every n, so one instance serves every tree size and
    a new size only computes the ranges it has not seen: the tree is built incrementally.
    """

    def __init__(self, entries: Sequence[bytes]) -> None:
        self.entries = list(entries)
        self._mth: dict[tuple[int, int], bytes] = {}

    def mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi])."""
        key = (lo, hi)
        if key not in self._mth:
            n = hi - lo
            if n == 0:
                value = _sha256(b"")
            elif n == 1:
                value = _sha256(b"\x00" + self.entries[lo])
            else:
                k = _largest_power_of_two_below(n)
                value = _sha256(b"\x01" + self.mth(lo, lo + k) + self.mth(lo + k, hi))
            self._mth[key] = value
        return self._mth[key]

    def root(self, n: int) -> bytes:
        return self.mth(0, n)

    def leaf(self, m: int) -> bytes:
        return self.mth(m, m + 1)

    def path(self, m: int, n: int) -> list[bytes]:
        """PATH(m, D[n]) (RFC 6962 §2.1.1)."""
        return self._path(m, 0, n)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = _largest_power_of_two_below(n)
        if m < k:
            return [*self._path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self._path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    @functools.cache  # the trees live as long as the module
    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 6962 §2.1.2).

        RFC 6962 defines it for 0 < m <= n; the empty tree's proof is empty (RFC 9162 §2.1.4).
        """
        return [] if m == 0 else self._subproof(m, 0, n, True)

    def _subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = _largest_power_of_two_below(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, b), self.mth(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]


SMALL = 64
small_tree = ReferenceTree([i.to_bytes(4, "big") for i in range(SMALL)])
LARGE = 4096
large_tree = ReferenceTree([_sha256(b"large %d" % i) for i in range(LARGE)])


def _fails(check: object, *args: object) -> bool:
    try:
        check(*args)  # type: ignore[operator]
    except ProofError:
        return True
    return False


def _bit_flips(proof: Sequence[bytes]) -> Iterator[list[bytes]]:
    """Every proof that differs from `proof` in exactly one bit."""
    for i, h in enumerate(proof):
        for byte in range(len(h)):
            for bit in range(8):
                flipped = bytearray(h)
                flipped[byte] ^= 1 << bit
                yield [*proof[:i], bytes(flipped), *proof[i + 1 :]]


def _byte_flips(proof: Sequence[bytes]) -> Iterator[list[bytes]]:
    """Every proof that differs from `proof` in one bit of one byte, for every byte of every hash.

    The bit turns with the byte's position, so every bit position is flipped in every hash.
    `_bit_flips` (all 256 bits of each hash) is eight times the work and runs on the smaller
    trees only: beyond them, what a verifier could skip is a byte, never a bit alone.
    """
    for i, h in enumerate(proof):
        for byte in range(len(h)):
            flipped = bytearray(h)
            flipped[byte] ^= 1 << ((byte + i) % 8)
            yield [*proof[:i], bytes(flipped), *proof[i + 1 :]]


def _sample_bit_flips(proof: Sequence[bytes]) -> Iterator[list[bytes]]:
    """A cheap sample of `_bit_flips`: the first and last bit of each hash and two in between."""
    for i, h in enumerate(proof):
        for position in (0, 255, (37 * i + 11) % 256, (101 * i + 170) % 256):
            flipped = bytearray(h)
            flipped[position // 8] ^= 1 << (position % 8)
            yield [*proof[:i], bytes(flipped), *proof[i + 1 :]]


def _flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


#: Up to this size every bit of every proof hash is flipped; beyond it, every byte.
EVERY_BIT = 16
INCLUSION_CASES = [(m, n) for n in range(1, SMALL + 1) for m in range(n)]
CONSISTENCY_CASES = [(m, n) for n in range(1, SMALL + 1) for m in range(n + 1)]


# --- the reference agrees with published vectors --------------------------------------------------

# Certificate Transparency's reference test vectors (github.com/google/certificate-transparency,
# python/ct/crypto/merkle_test.py, "lifted from the C++ branch").
CT_ENTRIES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
CT_CONSISTENCY = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# A real inclusion proof from a CT log, same source (leaf index 848049 in a tree of 3630887).
CT_AUDIT_LEAF = bytes.fromhex("7a395c866d5ecdb0cccb623e011dbc392cd348d1d1d72776174e127a24b09c78")
CT_AUDIT_ROOT = bytes.fromhex("78316a05c9bcf14a3a4548f5b854a9adfcd46a4c034401b3ce7eb7ac2f1d0ecb")
CT_AUDIT_PATH = [
    bytes.fromhex(h)
    for h in (
        "1a208aeebcd1b39fe2de247ee8db9454e1e93a312d206b87f6ca9cc6ec6f1ddd",
        "0a1b78b383f580856f433c01a5741e160d451c185910027f6cc9f828687a40c4",
        "3d1745789bc63f2da15850de1c12a5bf46ed81e1cc90f086148b1662e79aab3d",
        "9095b61e14d8990acf390905621e62b1714fb8e399fbb71de5510e0aef45affe",
        "0a332b91b8fab564e6afd1dd452449e04619b18accc0ff9aa8393cd4928451f2",
        "2336f0181d264aed6d8f3a6507ca14a8d3b3c3a23791ac263e845d208c1ee330",
        "b4ce56e300590500360c146c6452edbede25d4ed83919278749ee5dbe178e048",
        "933f6ddc848ea562e4f9c5cfb5f176941301dad0c6fdb9d1fbbe34fac1be6966",
        "b95a6222958a86f74c030be27c44f57dbe313e5e7c7f4ffb98bcbd3a03bb52f2",
        "daeeb3ce5923defd0faeb8e0c210b753b85b809445d7d3d3cd537a9aabaa9c45",
        "7fadd0a13e9138a2aa6c3fdec4e2275af233b94812784f66bcca9aa8e989f2bc",
        "1864e6ba3e32878610546539734fb5eeae2529991f130c575c73a7e25a2a7c56",
        "12842d1202b1dc6828a17ab253c02e7ce9409b5192430feba44189f39cc02d66",
        "29af64b16fa3053c13d02ac63aa75b23aa468506e44c3a2315edc85d2dc22b11",
        "b527b99934a0bd9edd154e449b0502e2c499bba783f3bc3dfe23364b6b532009",
        "4584db8ae8e351ace08e01f306378a92bfd43611714814f3d834a2842d69faa8",
        "86a9a41573b0d6e4292f01e93243d6cc65b30f06606fc6fa57390e7e90ed580f",
        "a88b98fbe84d4c6aae8db9d1605dfac059d9f03fe0fcb0d5dff1295dacba09e6",
        "06326dc617a6d1f7021dc536026dbfd5fffc6f7c5531d48ef6ccd1ed1569f2a1",
        "f41fe8fdc3a2e4e8345e30216e7ebecffee26ff266eeced208a6c2a3cf08f960",
        "40cf5bde8abb76983f3e98ba97aa36240402975674e120f234b3448911090f8d",
        "b3222dc8658538079883d980d7fdc2bef9285344ea34338968f736b04aeb387a",
    )
]


def test_reference_tree_reproduces_the_published_ct_roots() -> None:
    tree = ReferenceTree(CT_ENTRIES)
    assert tree.root(0) == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert [tree.root(n) for n in range(1, 9)] == CT_ROOTS


def test_reference_tree_reproduces_the_published_ct_consistency_proofs() -> None:
    tree = ReferenceTree(CT_ENTRIES)
    for m, n, proof in CT_CONSISTENCY:
        assert tree.proof(m, n) == [bytes.fromhex(h) for h in proof]


def test_leaf_and_node_hash_match_published_ct_values() -> None:
    # Same source: TreeHasherTest.sha256_leaves and sha256_nodes.
    assert leaf_hash(b"") == CT_ROOTS[0]
    assert leaf_hash(bytes.fromhex("101112131415161718191a1b1c1d1e1f")) == bytes.fromhex(
        "3bfb960453ebaebf33727da7a1f4db38acc051d381b6da20d6d4e88f0eabfd7a"
    )
    assert node_hash(bytes(range(32)), bytes(range(32, 64))) == bytes.fromhex(
        "1a378704c17da31e2d05b6d121c2bb2c7d76f6ee6fa8f983e596c2d034963c57"
    )


def test_published_ct_consistency_proofs_verify() -> None:
    for m, n, proof in CT_CONSISTENCY:
        verify_consistency(
            m, n, CT_ROOTS[m - 1], CT_ROOTS[n - 1], [bytes.fromhex(h) for h in proof]
        )


def test_published_ct_consistency_proof_with_a_missing_hash_fails() -> None:
    m, n, proof = CT_CONSISTENCY[1]
    with pytest.raises(ProofError, match="must have 3 hashes, got 2"):
        verify_consistency(
            m, n, CT_ROOTS[m - 1], CT_ROOTS[n - 1], [bytes.fromhex(h) for h in proof[:2]]
        )


def test_real_ct_log_inclusion_proof_verifies() -> None:
    verify_inclusion(848049, 3630887, CT_AUDIT_LEAF, CT_AUDIT_PATH, CT_AUDIT_ROOT)
    with pytest.raises(ProofError, match="yields root"):
        verify_inclusion(848050, 3630887, CT_AUDIT_LEAF, CT_AUDIT_PATH, CT_AUDIT_ROOT)


# --- inclusion, exhaustively up to 64 leaves ------------------------------------------------------


def test_every_inclusion_proof_up_to_64_verifies() -> None:
    for m, n in INCLUSION_CASES:
        proof = small_tree.path(m, n)
        assert root_from_inclusion_proof(m, n, small_tree.leaf(m), proof) == small_tree.root(n)
        verify_inclusion(m, n, small_tree.leaf(m), proof, small_tree.root(n))


def test_every_inclusion_proof_up_to_64_fails_with_sampled_bit_flips() -> None:
    for m, n in INCLUSION_CASES:
        leaf, root = small_tree.leaf(m), small_tree.root(n)
        for bad in _sample_bit_flips(small_tree.path(m, n)):
            assert _fails(verify_inclusion, m, n, leaf, bad, root), (m, n)


@pytest.mark.slow
def test_every_inclusion_proof_up_to_64_fails_with_any_byte_changed() -> None:
    for m, n in INCLUSION_CASES:
        leaf, root = small_tree.leaf(m), small_tree.root(n)
        flips = _bit_flips if n <= EVERY_BIT else _byte_flips
        for bad in flips(small_tree.path(m, n)):
            assert _fails(verify_inclusion, m, n, leaf, bad, root), (m, n)


def test_every_inclusion_proof_up_to_64_fails_with_a_changed_leaf_or_root() -> None:
    for m, n in INCLUSION_CASES:
        proof, leaf, root = small_tree.path(m, n), small_tree.leaf(m), small_tree.root(n)
        for bit in range(8):
            assert _fails(verify_inclusion, m, n, _flip(leaf, bit), proof, root)
            assert _fails(verify_inclusion, m, n, leaf, proof, _flip(root, bit))


def test_every_inclusion_proof_up_to_64_fails_at_every_other_index() -> None:
    for m, n in INCLUSION_CASES:
        proof, leaf, root = small_tree.path(m, n), small_tree.leaf(m), small_tree.root(n)
        for other in range(-1, n + 1):
            if other != m:
                assert _fails(verify_inclusion, other, n, leaf, proof, root), (m, n, other)


def test_every_inclusion_proof_up_to_64_fails_for_every_other_size() -> None:
    # Against the true root of the other size: the claim a checkpoint of that size would make.
    for m, n in INCLUSION_CASES:
        proof, leaf = small_tree.path(m, n), small_tree.leaf(m)
        for other in range(m + 1, SMALL + 1):
            if other != n:
                root = small_tree.root(other)
                assert _fails(verify_inclusion, m, other, leaf, proof, root), (m, n, other)
        assert _fails(verify_inclusion, m, 0, leaf, proof, small_tree.root(n))
        assert _fails(verify_inclusion, m, m, leaf, proof, small_tree.root(n))


def test_inclusion_proof_does_not_bind_the_size_alone() -> None:
    # RFC 9162 §2.1.3.2 authenticates the root; PATH(0, D[3]) and PATH(0, D[4]) have the same
    # shape, so the size-3 proof also "verifies" for size 4 against the size-3 root. This is why
    # callers must check the checkpoint's size equals the proof's treeSize.
    verify_inclusion(0, 4, small_tree.leaf(0), small_tree.path(0, 3), small_tree.root(3))


def test_every_inclusion_proof_up_to_64_fails_truncated_or_extended() -> None:
    extra = _sha256(b"extra")
    for m, n in INCLUSION_CASES:
        proof, leaf, root = small_tree.path(m, n), small_tree.leaf(m), small_tree.root(n)
        assert _fails(verify_inclusion, m, n, leaf, [*proof, extra], root)
        assert _fails(verify_inclusion, m, n, leaf, [extra, *proof], root)
        assert _fails(verify_inclusion, m, n, leaf, [*proof, proof[-1] if proof else extra], root)
        if proof:
            assert _fails(verify_inclusion, m, n, leaf, proof[:-1], root)
            assert _fails(verify_inclusion, m, n, leaf, proof[1:], root)


def test_inclusion_reasons_are_precise() -> None:
    leaf, root = small_tree.leaf(5), small_tree.root(8)
    proof = small_tree.path(5, 8)
    with pytest.raises(ProofError, match="index 8 is outside a tree of size 8"):
        verify_inclusion(8, 8, leaf, proof, root)
    with pytest.raises(ProofError, match="must have 3 hashes, got 2"):
        verify_inclusion(5, 8, leaf, proof[:2], root)
    with pytest.raises(ProofError, match="proof hash 1 must be 32 bytes, got 31"):
        verify_inclusion(5, 8, leaf, [proof[0], proof[1][:31], proof[2]], root)
    with pytest.raises(ProofError, match="leaf hash must be 32 bytes, got 33"):
        verify_inclusion(5, 8, leaf + b"\x00", proof, root)
    with pytest.raises(ProofError, match="root hash must be 32 bytes, got 0"):
        verify_inclusion(5, 8, leaf, proof, b"")
    with pytest.raises(ProofError, match="yields root"):
        verify_inclusion(5, 8, leaf, proof, small_tree.root(7))
    with pytest.raises(ProofError, match="size 0 has no leaves"):
        verify_inclusion(0, 0, leaf, [], root)


# --- consistency, exhaustively up to 64 leaves ----------------------------------------------------


def test_every_consistency_proof_up_to_64_verifies() -> None:
    for m, n in CONSISTENCY_CASES:
        verify_consistency(m, n, small_tree.root(m), small_tree.root(n), small_tree.proof(m, n))


def test_every_consistency_proof_up_to_64_fails_with_sampled_bit_flips() -> None:
    for m, n in CONSISTENCY_CASES:
        if m == 0:
            continue
        r1, r2 = small_tree.root(m), small_tree.root(n)
        for bad in _sample_bit_flips(small_tree.proof(m, n)):
            assert _fails(verify_consistency, m, n, r1, r2, bad), (m, n)


@pytest.mark.slow
def test_every_consistency_proof_up_to_64_fails_with_any_byte_changed() -> None:
    for m, n in CONSISTENCY_CASES:
        if m == 0:
            continue
        r1, r2 = small_tree.root(m), small_tree.root(n)
        flips = _bit_flips if n <= EVERY_BIT else _byte_flips
        for bad in flips(small_tree.proof(m, n)):
            assert _fails(verify_consistency, m, n, r1, r2, bad), (m, n)


def test_every_consistency_proof_up_to_64_fails_with_a_changed_root() -> None:
    for m, n in CONSISTENCY_CASES:
        proof, r1, r2 = small_tree.proof(m, n), small_tree.root(m), small_tree.root(n)
        for bit in range(8):
            assert _fails(verify_consistency, m, n, _flip(r1, bit), r2, proof), (m, n)
            if m > 0:  # anything is consistent with the empty tree
                assert _fails(verify_consistency, m, n, r1, _flip(r2, bit), proof), (m, n)


def test_every_consistency_proof_up_to_64_fails_for_every_other_pair_of_sizes() -> None:
    # Each size comes with its true root, so only the proof is out of place.
    for m, n in CONSISTENCY_CASES:
        proof = small_tree.proof(m, n)
        for other in range(SMALL + 1):
            if other != m and other <= n and other != 0 and small_tree.proof(other, n) != proof:
                assert _fails(
                    verify_consistency, other, n, small_tree.root(other), small_tree.root(n), proof
                ), (m, n, other)
            if other != n and other >= m and m > 0 and small_tree.proof(m, other) != proof:
                assert _fails(
                    verify_consistency, m, other, small_tree.root(m), small_tree.root(other), proof
                ), (m, n, other)


def test_every_consistency_proof_up_to_64_fails_truncated_or_extended() -> None:
    extra = _sha256(b"extra")
    for m, n in CONSISTENCY_CASES:
        proof, r1, r2 = small_tree.proof(m, n), small_tree.root(m), small_tree.root(n)
        assert _fails(verify_consistency, m, n, r1, r2, [*proof, extra]), (m, n)
        assert _fails(verify_consistency, m, n, r1, r2, [extra, *proof]), (m, n)
        assert _fails(verify_consistency, m, n, r1, r2, [r1, *proof]), (m, n)
        if proof:
            assert _fails(verify_consistency, m, n, r1, r2, proof[:-1]), (m, n)
            assert _fails(verify_consistency, m, n, r1, r2, proof[1:]), (m, n)


def test_consistency_edge_cases() -> None:
    r3, r5 = small_tree.root(3), small_tree.root(5)
    empty = _sha256(b"")
    verify_consistency(3, 3, r3, r3, [])
    verify_consistency(0, 0, empty, empty, [])
    verify_consistency(0, 5, empty, r5, [])
    with pytest.raises(ProofError, match="two roots for the same tree size 3"):
        verify_consistency(3, 3, r3, r5, [])
    with pytest.raises(ProofError, match="between equal sizes 3 must be empty, got 1"):
        verify_consistency(3, 3, r3, r3, [r3])
    with pytest.raises(ProofError, match="from the empty tree must be empty, got 1"):
        verify_consistency(0, 5, empty, r5, [r5])
    with pytest.raises(ProofError, match="not its hash"):
        verify_consistency(0, 5, r3, r5, [])
    with pytest.raises(ProofError, match="shrank from 5 to 3"):
        verify_consistency(5, 3, r5, r3, small_tree.proof(3, 5))
    with pytest.raises(ProofError, match="must not be negative"):
        verify_consistency(-1, 3, r3, r3, [])
    with pytest.raises(ProofError, match="must have 4 hashes, got 0"):
        verify_consistency(3, 5, r3, r5, [])
    with pytest.raises(ProofError, match="second root hash must be 32 bytes, got 64"):
        verify_consistency(3, 5, r3, r5 + r5, small_tree.proof(3, 5))
    with pytest.raises(ProofError, match="yields second root"):
        verify_consistency(3, 5, r3, small_tree.root(6), small_tree.proof(3, 5))


# --- larger random trees --------------------------------------------------------------------------


@st.composite
def _index_and_size(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, LARGE))
    return draw(st.integers(0, size - 1)), size


@st.composite
def _two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(st.integers(1, LARGE))
    return draw(st.integers(1, size2)), size2


@settings(max_examples=300, deadline=None)
@given(_index_and_size(), st.data())
def test_inclusion_in_large_trees(case: tuple[int, int], data: st.DataObject) -> None:
    m, n = case
    proof, leaf, root = large_tree.path(m, n), large_tree.leaf(m), large_tree.root(n)
    verify_inclusion(m, n, leaf, proof, root)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="hash")
        bit = data.draw(st.integers(0, 255), label="bit")
        bad = bytearray(proof[i])
        bad[bit // 8] ^= 1 << (bit % 8)
        assert _fails(verify_inclusion, m, n, leaf, [*proof[:i], bytes(bad), *proof[i + 1 :]], root)
    other = data.draw(st.integers(0, n - 1), label="other index")
    if other != m:
        assert _fails(verify_inclusion, other, n, leaf, proof, root)


@settings(max_examples=300, deadline=None)
@given(_two_sizes(), st.data())
def test_consistency_in_large_trees(case: tuple[int, int], data: st.DataObject) -> None:
    m, n = case
    proof, r1, r2 = large_tree.proof(m, n), large_tree.root(m), large_tree.root(n)
    verify_consistency(m, n, r1, r2, proof)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="hash")
        bit = data.draw(st.integers(0, 255), label="bit")
        bad = bytearray(proof[i])
        bad[bit // 8] ^= 1 << (bit % 8)
        assert _fails(verify_consistency, m, n, r1, r2, [*proof[:i], bytes(bad), *proof[i + 1 :]])
        assert _fails(verify_consistency, m, n, r1, r2, proof[:-1])
    assert _fails(verify_consistency, m, n, r1, r2, [*proof, r1])


@settings(max_examples=500, deadline=None)
@given(
    st.integers(-3, 70),
    st.integers(-3, 70),
    st.lists(st.binary(min_size=0, max_size=40), max_size=10),
    st.binary(max_size=40),
    st.binary(max_size=40),
)
def test_arbitrary_arguments_raise_only_proof_error(
    a: int, b: int, proof: list[bytes], x: bytes, y: bytes
) -> None:
    # Random hashes can only "verify" where the proof must be empty.
    try:
        verify_inclusion(a, b, x, proof, y)
    except ProofError:
        pass
    else:
        assert (a, b, proof, x) == (0, 1, [], y)
    try:
        verify_consistency(a, b, x, y, proof)
    except ProofError:
        pass
    else:
        assert proof == []
        assert (0 <= a == b and x == y) or (a == 0 < b and x == _sha256(b""))


# --- real log data --------------------------------------------------------------------------------


def _oak_entry(path: Path) -> tuple[str, dict[str, object]]:
    document = json.loads(path.read_text())
    ((uuid, entry),) = document.items()
    return uuid, entry


@pytest.mark.parametrize("path", OAK_ENTRIES, ids=lambda p: p.parent.name)
def test_real_rekor_v1_inclusion_proofs_verify(path: Path) -> None:
    uuid, entry = _oak_entry(path)
    proof = entry["verification"]["inclusionProof"]  # type: ignore[index]
    leaf = leaf_hash(base64.b64decode(entry["body"]))  # type: ignore[arg-type]
    hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    root = bytes.fromhex(proof["rootHash"])
    # DOMAIN.md §5: the entry UUID ends with the leaf hash.
    assert uuid[-64:] == leaf.hex()
    # The shard-local index, not the virtual entry["logIndex"].
    verify_inclusion(proof["logIndex"], proof["treeSize"], leaf, hashes, root)
    with pytest.raises(ProofError):
        verify_inclusion(entry["logIndex"], proof["treeSize"], leaf, hashes, root)  # type: ignore[arg-type]
    with pytest.raises(ProofError):
        verify_inclusion(
            proof["logIndex"], proof["treeSize"], leaf, [_flip(hashes[0]), *hashes[1:]], root
        )


def test_oak_data_has_the_expected_entries() -> None:
    assert len(OAK_ENTRIES) == 6


def test_real_rekor_v2_inclusion_proof_verifies() -> None:
    bundle = json.loads((DATA / "sigstore" / "staging-rekor-v2.txt.sigstore.json").read_text())
    (entry,) = bundle["verificationMaterial"]["tlogEntries"]
    proof = entry["inclusionProof"]
    leaf = leaf_hash(base64.b64decode(entry["canonicalizedBody"]))
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    root = base64.b64decode(proof["rootHash"])
    verify_inclusion(int(proof["logIndex"]), int(proof["treeSize"]), leaf, hashes, root)
    with pytest.raises(ProofError):
        verify_inclusion(int(proof["logIndex"]), int(proof["treeSize"]), _flip(leaf), hashes, root)
