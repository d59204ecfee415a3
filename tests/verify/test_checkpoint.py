"""Signed-note checkpoints: real Rekor v1/v2 and Go checksum-database notes, and tampering.

Independent anchors, none derived from the code under test:
- the Oak Rekor v1 entries (production key tests/data/oak/rekor_public_key.pem; the entry's
  logID is sha256 of that key, so its first 4 bytes are the key hint);
- a Rekor v2 staging checkpoint from sigstore-python's assets, with the Ed25519 key and logId of
  the staging trusted root that the `sigstore` package embeds;
- golang.org/x/mod/sumdb/note note_test.go (the PeterNeumann and EnochRoot keys and notes);
- the sum.golang.org verifier key from the Go toolchain (cmd/go/internal/modfetch/key.go) and
  checkpoints that sum.golang.org served, quoted in public repositories.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.errors import InputError
from auditor.verify.checkpoint import (
    Checkpoint,
    CheckpointFormatError,
    CheckpointSignatureError,
    EcdsaNoteVerifier,
    Ed25519NoteVerifier,
    NoteSignature,
    NoteVerifier,
    ecdsa_key_hint,
    note_verifier,
    origin_tree_id,
    parse_checkpoint,
    verify_checkpoint,
)
from tests.verify.notes import sign_checkpoint

DATA = Path(__file__).resolve().parents[1] / "data"
OAK_ENTRIES = sorted((DATA / "oak").glob("**/logentry.json"))
EM = "\u2014"


def _rekor_key() -> ec.EllipticCurvePublicKey:
    key = load_pem_public_key((DATA / "oak" / "rekor_public_key.pem").read_bytes())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


REKOR = EcdsaNoteVerifier("rekor.sigstore.dev", _rekor_key())


def _oak_entry(path: Path) -> tuple[str, dict]:  # type: ignore[type-arg]
    ((uuid, entry),) = json.loads(path.read_text()).items()
    return uuid, entry


def _real_checkpoint() -> str:
    _, entry = _oak_entry(DATA / "oak" / "single-entry-2024" / "logentry.json")
    return str(entry["verification"]["inclusionProof"]["checkpoint"])


def _render(
    origin: str, size: str, root: str, extensions: tuple[str, ...], sig_lines: list[str]
) -> str:
    text = "".join(f"{line}\n" for line in (origin, size, root, *extensions))
    return text + "\n" + "".join(f"{line}\n" for line in sig_lines)


def _sig_line(sig: NoteSignature) -> str:
    return f"{EM} {sig.name} {base64.b64encode(sig.key_hint + sig.signature).decode()}"


def _parts(cp: Checkpoint) -> tuple[str, str, str, tuple[str, ...], list[str]]:
    return (
        cp.origin,
        str(cp.size),
        base64.b64encode(cp.root_hash).decode(),
        cp.extensions,
        [_sig_line(s) for s in cp.signatures],
    )


# --- real Rekor v1 checkpoints --------------------------------------------------------------------


@pytest.mark.parametrize("path", OAK_ENTRIES, ids=lambda p: p.parent.name)
def test_real_rekor_v1_checkpoints_verify(path: Path) -> None:
    uuid, entry = _oak_entry(path)
    proof = entry["verification"]["inclusionProof"]
    cp = parse_checkpoint(proof["checkpoint"])
    # DOMAIN.md §5: origin "rekor.sigstore.dev - <treeID>"; the 80-hex UUID starts with the treeID.
    assert cp.origin == f"rekor.sigstore.dev - {int(uuid[:16], 16)}"
    assert cp.size == proof["treeSize"]
    assert cp.root_hash == bytes.fromhex(proof["rootHash"])
    assert cp.extensions == ()
    assert cp.raw == proof["checkpoint"]
    assert cp.signed_text == proof["checkpoint"].split("\n\n")[0].encode() + b"\n"
    line = verify_checkpoint(cp, [REKOR])
    assert line.name == "rekor.sigstore.dev"
    assert line.key_hint == bytes.fromhex(entry["logID"])[:4]


def test_rekor_key_hint_is_the_log_id_prefix() -> None:
    _, entry = _oak_entry(OAK_ENTRIES[0])
    assert REKOR.key_hint == ecdsa_key_hint(_rekor_key()) == bytes.fromhex(entry["logID"])[:4]
    assert REKOR.key_hint.hex() == "c0d23d6a"


def test_every_signature_bit_flip_fails() -> None:
    cp = parse_checkpoint(_real_checkpoint())
    (sig,) = cp.signatures
    for bit in range(len(sig.signature) * 8):
        flipped = bytearray(sig.signature)
        flipped[bit // 8] ^= 1 << (bit % 8)
        bad = NoteSignature(sig.name, sig.key_hint, bytes(flipped))
        origin, size, root, ext, _ = _parts(cp)
        tampered = parse_checkpoint(_render(origin, size, root, ext, [_sig_line(bad)]))
        with pytest.raises(CheckpointSignatureError, match=r"signature by rekor\.sigstore\.dev"):
            verify_checkpoint(tampered, [REKOR])


@pytest.mark.parametrize(
    "change",
    [
        "size+1",
        "size-1",
        "root",
        "origin tree",
        "origin host",
        "extension",
    ],
)
def test_tampered_checkpoint_text_fails(change: str) -> None:
    cp = parse_checkpoint(_real_checkpoint())
    origin, size, root, ext, sigs = _parts(cp)
    if change == "size+1":
        size = str(cp.size + 1)
    elif change == "size-1":
        size = str(cp.size - 1)
    elif change == "root":
        root = base64.b64encode(bytes([cp.root_hash[0] ^ 1]) + cp.root_hash[1:]).decode()
    elif change == "origin tree":
        origin = origin[:-1] + str((int(origin[-1]) + 1) % 10)
    elif change == "origin host":
        origin = origin.replace("rekor.sigstore.dev", "rekor.sigstage.dev")
    elif change == "extension":
        ext = ("Timestamp: 1726762760",)
    tampered = parse_checkpoint(_render(origin, size, root, ext, sigs))
    assert tampered.signed_text != cp.signed_text
    with pytest.raises(CheckpointSignatureError, match="does not verify"):
        verify_checkpoint(tampered, [REKOR])


def test_missing_final_newline() -> None:
    raw = _real_checkpoint()
    with pytest.raises(CheckpointFormatError, match="does not end in a newline"):
        parse_checkpoint(raw[:-1])
    cp = parse_checkpoint(raw)
    (sig,) = cp.signatures
    # The signed text includes the final newline of the text: without it nothing verifies.
    assert REKOR.verify(cp.signed_text, sig.signature)
    assert not REKOR.verify(cp.signed_text[:-1], sig.signature)


def test_wrong_key_fails() -> None:
    cp = parse_checkpoint(_real_checkpoint())
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(CheckpointSignatureError, match="no signature line from a known key"):
        verify_checkpoint(cp, [EcdsaNoteVerifier("rekor.sigstore.dev", other)])
    # The right key under another name is not the same signer either.
    with pytest.raises(CheckpointSignatureError, match="no signature line from a known key"):
        verify_checkpoint(cp, [EcdsaNoteVerifier("rekor.sigstage.dev", _rekor_key())])
    with pytest.raises(CheckpointSignatureError, match="no signature line from a known key"):
        verify_checkpoint(cp, [])


class _HintImpostor:
    """A real ECDSA key that claims another key's hint (a 32-bit hint collision)."""

    def __init__(self, inner: EcdsaNoteVerifier, key_hint: bytes) -> None:
        self.inner, self.name, self.key_hint = inner, inner.name, key_hint

    def verify(self, signed_text: bytes, signature: bytes) -> bool:
        return self.inner.verify(signed_text, signature)


