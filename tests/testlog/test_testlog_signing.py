"""Signed checkpoints, SETs and bodies of the test log, against real Rekor entries."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rekor_checks import checkpoint_verifies, entry_failures, parse_checkpoint, set_verifies

from testlog import LogSigner, ManualClock, RekorLog
from testlog.signing import set_payload

OAK = Path(__file__).parents[1] / "data" / "oak"
REAL_ENTRIES = sorted(OAK.glob("**/logentry.json"))


def _real_key() -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key((OAK / "rekor_public_key.pem").read_bytes())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def test_there_are_real_entries_to_compare_with() -> None:
    assert len(REAL_ENTRIES) == 6


@pytest.mark.parametrize("path", REAL_ENTRIES, ids=lambda p: p.parent.name)
def test_the_independent_checks_accept_real_rekor_entries(path: Path) -> None:
    document = json.loads(path.read_text())
    assert entry_failures(document, _real_key()) == []
    ((_, entry),) = document.items()
    entry["logIndex"] += 1
    assert "set" in entry_failures(document, _real_key())


@pytest.mark.parametrize("path", REAL_ENTRIES, ids=lambda p: p.parent.name)
def test_rekord_bodies_are_byte_for_byte_those_of_real_rekor(path: Path) -> None:
    """Rebuild each real Oak entry from its statement, signature and key."""
    ((uuid, real),) = json.loads(path.read_text()).items()
    folder = path.parent
    log = RekorLog(clock=ManualClock())
    entry = log.add_rekord(
        (folder / "endorsement.json").read_bytes(),
        (folder / "endorsement.json.sig").read_bytes(),
        (folder / "endorser_public_key.pem").read_bytes(),
    )
    assert entry.body == base64.b64decode(real["body"])
    assert entry.body_b64 == real["body"]
    assert entry.leaf_hash.hex() == uuid[16:]


def test_a_real_set_payload_is_what_the_production_key_signed() -> None:
    ((_, entry),) = json.loads((OAK / "single-entry-2024" / "logentry.json").read_text()).items()
    payload = set_payload(entry["body"], entry["integratedTime"], entry["logID"], entry["logIndex"])
    signature = base64.b64decode(entry["verification"]["signedEntryTimestamp"])
    _real_key().verify(signature, payload, ec.ECDSA(hashes.SHA256()))


def test_log_id_and_key_hint_are_the_spki_digest() -> None:
    signer = LogSigner()
    spki = signer.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert signer.log_id == hashlib.sha256(spki).hexdigest()
    assert signer.key_hint == bytes.fromhex(signer.log_id[:8])


def test_checkpoints_have_the_real_layout_and_verify() -> None:
    ((_, real),) = json.loads((OAK / "single-entry-2024" / "logentry.json").read_text()).items()
    real_checkpoint = real["verification"]["inclusionProof"]["checkpoint"]
    signer = LogSigner()
    root = hashlib.sha256(b"root").digest()
    text = signer.checkpoint("rekor.sigstore.dev - 1193050959916656506", 10289604, root)

    ours, theirs = parse_checkpoint(text), parse_checkpoint(real_checkpoint)
    assert (ours.origin, ours.size, ours.root) == (theirs.origin, theirs.size, root)
    assert [n for n, _, _ in ours.signatures] == [n for n, _, _ in theirs.signatures]
    assert ours.signatures[0][1] == signer.key_hint
    # Same line structure as the real note: three body lines, a blank line, one signature.
    assert [len(line) > 0 for line in text.split("\n")] == [
        len(line) > 0 for line in real_checkpoint.split("\n")
    ]
    assert checkpoint_verifies(ours, signer.private_key.public_key())
    assert checkpoint_verifies(theirs, _real_key())
    assert not checkpoint_verifies(ours, _real_key())


def test_a_checkpoint_signed_over_other_bytes_does_not_verify() -> None:
    signer = LogSigner()
    text = signer.checkpoint("h - 1", 3, bytes(32), sign_over=b"something else")
    assert not checkpoint_verifies(parse_checkpoint(text), signer.private_key.public_key())


def test_sets_are_signed_over_the_virtual_index() -> None:
    log = RekorLog(clock=ManualClock(1_700_000_000))
    log.add_body(b'{"kind":"x"}')
    log.rotate()
    entry = log.add_body(b'{"kind":"y"}')
    assert (entry.shard_index, entry.virtual_index) == (0, 1)
    document = {
        "body": entry.body_b64,
        "integratedTime": 1_700_000_000,
        "logID": log.log_id,
        "logIndex": 1,
        "verification": {
            "signedEntryTimestamp": base64.b64encode(entry.signed_entry_timestamp).decode()
        },
    }
    assert set_verifies(document, log.signer.private_key.public_key())
    document["logIndex"] = 0
    assert not set_verifies(document, log.signer.private_key.public_key())
