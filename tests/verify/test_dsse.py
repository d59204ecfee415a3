"""DSSE bundles: the artifact is the in-toto subject, the signature covers the envelope."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from auditor.verify.entry import pae
from auditor.verify.keys import PublicKey
from testlog import ContentFaults, ManualClock, RekorApi, RekorLog
from tests.bundles import b64, bundle, tlog_entry
from tests.cli_runner import RunAudit

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