def test_wrong_key_with_a_colliding_hint_fails() -> None:
    cp = parse_checkpoint(_real_checkpoint())
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    impostor: NoteVerifier = _HintImpostor(
        EcdsaNoteVerifier("rekor.sigstore.dev", other), REKOR.key_hint
    )
    with pytest.raises(CheckpointSignatureError, match=r"signature by rekor\.sigstore\.dev"):
        verify_checkpoint(cp, [impostor])
    # Either key of the two may be the log's: one that verifies is enough.
    assert verify_checkpoint(cp, [impostor, REKOR]).key_hint == REKOR.key_hint


def test_witness_lines_are_ignored_but_a_bad_line_of_a_known_key_rejects() -> None:
    cp = parse_checkpoint(_real_checkpoint())
    origin, size, root, ext, (sig,) = _parts(cp)
    witness = f"{EM} witness.example {base64.b64encode(bytes(68)).decode()}"
    cosigned = parse_checkpoint(_render(origin, size, root, ext, [witness, sig]))
    assert verify_checkpoint(cosigned, [REKOR]) == cp.signatures[0]
    # A second, bad line from the log's key: Go's note.Open rejects the note, and so do we.
    bad = NoteSignature("rekor.sigstore.dev", REKOR.key_hint, b"\x30\x00")
    doubled = parse_checkpoint(_render(origin, size, root, ext, [sig, _sig_line(bad)]))
    with pytest.raises(CheckpointSignatureError, match="does not verify"):
        verify_checkpoint(doubled, [REKOR])


