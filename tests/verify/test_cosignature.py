"""Witness cosignatures: Oak's real cosignature, the spec's message layouts, round trips.

Anchors: the `test-witness` cosignature in Oak's tr/c2sp/testdata/test.tlog-proof (made by
Oak's Rust signer, tests/data/oak/c2sp), the byte layouts written out from
c2sp.org/tlog-cosignature, and cosignatures made here by testlog/tlog_proof.py, which builds
the messages itself from the spec. Oak's tr/c2sp/note.rs cosignature and ML-DSA cases are ported.
"""

from __future__ import annotations

import base64
import struct

import pytest

from auditor.verify.checkpoint import parse_checkpoint
from auditor.verify.cosignature import (
    CosignatureError,
    cosignature_v1_message,
    split_timestamped,
    subtree_v1_message,
)
from auditor.verify.note_keys import parse_vkey
from testlog.tlog_proof import Cosigner, SubtreeCosigner, checkpoint_text
from tests.verify.test_tlog_proof import OAK_PROOF, TEST_WITNESS_VKEY

TIME = 1700000000


def _oak_checkpoint() -> str:
    text = OAK_PROOF.decode()
    return text[text.index("\n\n") + 2 :]


def test_oak_witness_cosignature_verifies_with_its_timestamp() -> None:
    cp = parse_checkpoint(_oak_checkpoint())
    key = parse_vkey(TEST_WITNESS_VKEY)
    (line,) = [s for s in cp.signatures if s.name == "test-witness"]
    assert line.key_hint == key.key_hint
    assert key.failure(cp.signed_text, line.signature) is None
    # 0x0000000069998f3e, in the line's first 8 bytes: 2026-02-20.
    assert key.timestamp(line.signature) == 1771605822
    assert struct.unpack(">Q", line.signature[:8]) == (1771605822,)


def test_oak_cosignature_covers_its_timestamp_and_the_checkpoint() -> None:
    cp = parse_checkpoint(_oak_checkpoint())
    key = parse_vkey(TEST_WITNESS_VKEY)
    (line,) = [s for s in cp.signatures if s.name == "test-witness"]
    later = struct.pack(">Q", 1771605823) + line.signature[8:]
    assert key.failure(cp.signed_text, later) == (
        "cosignature/v1 (Ed25519) signature does not verify")
    bigger = cp.signed_text.replace(b"\n4\n", b"\n5\n")
    assert not key.verify(bigger, line.signature)
    # The log's own Ed25519 signature line is not a cosignature: wrong length for one.
    (log_line,) = [s for s in cp.signatures if s.name != "test-witness"]
    assert key.failure(cp.signed_text, log_line.signature) == (
        "a timestamped signature is 72 bytes, this one is 64")


# --- message layouts, written out from the spec ----------------------------------------------


def test_cosignature_v1_message_is_header_time_line_and_note_text() -> None:
    # tlog-cosignature "Ed25519 signed message" example.
    text = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosignature_v1_message(1679315147, text) == b"cosignature/v1\ntime 1679315147\n" + text
    assert cosignature_v1_message(0, text).startswith(b"cosignature/v1\ntime 0\n")


def test_subtree_v1_message_is_the_cosigned_message_structure() -> None:
    root = bytes(range(32))
    expected = (
        b"subtree/v1\n\x00"  # label[12]
        + b"\x01w"  # opaque cosigner_name<1..2^8-1>
        + b"\x00\x00\x00\x00\x00\x00\x00\x07"  # uint64 timestamp
        + b"\x02lg"  # opaque log_origin<1..2^8-1>
        + b"\x00" * 8  # uint64 start
        + b"\x00\x00\x00\x00\x00\x00\x01\x00"  # uint64 end
        + root  # uint8 hash[32]
    )
    assert subtree_v1_message("w", 7, "lg", 0, 256, root) == expected


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("", 1, "o", 0, 1, bytes(32)), "cosigner name is 0 bytes"),
        (("w" * 256, 1, "o", 0, 1, bytes(32)), "cosigner name is 256 bytes"),
        (("w", 1, "", 0, 1, bytes(32)), "log origin is 0 bytes"),
        (("w", 1, "o", 1, 2, bytes(32)), "non-zero start must have time 0"),
        (("w", 0, "o", 3, 2, bytes(32)), "is not a u64 range"),
        (("w", 1, "o", 0, 2**64, bytes(32)), "is not a u64 range"),
        (("w", 2**63, "o", 0, 1, bytes(32)), "outside 0..2\\^63 - 1"),
        (("w", 1, "o", 0, 1, bytes(31)), "32 bytes, not 31"),
    ],
)
def test_impossible_subtree_messages_are_refused(
    args: tuple[str, int, str, int, int, bytes], reason: str
) -> None:
    with pytest.raises(CosignatureError, match=reason):
        subtree_v1_message(*args)


