"""Witness cosignatures of checkpoints: the signed messages of C2SP tlog-cosignature.

A cosignature is a signed-note signature line whose bytes are a `timestamped_signature`
(u64 big-endian POSIX time ‖ signature). Two message formats exist:

- `cosignature/v1` (type 0x04, Ed25519): `cosignature/v1\\ntime <T>\\n` then the whole
  checkpoint note text, extension lines included.
- `subtree/v1` (type 0x06, ML-DSA-44): a binary `cosigned_message` that commits to the
  cosigner's name, the time, the origin and the (sub)tree `[start, end)` with its root hash;
  for a checkpoint start is 0 and end the tree size. Extension lines are not covered.

Nothing here verifies anything: the key types in `note_keys` build these messages.
"""

from __future__ import annotations

from dataclasses import dataclass

# C2SP tlog-cosignature: timestamps are u64 and MUST NOT exceed 2^63 - 1.
TIMESTAMP_SIZE = 8
MAX_TIMESTAMP = 2**63 - 1
ED25519_SIGNATURE_SIZE = 64
ML_DSA_44_SIGNATURE_SIZE = 2420

_COSIGNATURE_V1_HEADER = b"cosignature/v1\n"
# tlog-cosignature "ML-DSA-44 signed message": uint8 label[12] = "subtree/v1\n\0".
_SUBTREE_V1_LABEL = b"subtree/v1\n\x00"
_ROOT_HASH_SIZE = 32


class CosignatureError(ValueError):
    """Bytes that cannot be a cosignature, or a message that cannot be built; says why."""


@dataclass(frozen=True)
class TimestampedSignature:
    """tlog-cosignature `timestamped_signature`: when the cosigner signed, and the signature."""

    timestamp: int
    signature: bytes


def split_timestamped(blob: bytes, signature_size: int) -> TimestampedSignature:
    """Read `u64 timestamp ‖ signature[signature_size]` (RFC 8446 §3.3 serialisation)."""
    expected = TIMESTAMP_SIZE + signature_size
    if len(blob) != expected:
        raise CosignatureError(
            f"a timestamped signature is {expected} bytes, this one is {len(blob)}"
        )
    timestamp = int.from_bytes(blob[:TIMESTAMP_SIZE], "big")
    if timestamp > MAX_TIMESTAMP:
        raise CosignatureError(f"cosignature timestamp {timestamp} exceeds 2^63 - 1")
    return TimestampedSignature(timestamp, blob[TIMESTAMP_SIZE:])


def cosignature_v1_message(timestamp: int, checkpoint_text: bytes) -> bytes:
    """tlog-cosignature "Ed25519 signed message": header, time line, then the note text."""
    _check_timestamp(timestamp)
    # The time is ASCII decimal without leading zeros; str(int) spells it that way.
    return _COSIGNATURE_V1_HEADER + b"time %d\n" % timestamp + checkpoint_text


def subtree_v1_message(
    cosigner_name: str, timestamp: int, origin: str, start: int, end: int, root_hash: bytes
) -> bytes:
    """tlog-cosignature "ML-DSA-44 signed message" (`cosigned_message`, RFC 8446 §3 encoding)."""
    _check_timestamp(timestamp)
    if start and timestamp:
        raise CosignatureError("a subtree cosignature with a non-zero start must have time 0")
    # A checkpoint of the empty tree is the subtree [0, 0).
    if not 0 <= start <= end < 2**64:
        raise CosignatureError(f"subtree [{start}, {end}) is not a u64 range")
    if len(root_hash) != _ROOT_HASH_SIZE:
        raise CosignatureError(f"a subtree hash is {_ROOT_HASH_SIZE} bytes, not {len(root_hash)}")
    return b"".join((
        _SUBTREE_V1_LABEL,
        _opaque8(cosigner_name.encode("utf-8"), "cosigner name"),
        timestamp.to_bytes(8, "big"),
        _opaque8(origin.encode("utf-8"), "log origin"),
        start.to_bytes(8, "big"),
        end.to_bytes(8, "big"),
        root_hash,
    ))


def _opaque8(data: bytes, what: str) -> bytes:
    """RFC 8446 §3.4 `opaque x<1..2^8-1>`: a one-byte length, then the bytes."""
    if not 1 <= len(data) <= 255:
        raise CosignatureError(f"{what} is {len(data)} bytes; subtree/v1 allows 1 to 255")
    return bytes([len(data)]) + data


def _check_timestamp(timestamp: int) -> None:
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError(f"cosignature timestamp {timestamp} is outside 0..2^63 - 1")