# --- Ed25519 (C2SP, Rekor v2) ---------------------------------------------------------------------


def test_ed25519_checkpoint_with_an_unknown_cosignature() -> None:
    log_key = ed25519.Ed25519PrivateKey.generate()
    witness_key = ed25519.Ed25519PrivateKey.generate()
    root = bytes(range(32))
    note = sign_checkpoint(
        "example.com/log",
        12,
        root,
        ["extension line"],
        [("example.com/log", log_key), ("witness.example/w1", witness_key)],
    )
    cp = parse_checkpoint(note)
    assert (cp.origin, cp.size, cp.root_hash, cp.extensions) == (
        "example.com/log",
        12,
        root,
        ("extension line",),
    )
    assert len(cp.signatures) == 2
    log_verifier = Ed25519NoteVerifier("example.com/log", log_key.public_key())
    line = verify_checkpoint(cp, [log_verifier])
    assert line.name == "example.com/log"
    assert len(line.signature) == 64
    another = Ed25519NoteVerifier(
        "example.com/log", ed25519.Ed25519PrivateKey.generate().public_key()
    )
    with pytest.raises(CheckpointSignatureError, match="no signature line from a known key"):
        verify_checkpoint(cp, [another])
    # The witness's own key verifies its line, independently of the log's.
    witness = Ed25519NoteVerifier("witness.example/w1", witness_key.public_key())
    assert verify_checkpoint(cp, [witness]).name == "witness.example/w1"


def test_ed25519_tampered_checkpoint_fails() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    cp = parse_checkpoint(sign_checkpoint("example.com/log", 7, bytes(32), [], [("k", key)]))
    origin, _, root, ext, sigs = _parts(cp)
    tampered = parse_checkpoint(_render(origin, "8", root, ext, sigs))
    with pytest.raises(CheckpointSignatureError, match="signature by k"):
        verify_checkpoint(tampered, [Ed25519NoteVerifier("k", key.public_key())])


def test_ed25519_verifier_rejects_wrong_length_signatures() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    verifier = Ed25519NoteVerifier("k", key.public_key())
    signature = key.sign(b"text\n")
    assert verifier.verify(b"text\n", signature)
    assert not verifier.verify(b"text\n", signature + b"\x00")
    assert not verifier.verify(b"text\n", signature[:63])


