"""Each distinct signature is verified once; a remembered outcome is the check's own outcome.

The counts come from the memos themselves (a miss is a verification that ran): the real Oak
release entries, and entries of the local log under one checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from auditor.source.rekor_v1 import parse_entry_document
from auditor.verify import entry as entry_module
from auditor.verify.entry import EndorsementMaterial, verify_entry
from auditor.verify.keys import PublicKey, load_public_key
from auditor.verify.memo import SIGNATURES, Memo
from auditor.verify.trust import load_keyring
from testlog import Endorser, ManualClock, RekorLog
from testlog.api import RekorApi
from testlog.faults import ContentFaults
from testlog.synthetic import add_endorsements
from tests.oakdata import REKOR_KEY, RELEASE, RELEASE_COMPONENTS, SINGLE

KERNEL = RELEASE / "components" / "kernel"


@pytest.fixture(autouse=True)
def _fresh_memos() -> None:
    SIGNATURES.clear()
    entry_module._NOTES.clear()


def test_a_memo_holds_at_most_its_capacity_and_forgets_the_least_recently_used() -> None:
    memo: Memo[str, str] = Memo(3)
    computed: list[str] = []

    def compute(key: str) -> str:
        computed.append(key)
        return key.upper()

    def value(key: str) -> str:
        return memo.get(key, lambda: compute(key))

    assert [value(k) for k in "abc"] == ["A", "B", "C"]
    assert value("a") == "A"  # a is now the most recently used; b the least
    value("d")
    assert memo.stats().size == 3
    value("a")
    value("b")  # forgotten: computed again
    assert computed == ["a", "b", "c", "d", "b"]
    assert (memo.stats().hits, memo.stats().misses) == (2, 5)
    with pytest.raises(ValueError):
        Memo(0)


def test_a_remembered_signature_is_the_signature_check_itself() -> None:
    key = load_public_key((KERNEL / "endorser_public_key.pem").read_bytes())
    statement = (KERNEL / "endorsement.json").read_bytes()
    signature = (KERNEL / "endorsement.json.sig").read_bytes()
    assert key.verify(signature, statement)
    # ECDSA-SHA256 over the statement is the check over its digest: one verification.
    assert key.verify(signature, hashlib.sha256(statement).digest(), prehashed=True)
    assert (SIGNATURES.stats().misses, SIGNATURES.stats().hits) == (1, 1)
    # Other bytes, another signature, another key: each is its own check, and fails.
    assert not key.verify(signature, statement + b" ")
    flipped = bytearray(signature)
    flipped[-1] ^= 1
    assert not key.verify(bytes(flipped), statement)
    other = load_public_key((SINGLE / "endorser_public_key.pem").read_bytes())
    assert other != key and not other.verify(signature, statement)
    assert SIGNATURES.stats().misses == 4
    # Asked again, each answer stays what it was.
    assert key.verify(signature, statement) and not key.verify(bytes(flipped), statement)


def test_an_ed25519_key_never_verifies_a_bare_digest() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    key = PublicKey.from_crypto(private.public_key())
    message = b"a signed note"
    signature = private.sign(message)
    assert key.verify(signature, message)
    assert not key.verify(signature, hashlib.sha256(message).digest(), prehashed=True)


def _material(directory: Path) -> EndorsementMaterial:
    subject = directory / "subject.bin"
    return EndorsementMaterial(
        artifact=(directory / "endorsement.json").read_bytes(),
        signature=(directory / "endorsement.json.sig").read_bytes(),
        subject=subject.read_bytes() if subject.exists() else None,
        endorser_keys=(load_public_key((directory / "endorser_public_key.pem").read_bytes()),))


def test_a_real_oak_entry_costs_two_signature_verifications_and_verifies_the_same() -> None:
    keyring = load_keyring([REKOR_KEY], None)
    for component in RELEASE_COMPONENTS:
        directory = RELEASE / "components" / component
        document = json.loads((directory / "logentry.json").read_bytes())
        entry = parse_entry_document(document, source=str(directory))
        before = SIGNATURES.stats()
        first = verify_entry(entry, keyring, _material(directory))
        after = SIGNATURES.stats()
        # The signed entry timestamp, and the one signature that the body and endorsement
        # signature checks both cover (the log's checkpoint is a note, remembered apart).
        assert after.misses - before.misses == 2, component
        assert after.hits - before.hits == 1, component
        assert first.ok and first.check("body_signature").ok \
            and first.check("endorsement_signature").ok
        again = verify_entry(entry, keyring, _material(directory))
        assert SIGNATURES.stats().misses == after.misses  # nothing verified a second time
        assert again.checks == first.checks


def test_entries_under_one_checkpoint_verify_its_note_once(tmp_path: Path) -> None:
    log = RekorLog(clock=ManualClock())
    endorsers = [Endorser("stage0"), Endorser("kernel")]
    endorsements = add_endorsements(log, endorsers, 12)
    api = RekorApi(log, ContentFaults())
    (tmp_path / "log.pem").write_bytes(log.signer.public_pem)
    keyring = load_keyring([tmp_path / "log.pem"], None)
    entries = [parse_entry_document(api.entry_by_uuid(e.entry.uuid), source="testlog")
               for e in endorsements]
    assert len({e.proof.checkpoint for e in entries if e.proof}) == 1
    verifications = [verify_entry(e, keyring, EndorsementMaterial(
        artifact=endorsement.statement, endorser_keys=tuple(
            load_public_key(x.public_pem) for x in endorsers)))
        for e, endorsement in zip(entries, endorsements, strict=True)]
    assert all(v.ok and v.checkpoint_verified for v in verifications)
    notes = entry_module._NOTES.stats()
    assert (notes.misses, notes.hits) == (1, len(entries) - 1)
    assert SIGNATURES.stats().misses == 2 * len(entries)
    # Another text is another note: a checkpoint altered under the same signature fails.
    proof = entries[0].proof
    assert proof is not None and proof.checkpoint is not None
    altered = proof.checkpoint.replace("\n\n", "\nan extension line\n\n", 1)
    changed = replace(entries[0], proof=replace(proof, checkpoint=altered))
    assert verify_entry(changed, keyring).check("checkpoint_signature").ok is False
    assert entry_module._NOTES.stats().misses == 2
