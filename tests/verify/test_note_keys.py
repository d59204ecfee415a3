"""Signed-note verifier keys: published vectors, Go's and Oak's rejection cases, round trips.

Independent anchors, none derived from the code under test:
- the C2SP signed-note spec's example vkey and the note it verifies (signed-note.md);
- golang.org/x/mod/sumdb/note note_test.go (PeterNeumann/EnochRoot keys, notes and manglings)
  and the sum.golang.org key from the Go toolchain, verifying a checkpoint it served;
- Oak's keys from tr/c2sp/lib.rs tests (project-oak/oak; the vector is at commit
  578b95116bac0dec45b852788c98d1fe19c168bd) and the cases of tr/c2sp/note.rs tests;
- keys generated here and signed with `cryptography` through testlog/tlog_proof.py.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa

from auditor.errors import InputError
from auditor.verify.checkpoint import parse_checkpoint, verify_checkpoint
from auditor.verify.note_keys import NoteKey, SignatureType, VerifierKeyError, parse_vkey
from testlog.tlog_proof import Cosigner, LogSigner, SubtreeCosigner, checkpoint_text
from tests.verify.test_checkpoint import (
    ENOCH_VKEY,
    GO_TEXT,
    PETER_SIG,
    PETER_VKEY,
    SUMDB_CHECKPOINTS,
    SUMDB_VKEY,
)
from tests.verify.test_tlog_proof import TEST_MAIN_VKEY, TEST_WITNESS_VKEY

# C2SP signed-note.md, "Verifier keys" example.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = b"This is an example message.\n"
SPEC_SIG = (
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM="
)


def _vkey(name: str, type_byte: int, key: bytes, key_id: str | None = None) -> str:
    """A vkey built by hand from the signed-note recipe, optionally with another id."""
    material = bytes([type_byte]) + key
    computed = hashlib.sha256(name.encode() + b"\n" + material).digest()[:4].hex()
    return f"{name}+{key_id or computed}+{base64.b64encode(material).decode()}"


# --- published vectors ------------------------------------------------------------------------


def test_spec_example_vkey_verifies_the_spec_example_note() -> None:
    key = parse_vkey(SPEC_VKEY)
    assert (key.name, key.signature_type, key.key_hint.hex()) == (
        "example.com/foo", SignatureType.ED25519, "530d903a")
    blob = base64.b64decode(SPEC_SIG)
    assert blob[:4] == key.key_hint
    assert key.verify(SPEC_NOTE, blob[4:])
    assert not key.verify(SPEC_NOTE.replace(b"example", b"Example"), blob[4:])
    assert key.vkey == SPEC_VKEY


@pytest.mark.parametrize("vkey", [PETER_VKEY, ENOCH_VKEY, SUMDB_VKEY, TEST_MAIN_VKEY])
def test_published_ed25519_vkeys_parse_and_print_back(vkey: str) -> None:
    key = parse_vkey(vkey)
    assert key.signature_type is SignatureType.ED25519
    assert key.vkey == vkey


def test_go_note_signature_verifies_under_its_vkey() -> None:
    key = parse_vkey(PETER_VKEY)
    blob = base64.b64decode(PETER_SIG)
    assert key.verify(GO_TEXT, blob[4:])
    assert key.failure(GO_TEXT + b"x\n", blob[4:]) == "Ed25519 signature does not verify"
    assert not parse_vkey(ENOCH_VKEY).verify(GO_TEXT, blob[4:])


def test_a_note_key_is_a_note_verifier_for_checkpoints() -> None:
    # A production C2SP Ed25519 log, verified through the generic checkpoint verifier.
    cp = parse_checkpoint(SUMDB_CHECKPOINTS[0])
    assert verify_checkpoint(cp, [parse_vkey(SUMDB_VKEY)]).name == "sum.golang.org"


def test_oak_witness_vkey_is_a_cosignature_key() -> None:
    key = parse_vkey(TEST_WITNESS_VKEY)
    assert (key.name, key.signature_type, key.key_hint.hex()) == (
        "test-witness", SignatureType.COSIGNATURE_V1, "26349ef0")
    assert key.vkey == TEST_WITNESS_VKEY


# --- rejections: Go's TestNewVerifier -----------------------------------------------------------


def test_every_proper_substring_of_a_vkey_is_rejected() -> None:
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(VerifierKeyError):
                    parse_vkey(PETER_VKEY[i:j])


def test_every_single_character_change_of_a_vkey_is_rejected() -> None:
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(VerifierKeyError):
            parse_vkey(mangled)


@pytest.mark.parametrize(
    ("vkey", "reason"),
    [
        # Go: wrong length key, with adjusted key hash. Its base64 has non-zero padding bits,
        # which Go's lenient decoder accepts and ours refuses first.
        ("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
         "not canonical base64"),
        # Go: unknown algorithm, with adjusted key hash.
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "type 0x65"),
    ],
    ids=["wrong-length", "unknown-algorithm"],
)
def test_go_bad_keys_are_rejected_for_their_reason(vkey: str, reason: str) -> None:
    with pytest.raises(VerifierKeyError, match=reason):
        parse_vkey(vkey)


# --- rejections: Oak's tr/c2sp/note.rs tests and the signed-note rules ------------------------

ED_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key().public_bytes_raw()


@pytest.mark.parametrize(
    ("vkey", "reason"),
    [
        ("origin+id", "not <name>"),  # Oak: too few parts
        (_vkey("origin", 0x02, ED_KEY), "type 0x02"),  # Oak: unsupported version (ECDSA 0x02)
        (_vkey("origin", 0x05, ED_KEY), "type 0x05"),  # RFC 6962 tree head signatures
        (_vkey("origin", 0x01, ED_KEY[:30]), "not 30"),  # Oak: wrong length
        (_vkey("origin", 0x04, ED_KEY + b"\0"), "not 33"),
        (_vkey("origin", 0x06, bytes(100)), "is 1312 bytes, not 100"),  # Oak: ML-DSA length
        (_vkey("origin", 0x01, ED_KEY, "12345678"), "is not the computed"),
        ("origin++AQ==", "8 lowercase hex"),
        (PETER_VKEY.replace("c74f20a3", "C74F20A3"), "8 lowercase hex"),
        (PETER_VKEY.replace("c74f20a3", "0c74f20a3"), "8 lowercase hex"),
        ("origin+12345678+", "no key material"),
        ("origin+12345678+AQ", "not valid base64"),
        ("origin+12345678+AR==", "not canonical base64"),
        (_vkey("has space", 0x01, ED_KEY), "invalid signed-note key name"),
        (_vkey("tab\tname", 0x01, ED_KEY), "invalid signed-note key name"),
        (_vkey("ctl\x01name", 0x01, ED_KEY), "invalid signed-note key name"),
        (_vkey("", 0x01, ED_KEY), "invalid signed-note key name"),
    ],
)
def test_malformed_vkeys_are_input_errors_naming_the_defect(vkey: str, reason: str) -> None:
    with pytest.raises(VerifierKeyError, match=reason) as caught:
        parse_vkey(vkey)
    assert isinstance(caught.value, InputError)
    assert "\n" not in str(caught.value)


def test_a_vkey_must_be_text() -> None:
    with pytest.raises(VerifierKeyError, match="text, not bytes"):
        parse_vkey(PETER_VKEY.encode())  # type: ignore[arg-type]


# --- synthetic keys: every type round-trips ---------------------------------------------------


@pytest.mark.parametrize(
    ("signer", "kind"),
    [
        (LogSigner("example.com/log"), SignatureType.ED25519),
        (Cosigner("witness.example.com/w1"), SignatureType.COSIGNATURE_V1),
        (SubtreeCosigner("ml-dsa-witness.example.com"), SignatureType.SUBTREE_V1),
    ],
    ids=["ed25519", "cosignature-v1", "subtree-v1"],
)
def test_generated_keys_round_trip_and_verify_their_signatures(
    signer: LogSigner | Cosigner | SubtreeCosigner, kind: SignatureType
) -> None:
    key = parse_vkey(signer.vkey)
    assert key.signature_type is kind
    assert key.vkey == signer.vkey
    assert key == NoteKey(signer.name, kind, signer.public_key)
    text = checkpoint_text("example.com/log", 42, bytes(range(32)))
    signature = signer.signature(text, 1700000000)
    assert key.verify(text, signature)
    other = checkpoint_text("example.com/log", 43, bytes(range(32)))
    assert not key.verify(other, signature)
    assert key.timestamp(signature) == (None if kind is SignatureType.ED25519 else 1700000000)


def test_key_id_commits_to_name_and_type() -> None:
    # signed-note: the same public key under another name or type has another key ID.
    base = NoteKey("example.com/log", SignatureType.ED25519, ED_KEY)
    renamed = NoteKey("example.com/log2", SignatureType.ED25519, ED_KEY)
    retyped = NoteKey("example.com/log", SignatureType.COSIGNATURE_V1, ED_KEY)
    assert len({base.key_hint, renamed.key_hint, retyped.key_hint}) == 3


def test_ml_dsa_key_of_the_right_size_but_another_type_byte_is_rejected() -> None:
    # A 1312-byte ML-DSA-44 key announced as Ed25519 (0x01) is the wrong length for it.
    public = mldsa.MLDSA44PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(VerifierKeyError, match="is 32 bytes, not 1312"):
        parse_vkey(_vkey("origin", 0x01, public))