def test_real_rekor_v2_checkpoint_verifies() -> None:
    bundle = json.loads((DATA / "sigstore" / "staging-rekor-v2.txt.sigstore.json").read_text())
    (entry,) = bundle["verificationMaterial"]["tlogEntries"]
    proof = entry["inclusionProof"]
    cp = parse_checkpoint(proof["checkpoint"]["envelope"])
    assert cp.origin == "log2025-alpha1.rekor.sigstage.dev"
    assert cp.size == int(proof["treeSize"])
    assert cp.root_hash == base64.b64decode(proof["rootHash"])
    # From sigstore's embedded staging trusted_root.json, tlog log2025-alpha1.rekor.sigstage.dev.
    key = load_der_public_key(
        base64.b64decode("MCowBQYDK2VwAyEAPn+AREHoBaZ7wgS1zBqpxmLSGnyhxXj4lFxSdWVB8o8=")
    )
    assert isinstance(key, ed25519.Ed25519PublicKey)
    verifier = Ed25519NoteVerifier("log2025-alpha1.rekor.sigstage.dev", key)
    # Sigstore's logId for a v2 shard is the full C2SP key id; the hint is its prefix.
    assert verifier.key_hint == base64.b64decode(entry["logId"]["keyId"])[:4]
    assert verify_checkpoint(cp, [verifier]).key_hint == verifier.key_hint
    wrong = Ed25519NoteVerifier("log2025-alpha1.rekor.sigstage.dev", _go_key(ENOCH_VKEY))
    with pytest.raises(CheckpointSignatureError):
        verify_checkpoint(cp, [wrong])


# --- golang.org/x/mod/sumdb/note test vectors (the C2SP key id rule, someone else's numbers) ------

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
PETER_SIG = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_SIG = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)


def _go_key(vkey: str) -> ed25519.Ed25519PublicKey:
    _, _, material = vkey.split("+", 2)
    raw = base64.b64decode(material)
    assert raw[0] == 1  # the Ed25519 algorithm byte
    return ed25519.Ed25519PublicKey.from_public_bytes(raw[1:])


@pytest.mark.parametrize(
    ("vkey", "signature"),
    [(PETER_VKEY, PETER_SIG), (ENOCH_VKEY, ENOCH_SIG)],
    ids=["peter", "enoch"],
)
def test_go_note_key_ids_and_signatures(vkey: str, signature: str) -> None:
    name, hint, _ = vkey.split("+", 2)
    verifier = Ed25519NoteVerifier(name, _go_key(vkey))
    assert verifier.key_hint.hex() == hint
    blob = base64.b64decode(signature)
    assert blob[:4] == verifier.key_hint
    assert verifier.verify(GO_TEXT, blob[4:])
    assert not verifier.verify(GO_TEXT.replace(b"cryptography", b"cryptographY"), blob[4:])
    # The key id covers the name: the same key under another name has another id.
    assert Ed25519NoteVerifier(name + "x", _go_key(vkey)).key_hint.hex() != hint


def test_go_signer_key_signs_like_go() -> None:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])[1:]  # PRIVATE+KEY+name+id+key
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    # Ed25519 is deterministic, so the published note signature is reproduced byte for byte.
    assert key.sign(GO_TEXT) == base64.b64decode(PETER_SIG)[4:]
    cp = parse_checkpoint(sign_checkpoint("o", 1, bytes(32), [], [("PeterNeumann", key)]))
    assert cp.signatures[0].key_hint.hex() == "c74f20a3"


def test_go_malformed_notes_are_rejected() -> None:
    # note_test.go TestOpen badMsgs, as text.
    text = GO_TEXT.decode()
    peter = f"{EM} PeterNeumann {PETER_SIG}\n"
    for bad in (
        text,
        text + "\n",
        text + "\n" + peter[:-1],
        "\x01" + text + "\n" + peter,
        text + "\n" + f"{EM} Bad Name {PETER_SIG}",
        text + "\n" + peter + "Unexpected line.\n",
    ):
        with pytest.raises(CheckpointFormatError):
            parse_checkpoint(bad)


# sum.golang.org, the Go checksum database: a production C2SP Ed25519 log.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINTS = [
    (
        "go.sum database tree\n31700353\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n\n"
        f"{EM} sum.golang.org Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn"
        "/C3YI8oW9/C8DJ87F61QqspBYwM=\n"
    ),
    (
        "go.sum database tree\n65209736\n5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n\n"
        f"{EM} sum.golang.org Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz"
        "7l/R3cVtYspg3dxXABkGZZKdsQ8=\n"
    ),
    (
        "go.sum database tree\n3784599\n7uvxIZ67TZygcq/AehTD8iHYt81Ih+Zl2Y7vXZbfszQ=\n\n"
        f"{EM} sum.golang.org Az3grn972wXskjQrsZhVGc93fTU2uOsmSTiId1Wn1lxDCup5z4ggl1/4gaUqOkMa"
        "6cMbYvjB7hn7yemNr7Zqanol/go=\n"
    ),
]