def test_timestamped_signature_layout_and_limits() -> None:
    stamped = split_timestamped(struct.pack(">Q", 5) + b"s" * 64, 64)
    assert (stamped.timestamp, stamped.signature) == (5, b"s" * 64)
    with pytest.raises(CosignatureError, match="72 bytes, this one is 71"):
        split_timestamped(bytes(71), 64)
    # tlog-cosignature: the timestamp MUST NOT exceed 2^63 - 1.
    with pytest.raises(CosignatureError, match="exceeds 2\\^63 - 1"):
        split_timestamped(struct.pack(">Q", 2**63) + bytes(64), 64)


# --- round trips with keys made here (Oak note.rs cosignature and ML-DSA cases) -----------------


def test_cosignature_v1_round_trip() -> None:
    cosigner = Cosigner("witness.example.com")
    key = parse_vkey(cosigner.vkey)
    text = checkpoint_text("example.com/log", 42, bytes(32))
    signature = cosigner.signature(text, TIME)
    assert key.failure(text, signature) is None
    assert key.timestamp(signature) == TIME
    wrong = parse_vkey(Cosigner("witness.example.com").vkey)
    assert wrong.failure(text, signature) == "cosignature/v1 (Ed25519) signature does not verify"


def test_subtree_v1_round_trip_and_oak_ml_dsa_cases() -> None:
    cosigner = SubtreeCosigner("ml-dsa-witness.example.com")
    key = parse_vkey(cosigner.vkey)
    text = checkpoint_text("example.com/log", 100, bytes([0xCC]) * 32)
    signature = cosigner.signature(text, TIME)
    assert len(signature) == 8 + 2420
    assert key.failure(text, signature) is None  # Oak: test_ml_dsa_cosignature_verify
    assert key.timestamp(signature) == TIME
    # Oak: test_ml_dsa_cosignature_wrong_key.
    other = parse_vkey(SubtreeCosigner("ml-dsa-witness.example.com").vkey)
    assert other.failure(text, signature) == "subtree/v1 (ML-DSA-44) signature does not verify"
    # Oak: test_ml_dsa_cosignature_wrong_length.
    assert key.failure(text, bytes(100)) == "a timestamped signature is 2428 bytes, this one is 100"


def test_subtree_v1_commits_to_the_cosigner_name() -> None:
    # Unlike cosignature/v1, the ML-DSA message names the cosigner: the same key under
    # another name does not verify (tlog-cosignature "ML-DSA-44 signed message").
    cosigner = SubtreeCosigner("witness-a.example")
    text = checkpoint_text("example.com/log", 3, bytes(32))
    signature = cosigner.signature(text, TIME)
    renamed = parse_vkey(SubtreeCosigner("witness-b.example", cosigner.private_key).vkey)
    assert renamed.public_key == parse_vkey(cosigner.vkey).public_key
    assert not renamed.verify(text, signature)
    # cosignature/v1 does not: the same Ed25519 key verifies under any name.
    ed = Cosigner("witness-a.example")
    ed_signature = ed.signature(text, TIME)
    assert parse_vkey(Cosigner("witness-b.example", ed.private_key).vkey).verify(text, ed_signature)


def test_extension_lines_are_covered_by_cosignature_v1_but_not_by_subtree_v1() -> None:
    # tlog-cosignature: v1 includes extension lines in the signed message; subtree/v1 does not.
    plain = checkpoint_text("example.com/log", 9, bytes(32))
    extended = checkpoint_text("example.com/log", 9, bytes(32), ["ext-a"])
    changed = checkpoint_text("example.com/log", 9, bytes(32), ["ext-b"])
    ed = Cosigner("w1.example")
    ml = SubtreeCosigner("w2.example")
    ed_key, ml_key = parse_vkey(ed.vkey), parse_vkey(ml.vkey)
    assert ed_key.verify(extended, ed.signature(extended, TIME))
    assert not ed_key.verify(changed, ed.signature(extended, TIME))
    assert ml_key.verify(changed, ml.signature(extended, TIME))
    assert ml_key.verify(plain, ml.signature(extended, TIME))


def test_subtree_v1_refuses_text_that_is_not_a_checkpoint() -> None:
    key = parse_vkey(SubtreeCosigner("w.example").vkey)
    failure = key.failure(b"just a note\n", bytes(8 + 2420))
    assert failure is not None and "checkpoint text has 1 line;" in failure


def test_cosignature_bytes_from_the_spec_example_parse_as_timestamped() -> None:
    # tlog-cosignature example line for witness.example.com/w1: key ID, then time 1679315147.
    blob = base64.b64decode(
        "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe"
        "+mbIUBkBIfZ+qnA=="
    )
    assert split_timestamped(blob[4:], 64).timestamp == 1679315147
