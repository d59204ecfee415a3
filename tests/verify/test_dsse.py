"""DSSE bundles: the artifact is the in-toto subject, the signature covers the envelope; the
envelope is logged as a dsse entry or as a hashedrekord over its PAE."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from auditor.errors import InputError
from auditor.source.bundle import parse_bundle
from auditor.verify.body import pae
from auditor.verify.bundle import verify_bundle
from auditor.verify.entry import EndorsementMaterial, Verification
from auditor.verify.keys import PublicKey
from auditor.verify.trust import LogKeyring, keyring_from_trusted_root, production_keyring
from testlog import ContentFaults, ManualClock, RekorApi, RekorLog
from tests.bundles import TiledLog, b64, bundle, hashedrekord_v002, tlog_entry
from tests.cli_runner import RunAudit
from tests.oakdata import DATA

PAYLOAD_TYPE = "application/vnd.in-toto+json"


def dsse_bundle(tmp_path: Path, artifact: bytes) -> tuple[Path, Path, Path]:
    """Log a DSSE v0.0.1 entry in a local test log; return (bundle, log key, signer key)."""
    log = RekorLog(clock=ManualClock(1_750_000_000))
    key = ec.generate_private_key(ec.SECP256R1())
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "bzImage",
                     "digest": {"sha256": hashlib.sha256(artifact).hexdigest()}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {},
    }
    payload = json.dumps(statement).encode()
    signature = key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    pem = PublicKey.from_crypto(key.public_key()).to_pem().encode()
    envelope = {"payload": b64(payload), "payloadType": PAYLOAD_TYPE,
                "signatures": [{"sig": b64(signature)}]}
    body = {"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "envelopeHash": {"algorithm": "sha256",
                         "value": hashlib.sha256(json.dumps(envelope).encode()).hexdigest()},
        "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
        "signatures": [{"signature": b64(signature), "verifier": b64(pem)}]}}
    log.add_body(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    ((_, entry),) = RekorApi(log, ContentFaults()).entry_by_index(0).items()
    document = bundle("0.3", [tlog_entry(entry, "dsse", "0.0.1")], "dsseEnvelope", envelope)
    paths = tmp_path / "bundle.json", tmp_path / "log.pem", tmp_path / "signer.pem"
    paths[0].write_text(json.dumps(document))
    paths[1].write_bytes(log.signer.public_pem)
    paths[2].write_bytes(pem)
    return paths


def outcomes(audit: RunAudit, *args: str) -> tuple[int, dict[str, bool | None]]:
    result = audit("verify-entry", *args, "--json")
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, {c["name"]: c["ok"] for c in json.loads(result.stdout)["checks"]}


def test_dsse_bundle_verifies_with_its_subject_as_artifact(audit: RunAudit,
                                                           tmp_path: Path) -> None:
    artifact = tmp_path / "bzImage"
    artifact.write_bytes(b"kernel image")
    bundle, log_key, signer = dsse_bundle(tmp_path, artifact.read_bytes())
    code, result = outcomes(audit, str(bundle), "--rekor-key", str(log_key), "--artifact",
                            str(artifact), "--endorser-key", str(signer))
    assert code == 0, result
    for name in ("inclusion_proof", "checkpoint_signature", "set", "body", "body_signature",
                 "endorser_key", "artifact_hash", "endorsement_signature"):
        assert result[name] is True, name
    assert result["statement"] is None  # an in-toto statement, not an Oak endorsement


def test_dsse_artifact_that_is_not_a_subject_fails(audit: RunAudit, tmp_path: Path) -> None:
    bundle, log_key, _ = dsse_bundle(tmp_path, b"kernel image")
    other = tmp_path / "other"
    other.write_bytes(b"another kernel")
    code, result = outcomes(audit, str(bundle), "--rekor-key", str(log_key), "--artifact",
                            str(other))
    assert code == 1
    assert {n for n, ok in result.items() if ok is False} == {"artifact_hash"}


def test_dsse_envelope_swapped_for_another_payload_fails_the_body(audit: RunAudit,
                                                                 tmp_path: Path) -> None:
    bundle_path, log_key, _ = dsse_bundle(tmp_path, b"kernel image")
    document = json.loads(bundle_path.read_text())
    document["dsseEnvelope"]["payload"] = b64(b'{"_type": "https://in-toto.io/Statement/v1"}')
    bundle_path.write_text(json.dumps(document))
    code, result = outcomes(audit, str(bundle_path), "--rekor-key", str(log_key))
    assert code == 1
    assert result["body"] is False and result["body_signature"] is False


# --- DSSE envelopes logged as a hashedrekord over their PAE (rekor-v2 spec §6.1.4) -----------

# Real: production Rekor v1, signed by sigstore-go for Sigstore's conformance suite.
HASHEDREKORD_DSSE = (DATA / "sigstore/conformance/dsse-with-hashedrekord-happy-path"
                     / "bundle.sigstore.json")


def checks(verification: Verification) -> dict[str, bool | None]:
    return {c.name: c.ok for c in verification.checks}


def verify_document(document: dict[str, Any], keyring: LogKeyring,
                    **material: Any) -> Verification:
    bundle = parse_bundle(document, source="bundle")
    (verification,) = verify_bundle(bundle, keyring, EndorsementMaterial(**material))
    return verification


def _replace_payload(document: dict[str, Any]) -> None:
    document["dsseEnvelope"]["payload"] = b64(b'{"_type": "https://in-toto.io/Statement/v1"}')


def _replace_signature(document: dict[str, Any]) -> None:
    envelope = document["dsseEnvelope"]
    signed = pae(envelope["payloadType"], base64.b64decode(envelope["payload"]))
    other = ec.generate_private_key(ec.SECP256R1()).sign(signed, ec.ECDSA(hashes.SHA256()))
    envelope["signatures"][0]["sig"] = b64(other)


def test_real_hashedrekord_over_dsse_bundle_verifies() -> None:
    verification = verify_document(json.loads(HASHEDREKORD_DSSE.read_bytes()),
                                   production_keyring())
    result = checks(verification)
    for name in ("log_id", "inclusion_proof", "checkpoint_signature", "checkpoint_matches_proof",
                 "set", "body", "body_signature", "endorsement_signature"):
        assert result[name] is True, (name, verification.check(name).detail)
    assert verification.ok
    assert "sha256 of the PAE of the bundle's envelope" in verification.check("body").detail


@pytest.mark.parametrize(("change", "expected", "reason"), [
    # Sigstore's conformance cases dsse-with-hashedrekord-mismatch-{envelope,sig}_fail.
    (_replace_payload, {"body", "endorsement_signature"}, "not sha256 of the PAE"),
    (_replace_signature, {"body", "endorsement_signature"}, "not among the envelope's"),
], ids=["envelope", "signature"])
def test_tampered_real_hashedrekord_over_dsse_bundle_fails_the_body(
        change: Callable[[dict[str, Any]], None], expected: set[str], reason: str) -> None:
    document = json.loads(HASHEDREKORD_DSSE.read_bytes())
    change(document)
    verification = verify_document(document, production_keyring())
    assert {c.name for c in verification.failures} == expected
    assert reason in verification.check("body").detail


def rekor_v2_dsse_bundle(log: TiledLog, statement: bytes,
                         signer: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """A Rekor v2 bundle of a DSSE envelope, logged as hashedrekord v0.0.2 over its PAE."""
    signature = signer.sign(pae(PAYLOAD_TYPE, statement), ec.ECDSA(hashes.SHA256()))
    digest = hashlib.sha256(pae(PAYLOAD_TYPE, statement)).digest()
    log.add(b'{"filler": 1}')
    index = log.add(hashedrekord_v002(digest, signature, signer.public_key()))
    log.add(b'{"filler": 2}')
    envelope = {"payload": b64(statement), "payloadType": PAYLOAD_TYPE,
                "signatures": [{"sig": b64(signature), "keyid": ""}]}
    return bundle("0.3", [log.tlog_entry(index, "hashedrekord")], "dsseEnvelope", envelope)


def in_toto_statement(artifact: bytes) -> bytes:
    return json.dumps({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "bzImage",
                     "digest": {"sha256": hashlib.sha256(artifact).hexdigest()}}],
        "predicateType": "https://slsa.dev/provenance/v1", "predicate": {},
    }).encode()


def test_rekor_v2_hashedrekord_over_dsse_bundle_verifies() -> None:
    log = TiledLog("log2099-1.rekor.example")
    signer = ec.generate_private_key(ec.SECP256R1())
    document = rekor_v2_dsse_bundle(log, in_toto_statement(b"kernel image"), signer)
    keyring = keyring_from_trusted_root(
        json.dumps(log.trusted_root("https://log2099-1.rekor.example")).encode(), source="root")
    verification = verify_document(
        document, keyring, artifact=b"kernel image",
        endorser_keys=(PublicKey.from_crypto(signer.public_key()),))
    result = checks(verification)
    for name in ("log_id", "inclusion_proof", "checkpoint_signature", "checkpoint_matches_proof",
                 "body", "body_signature", "endorser_key", "artifact_hash",
                 "endorsement_signature"):
        assert result[name] is True, (name, verification.check(name).detail)
    assert result["set"] is None and verification.ok
    assert verification.summary()["rekor_version"] == 2


def test_rekor_v2_hashedrekord_over_another_envelope_fails_the_body() -> None:
    """An envelope the same key signed, but not the one logged: only the body check can tell."""
    log = TiledLog("log2099-1.rekor.example")
    signer = ec.generate_private_key(ec.SECP256R1())
    document = rekor_v2_dsse_bundle(log, in_toto_statement(b"kernel image"), signer)
    other = in_toto_statement(b"another kernel")
    document["dsseEnvelope"] = {
        "payload": b64(other), "payloadType": PAYLOAD_TYPE,
        "signatures": [{"sig": b64(signer.sign(pae(PAYLOAD_TYPE, other),
                                               ec.ECDSA(hashes.SHA256())))}]}
    keyring = keyring_from_trusted_root(
        json.dumps(log.trusted_root("https://log2099-1.rekor.example")).encode(), source="root")
    verification = verify_document(document, keyring, artifact=b"another kernel")
    assert {c.name for c in verification.failures} == {"body"}
    assert "not sha256 of the PAE" in verification.check("body").detail


def _second_signature(document: dict[str, Any]) -> None:
    envelope = document["dsseEnvelope"]
    envelope["signatures"].append({"sig": b64(b"\x30" * 70), "keyid": ""})


def _message_signature_too(document: dict[str, Any]) -> None:
    document["messageSignature"] = {"messageDigest": {"algorithm": "SHA2_256",
                                                      "digest": b64(bytes(32))},
                                    "signature": b64(b"\x30" * 70)}


@pytest.mark.parametrize(("change", "said"), [
    (_second_signature, "2 signatures; a bundle's DSSE envelope has exactly one"),
    (_message_signature_too, "both messageSignature and dsseEnvelope"),
], ids=["two signatures", "two contents"])
def test_a_bundle_carrying_what_nothing_checks_is_refused(
        change: Callable[[dict[str, Any]], None], said: str) -> None:
    """A second envelope signature, or a message signature beside the envelope, was passed
    over: the bundle verified with it standing there unchecked."""
    document = json.loads(HASHEDREKORD_DSSE.read_bytes())
    change(document)
    with pytest.raises(InputError, match=said):
        parse_bundle(document, source="bundle")


def test_an_unlogged_dsse_bundle_finds_its_signer_over_the_envelope() -> None:
    # No tlog entry: the signer was looked for over the artifact (the statement's subject), not
    # the envelope the signature covers, so endorser_key said "verifies under no pinned
    # endorser key" of the pinned key that signed it.
    log = TiledLog("log2099-1.rekor.example")
    signer = ec.generate_private_key(ec.SECP256R1())
    document = rekor_v2_dsse_bundle(log, in_toto_statement(b"kernel image"), signer)
    document["verificationMaterial"]["tlogEntries"] = []
    verification = verify_document(
        document, production_keyring(), artifact=b"kernel image",
        endorser_keys=(PublicKey.from_crypto(signer.public_key()),))
    result = checks(verification)
    assert result["endorser_key"] is True, verification.check("endorser_key").detail
    assert result["endorsement_signature"] is True and result["artifact_hash"] is True
    assert result["inclusion_proof"] is False and not verification.ok
    other = ec.generate_private_key(ec.SECP256R1())
    stranger = verify_document(
        document, production_keyring(), artifact=b"kernel image",
        endorser_keys=(PublicKey.from_crypto(other.public_key()),))
    assert checks(stranger)["endorser_key"] is False