@pytest.mark.parametrize("note", SUMDB_CHECKPOINTS, ids=lambda n: n.split("\n")[1])
def test_real_go_checksum_database_checkpoints_verify(note: str) -> None:
    verifier = Ed25519NoteVerifier("sum.golang.org", _go_key(SUMDB_VKEY))
    assert verifier.key_hint.hex() == "033de0ae"
    cp = parse_checkpoint(note)
    assert cp.origin == "go.sum database tree"
    assert verify_checkpoint(cp, [verifier]).name == "sum.golang.org"
    origin, _, root, ext, sigs = _parts(cp)
    tampered = parse_checkpoint(_render(origin, str(cp.size - 1), root, ext, sigs))
    with pytest.raises(CheckpointSignatureError):
        verify_checkpoint(tampered, [verifier])


# --- parsing strictness ---------------------------------------------------------------------------

_GOOD_ROOT = base64.b64encode(bytes(range(32))).decode()
_GOOD_SIG = f"{EM} name {base64.b64encode(bytes(68)).decode()}"


def _note(*text_lines: str, sigs: tuple[str, ...] = (_GOOD_SIG,)) -> str:
    return "".join(f"{line}\n" for line in text_lines) + "\n" + "".join(f"{s}\n" for s in sigs)


MALFORMED = [
    ("origin\n1\n" + _GOOD_ROOT + "\n", "no blank line"),
    ("origin\n1\n" + _GOOD_ROOT + "\n\n", "no signature lines"),
    (_note("origin", "1", _GOOD_ROOT)[:-1], "does not end in a newline"),
    (_note("origin", "1"), "it needs origin, tree size and root hash"),
    (_note("", "1", _GOOD_ROOT), "origin line is empty"),
    ("\n\n" + _GOOD_SIG + "\n", "1 line;"),
    (_note("origin", "01", _GOOD_ROOT), "not a canonical decimal"),
    (_note("origin", "+1", _GOOD_ROOT), "not a canonical decimal"),
    (_note("origin", "-1", _GOOD_ROOT), "not a canonical decimal"),
    (_note("origin", "1.0", _GOOD_ROOT), "not a canonical decimal"),
    (_note("origin", " 1", _GOOD_ROOT), "not a canonical decimal"),
    (_note("origin", "", _GOOD_ROOT), "1 line;"),  # an empty line ends the text
    (_note("origin", "\u0661", _GOOD_ROOT), "not a canonical decimal"),  # ARABIC-INDIC ONE
    (_note("origin", str(2**64), _GOOD_ROOT), "the largest log size the auditor holds"),
    # A signed size of 2^63 ended a tiled crawl (exit 70): the database holds no such number.
    (_note("origin", str(2**63), _GOOD_ROOT), "is more than 9223372036854775807"),
    # More digits than int() converts (4300) raised a ValueError, not a CheckpointFormatError.
    (_note("origin", "1" * 5000, _GOOD_ROOT), "'11111111111111111111"),
    (_note("origin", "1", base64.b64encode(bytes(31)).decode()), "is 31 bytes, expected 32"),
    (_note("origin", "1", base64.b64encode(bytes(33)).decode()), "is 33 bytes, expected 32"),
    (_note("origin", "1", _GOOD_ROOT.rstrip("=")), "root hash is not valid base64"),
    (_note("origin", "1", _GOOD_ROOT[:-2] + "9="), "root hash is not canonical base64"),
    (_note("origin", "1", _GOOD_ROOT.replace("A", "-", 1)), "root hash is not valid base64"),
    (_note("origin", "1", " " + _GOOD_ROOT), "root hash is not valid base64"),
    (_note("origin", "1", _GOOD_ROOT, sigs=("- name AAAAAAAA",)), "does not start with an em dash"),
    (_note("origin", "1", _GOOD_ROOT, sigs=("--name AAAAAAAA",)), "does not start with an em dash"),
    (_note("origin", "1", _GOOD_ROOT, sigs=(f"{EM}name AAAAAAAA",)), "em dash and a space"),
    (_note("origin", "1", _GOOD_ROOT, sigs=(f"{EM} a+b AAAAAAAA",)), "invalid key name"),
    (_note("origin", "1", _GOOD_ROOT, sigs=(f"{EM}  AAAAAAAA",)), "invalid key name"),
    (_note("origin", "1", _GOOD_ROOT, sigs=(f"{EM} a\u00a0b AAAAAAAA",)), "invalid key name"),
    (_note("origin", "1", _GOOD_ROOT, sigs=(f"{EM} name",)), "line 1 holds 0 bytes, too short"),
    (_note("origin", "1", _GOOD_ROOT, sigs=(f"{EM} name AAAAAAAA x",)), "not valid base64"),
    (_note("origin", "1", _GOOD_ROOT, sigs=(f"{EM} name AAAAAA==",)), "4 bytes, too short"),
    (_note("origin", "1", _GOOD_ROOT, sigs=(_GOOD_SIG, "")), "line 2 does not start"),
    (_note("origin", "1", _GOOD_ROOT, sigs=(_GOOD_SIG,) * 101), "101 signature lines"),
    (_note("o" * (1 << 20), "1", _GOOD_ROOT), "more than 1 MiB"),
    (_note("origin\r", "1", _GOOD_ROOT), "control character '\\r'"),
    (_note("origin", "1", _GOOD_ROOT, "ext\tension"), "control character '\\t'"),
    (_note("origin\ud800", "1", _GOOD_ROOT), "not valid UTF-8"),
]


