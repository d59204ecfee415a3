"""Rekor v1 `intoto` v0.0.2 entries: a real production bundle, the same entry as a bare Rekor v1
entry, Sigstore's conformance fixture, and tampering."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from auditor.source.bundle import parse_bundle, parse_bundle_bytes
from auditor.source.rekor_v1 import parse_entry_document
from auditor.verify.body import BodyError, pae, parse_body
from auditor.verify.bundle import verify_bundle
from auditor.verify.entry import EndorsementMaterial, Verification, verify_entry
from auditor.verify.keys import load_public_key
from auditor.verify.trust import keyring_from_trusted_root, production_keyring
from tests.bundles import b64, rekor_v1_entry
from tests.oakdata import DATA

# A real intoto v0.0.2 entry in rekor.sigstore.dev (logIndex 30955468), logged by sigstore-js.
JS_BUNDLE = DATA / "sigstore/sigstore-js-intoto.bundle.json"
CONFORMANCE = DATA / "sigstore/conformance/intoto-canonical-log-entry"
LOG_CHECKS_THAT_PASS = ("log_id", "inclusion_proof", "checkpoint_signature",
                        "checkpoint_matches_proof", "set", "body", "body_signature")

Document = dict[str, Any]


def outcomes(verification: Verification) -> dict[str, bool | None]:
    return {c.name: c.ok for c in verification.checks}


def failures(verification: Verification) -> set[str]:
    return {c.name for c in verification.failures}


def verify_js(document: Document, **material: Any) -> Verification:
    bundle = parse_bundle(document, source="sigstore-js bundle")
    (verification,) = verify_bundle(bundle, production_keyring(), EndorsementMaterial(**material))
    return verification


def js_document() -> Document:
    document: Document = json.loads(JS_BUNDLE.read_bytes())
    return document


def test_real_intoto_bundle_verifies_under_the_production_root() -> None:
    verification = verify_js(js_document())
    result = outcomes(verification)
    for name in (*LOG_CHECKS_THAT_PASS, "endorsement_signature"):
        assert result[name] is True, (name, verification.check(name).detail)
    assert result["leaf_hash"] is None  # a bundle carries no UUID
    assert verification.ok
    assert "sigstore-js's digest of the bundle's envelope" in verification.check("body").detail
    summary = verification.summary()
    assert (summary["kind"], summary["api_version"], summary["rekor_version"]) == (
        "intoto", "0.0.2", 1)


def test_real_intoto_entry_verifies_as_a_bare_rekor_v1_entry() -> None:
    (item,) = js_document()["verificationMaterial"]["tlogEntries"]
    entry = parse_entry_document(rekor_v1_entry(item), source="rekor v1 entry")
    verification = verify_entry(entry, production_keyring())
    result = outcomes(verification)
    assert result["leaf_hash"] is True
    for name in LOG_CHECKS_THAT_PASS[:-1]:
        assert result[name] is True, (name, verification.check(name).detail)
    # Rekor v1's canonical intoto body drops the payload: only the envelope holds what the
    # signature covers.
    assert result["body_signature"] is None
    assert verification.body is not None and verification.body.certificate is not None
    assert verification.ok


def _other_signature(document: Document) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    envelope = document["dsseEnvelope"]
    signed = pae(envelope["payloadType"], base64.b64decode(envelope["payload"]))
    envelope["signatures"][0]["sig"] = b64(key.sign(signed, ec.ECDSA(hashes.SHA256())))


def _reencoded_body(document: Document) -> None:
    (item,) = document["verificationMaterial"]["tlogEntries"]
    body = json.loads(base64.b64decode(item["canonicalizedBody"]))
    body["spec"]["content"]["payloadHash"]["value"] = hashlib.sha256(b"other").hexdigest()
    item["canonicalizedBody"] = b64(json.dumps(body, separators=(",", ":")).encode())


TAMPERS: dict[str, tuple[Callable[[Document], None], set[str], str]] = {
    "payload": (
        lambda d: d["dsseEnvelope"].update(payload=b64(b"content not signed\n")),
        {"body", "body_signature", "endorsement_signature"}, "different DSSE payload"),
    "payload type": (
        lambda d: d["dsseEnvelope"].update(payloadType="text/plain"),
        {"body", "body_signature", "endorsement_signature"}, "payload type"),
    "envelope signature": (
        _other_signature, {"body", "endorsement_signature"}, "not among the envelope's"),
    "logged body": (
        _reencoded_body, {"inclusion_proof", "set", "body"}, "different DSSE payload"),
}


@pytest.mark.parametrize("tamper", TAMPERS, ids=str)
def test_tampered_intoto_bundle_fails_the_right_checks(tamper: str) -> None:
    change, expected, reason = TAMPERS[tamper]
    document = copy.deepcopy(js_document())
    change(document)
    verification = verify_js(document)
    assert failures(verification) == expected
    assert reason in verification.check("body").detail


def test_conformance_intoto_bundle_fails_only_its_checkpoint_origin() -> None:
    """Sigstore's conformance fixture (a one-leaf custom log) verifies except for its origin.

    Its checkpoint says `rekor.test`; a Rekor v1 log names its shard `<host> - <treeID>`
    (DOMAIN.md §5), which our verifier insists on and Sigstore's clients do not check.
    """
    keyring = keyring_from_trusted_root((CONFORMANCE / "trusted_root.json").read_bytes(),
                                        source="conformance trusted root")
    bundle = parse_bundle_bytes((CONFORMANCE / "bundle.sigstore.json").read_bytes(),
                                source="conformance bundle")
    signer = load_public_key((CONFORMANCE / "key.pub").read_bytes())
    (verification,) = verify_bundle(bundle, keyring, EndorsementMaterial(endorser_keys=(signer,)))
    result = outcomes(verification)
    assert failures(verification) == {"checkpoint_matches_proof"}
    assert "must read 'rekor.test - <treeID>'" in verification.check(
        "checkpoint_matches_proof").detail
    for name in ("log_id", "inclusion_proof", "checkpoint_signature", "body", "body_signature",
                 "endorser_key", "endorsement_signature"):
        assert result[name] is True, (name, verification.check(name).detail)
    assert result["set"] is None  # the fixture carries no inclusion promise
    assert "not reproducible from the bundle" in verification.check("body").detail


def _intoto_body(**changes: Any) -> bytes:
    body: Document = json.loads(base64.b64decode(
        js_document()["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]))
    content = body["spec"]["content"]
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = content
        for name in parents:
            target = target[name]
        if value is None:
            del target[leaf]
        else:
            target[leaf] = value
    return json.dumps(body).encode()


def test_intoto_body_names_the_signature_key_and_digests() -> None:
    body = parse_body(_intoto_body())
    assert (body.kind, body.api_version, body.is_dsse) == ("intoto", "0.0.2", True)
    assert body.payload_type == "application/vnd.in-toto+json"
    assert body.digest == hashlib.sha256(b"content to be signed\n").digest()
    envelope_sig = js_document()["dsseEnvelope"]["signatures"][0]["sig"]
    assert body.signature == base64.b64decode(envelope_sig)  # unwrapped from its double base64


@pytest.mark.parametrize(("changes", "reason"), [
    ({"hash": None}, "field hash.algorithm is missing"),
    ({"payloadHash": None}, "payloadHash.algorithm is missing"),
    ({"payloadHash__algorithm": "sha512"}, "only sha256"),
    ({"envelope__payloadType": 7}, "payloadType is not a string"),
    ({"envelope__signatures": []}, "no signatures"),
    ({"envelope__signatures": [{"sig": "", "publicKey": ""}] * 2}, "multi-signature"),
    ({"envelope__signatures": [{"sig": b64(b"\xff\xfe"), "publicKey": ""}]}, "base64 text"),
], ids=str)
def test_malformed_intoto_bodies_are_body_errors(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(BodyError, match=reason):
        parse_body(_intoto_body(**changes))
