"""Merkle tree hashing and proof verification for RFC 9162 (Certificate Transparency v2) logs.

Rekor v1 and v2 both use the RFC 6962/9162 tree with SHA-256. A proof that does not verify is an
expected outcome (a finding), so every failure raises `ProofError` with one precise reason that the
caller records; nothing here raises for any other reason on any input of the declared types.

The verification loops follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step. The number of hashes a
proof must have is checked first (RFC 9162 §2.1.3.1 and §2.1.4.1 fix the proof's shape from the
sizes alone), so that a wrong-length proof is reported as such rather than as a root mismatch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32

# RFC 9162 §2.1.1: the hash of an empty tree is the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(Exception):
    """A proof that does not prove what it claims; the message says why."""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 ‖ d) (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The interior node SHA-256(0x01 ‖ left ‖ right) (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` yields for leaf hash `leaf` at `index` in a tree of `size` leaves.

    Raises `ProofError` if the index, size or proof cannot describe such a tree. Comparing the
    result with a trusted root is the caller's job (or use `verify_inclusion`).
    """
    if size < 1:
        raise ProofError(f"tree size {size} has no leaves to prove")
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash("leaf hash", leaf)
    _check_proof_hashes(proof)
    expected = _inclusion_proof_length(index, size)
    if len(proof) != expected:
        raise ProofError(
            f"inclusion proof for index {index} in a tree of size {size} must have "
            f"{expected} hashes, got {len(proof)}"
        )
    # RFC 9162 §2.1.3.2, steps 2-4.
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:  # unreachable after the length check; kept as the RFC's own guard
            raise ProofError("inclusion proof has more hashes than the tree has levels")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # RFC 9162 §2.1.3.2, step 5.
    if sn != 0:  # unreachable after the length check
        raise ProofError("inclusion proof has fewer hashes than the tree has levels")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf hash `leaf` is at `index` of the tree of `size` leaves with `root`.

    Note (RFC 9162 §2.1.3.2): the proof authenticates the root, not `size` by itself; some
    (index, size) pairs share a proof shape. Bind the size with the signed checkpoint.
    """
    _check_hash("root hash", root)
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    if computed != root:
        raise ProofError(
            f"inclusion proof for index {index} in a tree of size {size} yields root "
            f"{computed.hex()}, expected {root.hex()}"
        )


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of `size2` leaves with `root2` extends the one of `size1` with `root1`.

    RFC 9162 §2.1.4.2. The edge cases the RFC leaves to the caller are strict here: equal sizes
    need an empty proof and equal roots; from an empty tree the proof must be empty and `root1`
    must be the empty-tree hash; a non-empty proof where none is allowed is an error.
    """
    _check_hash("first root hash", root1)
    _check_hash("second root hash", root2)
    _check_proof_hashes(proof)
    if size1 < 0 or size2 < 0:
        raise ProofError(f"tree sizes must not be negative, got {size1} and {size2}")
    if size1 > size2:
        raise ProofError(f"tree size shrank from {size1} to {size2}")
    if size1 == size2:
        if proof:
            raise ProofError(
                f"consistency proof between equal sizes {size1} must be empty, "
                f"got {len(proof)} hashes"
            )
        if root1 != root2:
            raise ProofError(
                f"two roots for the same tree size {size1}: {root1.hex()} and {root2.hex()}"
            )
        return
    if size1 == 0:
        # RFC 9162 §2.1.4.1: every tree extends the empty tree, with an empty proof.
        if proof:
            raise ProofError(
                f"consistency proof from the empty tree must be empty, got {len(proof)} hashes"
            )
        if root1 != EMPTY_ROOT:
            raise ProofError(f"root {root1.hex()} claimed for the empty tree is not its hash")
        return
    expected = _consistency_proof_length(size1, size2)
    if len(proof) != expected:
        raise ProofError(
            f"consistency proof from size {size1} to {size2} must have {expected} hashes, "
            f"got {len(proof)}"
        )
    fr, sr = _roots_from_consistency_proof(size1, size2, root1, proof)
    if fr != root1:
        raise ProofError(
            f"consistency proof from size {size1} to {size2} yields first root {fr.hex()}, "
            f"expected {root1.hex()}"
        )
    if sr != root2:
        raise ProofError(
            f"consistency proof from size {size1} to {size2} yields second root {sr.hex()}, "
            f"expected {root2.hex()}"
        )


def _roots_from_consistency_proof(
    size1: int, size2: int, root1: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2 steps 2-6 for 0 < size1 < size2 and a proof of the right length."""
    path = list(proof)
    # Step 2: when the old tree is a complete subtree, its root is the proof's implied first node.
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # Steps 3-4.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:  # unreachable after the length check; kept as the RFC's own guard
            raise ProofError("consistency proof has more hashes than the tree has levels")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7 (the root comparisons are the caller's).
    if sn != 0:  # unreachable after the length check
        raise ProofError("consistency proof has fewer hashes than the tree has levels")
    return fr, sr


def _inclusion_proof_length(index: int, size: int) -> int:
    """Hashes in PATH(index, D[size]) (RFC 9162 §2.1.3.1).

    The path climbs through the levels where index and the last leaf still differ ("inner"),
    then joins the right border, taking one hash per set bit of the remaining prefix.
    """
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner + border


def _consistency_proof_length(size1: int, size2: int) -> int:
    """Hashes in PROOF(size1, D[size2]) for 0 < size1 < size2 (RFC 9162 §2.1.4.1)."""
    # The proof is the inclusion path of the old tree's last leaf, starting from the largest
    # complete subtree that ends there (2^shift leaves); that subtree's root is proof[0] unless
    # it is the whole old tree, whose root the verifier already has.
    shift = (size1 & -size1).bit_length() - 1
    length = _inclusion_proof_length(size1 - 1, size2) - shift
    return length if size1 == 1 << shift else length + 1


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        if len(h) != HASH_SIZE:
            raise ProofError(f"proof hash {i} must be {HASH_SIZE} bytes, got {len(h)}")