@pytest.mark.parametrize(("text", "reason"), MALFORMED, ids=[r for _, r in MALFORMED])
def test_malformed_checkpoints_are_rejected_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(CheckpointFormatError) as caught:
        parse_checkpoint(text)
    assert reason in str(caught.value)
    assert isinstance(caught.value, InputError)


def test_non_text_is_a_format_error() -> None:
    with pytest.raises(CheckpointFormatError, match="must be text, not NoneType"):
        parse_checkpoint(None)  # type: ignore[arg-type]


def test_well_formed_edge_cases_parse() -> None:
    cp = parse_checkpoint(_note("o", "0", _GOOD_ROOT, "ext 1", "— ext 2", sigs=(_GOOD_SIG,) * 100))
    assert (cp.origin, cp.size, cp.extensions) == ("o", 0, ("ext 1", "— ext 2"))
    assert len(cp.signatures) == 100
    # tlog-checkpoint allows a uint64; the auditor holds sizes as int64 (see MALFORMED).
    assert parse_checkpoint(_note("o", str(2**63 - 1), _GOOD_ROOT)).size == 2**63 - 1
    unicode_name = f"{EM} n\u00e9me {base64.b64encode(bytes(5)).decode()}"
    assert parse_checkpoint(_note("o", "1", _GOOD_ROOT, sigs=(unicode_name,))).signatures == (
        NoteSignature("n\u00e9me", bytes(4), bytes(1)),
    )


def test_sign_checkpoint_round_trips() -> None:
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    note = sign_checkpoint(
        "host - 42", 99, bytes(range(32)), ["a", "b c"], [("e", ecdsa), ("d", ed)]
    )
    cp = parse_checkpoint(note)
    assert cp.signed_text == b"host - 42\n99\n" + base64.b64encode(bytes(range(32))) + b"\na\nb c\n"
    assert [s.name for s in cp.signatures] == ["e", "d"]
    assert verify_checkpoint(cp, [note_verifier("e", ecdsa.public_key())]).name == "e"
    assert verify_checkpoint(cp, [note_verifier("d", ed.public_key())]).name == "d"
    assert isinstance(note_verifier("d", ed.public_key()), Ed25519NoteVerifier)
    assert isinstance(note_verifier("e", ecdsa.public_key()), EcdsaNoteVerifier)


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions", "reason"),
    [
        ("", 1, bytes(32), [], "must be non-empty"),
        ("a\nb", 1, bytes(32), [], "must be non-empty and hold no newline"),
        ("o", 1, bytes(32), [""], "must be non-empty"),
        ("o", -1, bytes(32), [], "canonical decimal"),
        ("o", 1, bytes(31), [], "31 bytes"),
    ],
)
def test_sign_checkpoint_refuses_what_cannot_be_a_checkpoint(
    origin: str, size: int, root: bytes, extensions: list[str], reason: str
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(CheckpointFormatError, match=reason):
        sign_checkpoint(origin, size, root, extensions, [("k", key)])
    with pytest.raises(CheckpointFormatError, match="no signature lines"):
        sign_checkpoint("o", 1, bytes(32), [], [])


# --- fuzzing --------------------------------------------------------------------------------------


def _rendered(cp: Checkpoint) -> str:
    return cp.signed_text.decode() + "\n" + "".join(f"{_sig_line(s)}\n" for s in cp.signatures)


def _parse_or_none(text: str) -> Checkpoint | None:
    try:
        cp = parse_checkpoint(text)
    except CheckpointFormatError as error:
        assert str(error)
        return None
    # Whatever parses has exactly one spelling: the fields render back to the input.
    assert _rendered(cp) == text
    return cp


@settings(max_examples=1000, deadline=None)
@given(st.text())
def test_arbitrary_text_raises_only_format_errors(text: str) -> None:
    _parse_or_none(text)


_PIECES = st.sampled_from(
    ["\n", "\n\n", EM, " ", "+", "=", "/", "0", "1", "A", "a", "\r", "\u00a0", "\ud800", "é", ""]
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 3), _PIECES), max_size=4))
def test_mutated_real_checkpoints_raise_only_format_errors(
    edits: list[tuple[int, int, str]],
) -> None:
    text = _real_checkpoint()
    for position, deleted, inserted in edits:
        position %= len(text) + 1
        text = text[:position] + inserted + text[position + deleted :]
    cp = _parse_or_none(text)
    if cp is not None and cp.raw != _real_checkpoint():
        # A changed checkpoint that still parses must not verify.
        if cp.signed_text != parse_checkpoint(_real_checkpoint()).signed_text:
            with pytest.raises(CheckpointSignatureError):
                verify_checkpoint(cp, [REKOR])


@pytest.mark.parametrize(("origin", "tree_id"), [
    ("rekor.sigstore.dev - 1193050959916656506", 1193050959916656506),
    ("rekor.sigstore.dev - 0", 0),
    ("rekor.sigstore.dev - 9223372036854775807", 2**63 - 1),
    # A second spelling of a tree, or none: each put a checkpoint beyond its tree's history.
    ("rekor.sigstore.dev - 01", None),
    ("rekor.sigstore.dev - \uff11", None),
    ("rekor.sigstore.dev - +1", None),
    ("rekor.sigstore.dev - nameless", None),
    ("rekor.sigstore.dev - 9223372036854775808", None),
    ("rekor.sigstore.dev - 1" + "0" * 30, None),
    ("rekor.sigstore.dev 1", None),
])
def test_a_rekor_origin_names_a_tree_id_in_one_spelling(origin: str, tree_id: int | None) -> None:
    assert origin_tree_id(origin) == tree_id
    assert origin_tree_id(origin, "rekor.sigstore.dev") == tree_id
    assert origin_tree_id(origin, "other.example") is None


def test_the_log_line_twice_is_refused_as_in_a_tlog_proof() -> None:
    """One rule for every checkpoint (Oak's for tlog-proofs): a log signs a checkpoint once.
    The same Rekor v1 line twice was accepted, where a tlog-proof refused it."""
    cp = parse_checkpoint(_real_checkpoint())
    origin, size, root, ext, (sig,) = _parts(cp)
    doubled = parse_checkpoint(_render(origin, size, root, ext, [sig, sig]))
    with pytest.raises(CheckpointSignatureError, match=r"^2 signature lines by the log's keys; "
                       r"exactly one is expected \(a log signs a checkpoint once\)$"):
        verify_checkpoint(doubled, [REKOR])
