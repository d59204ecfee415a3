"""Faithfulness: a ``hashedrekord`` entry served by the local Rekor passes sigstore-python.

sigstore-python (4.x) verifies through its public API only bundles whose signer is an
X.509 certificate chaining to a Fulcio CA with an embedded SCT; bare public keys are not
supported (sigstore/sigstore-python#1244, open). So this test plays Fulcio and a CT log
with throwaway keys: it issues a code-signing certificate with an embedded precertificate
SCT, logs a ``hashedrekord`` for it in the local log, fetches the entry over HTTP, wraps it
in a Sigstore bundle v0.3 exactly as a Rekor v1 response maps to one, and verifies it with
``sigstore.verify.Verifier`` under a ``TrustedRoot`` holding the test log key. Only public
sigstore modules are used (``sigstore.models``, ``sigstore.verify``, ``sigstore.errors``,
``sigstore.hashes``). Sigstore checks the inclusion proof, the signed checkpoint, the SET,
the certificate chain at integratedTime, the SCT, the signature, and that the entry body
equals the hashedrekord it would build itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sigstore.errors import VerificationError
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import UnsafeNoOp

from testlog import ManualClock, RekorLog, RunningServer, serve

INTEGRATED = 1_750_000_000
_SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")  # RFC 6962 §3.3


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _der_octet_string(data: bytes) -> bytes:
    n = len(data)
    length = (
        bytes([n])
        if n < 128
        else bytes([0x80 | ((n.bit_length() + 7) // 8)])
        + n.to_bytes((n.bit_length() + 7) // 8, "big")
    )
    return b"\x04" + length + data


class FakeSigstore:
    """A throwaway Fulcio CA and CT log."""

    def __init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-fulcio")])
        start = dt.datetime.fromtimestamp(INTEGRATED, dt.UTC) - dt.timedelta(days=30)
        ca_public = self.ca_key.public_key()
        self.ca = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(ca_public).serial_number(1)
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_public), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )  # fmt: skip

    def issue(self, key: ec.EllipticCurvePrivateKey, email: str) -> x509.Certificate:
        """A Fulcio-like leaf, valid 10 minutes around INTEGRATED, with an embedded SCT."""
        start = dt.datetime.fromtimestamp(INTEGRATED - 300, dt.UTC)

        def builder() -> x509.CertificateBuilder:
            return (
                x509.CertificateBuilder().subject_name(x509.Name([]))
                .issuer_name(self.ca.subject).public_key(key.public_key()).serial_number(7)
                .not_valid_before(start).not_valid_after(start + dt.timedelta(minutes=10))
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                             False, False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]),
                               critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]),
                               critical=True)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.ca_key.public_key()), critical=False)
            )  # fmt: skip

        precert = builder().sign(self.ca_key, hashes.SHA256())
        sct = self._sct(precert.tbs_certificate_bytes, INTEGRATED - 299)
        cert = (
            builder()
            .add_extension(
                x509.UnrecognizedExtension(_SCT_OID, _der_octet_string(sct)), critical=False
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        assert cert.tbs_precertificate_bytes == precert.tbs_certificate_bytes
        return cert

    def _sct(self, tbs_precert: bytes, when: int) -> bytes:
        """A SignedCertificateTimestampList holding one v1 precert SCT (RFC 6962 §3.2)."""
        issuer_key_hash = hashlib.sha256(_spki(self.ca_key.public_key())).digest()
        millis = when * 1000
        signed_entry = issuer_key_hash + len(tbs_precert).to_bytes(3, "big") + tbs_precert
        signed = struct.pack("!BBQH", 0, 0, millis, 1) + signed_entry + b"\x00\x00"
        signature = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        log_id = hashlib.sha256(_spki(self.ct_key.public_key())).digest()
        sct = (
            b"\x00" + log_id + struct.pack("!Q", millis) + b"\x00\x00"
            + b"\x04\x03" + struct.pack("!H", len(signature)) + signature
        )  # fmt: skip
        item = struct.pack("!H", len(sct)) + sct
        return struct.pack("!H", len(item)) + item

    def trusted_root(self, log: RekorLog, url: str) -> dict[str, Any]:
        def key(public: ec.EllipticCurvePublicKey) -> dict[str, Any]:
            return {
                "rawBytes": _b64(_spki(public)),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            }

        def instance(public: ec.EllipticCurvePublicKey, base: str) -> dict[str, Any]:
            return {
                "baseUrl": base,
                "hashAlgorithm": "SHA2_256",
                "publicKey": key(public),
                "logId": {"keyId": _b64(hashlib.sha256(_spki(public)).digest())},
            }

        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [instance(log.signer.private_key.public_key(), url)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "test", "commonName": "fake-fulcio"},
                    "uri": "https://fulcio.invalid",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": _b64(self.ca.public_bytes(serialization.Encoding.DER))}
                        ]
                    },
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                }
            ],
            "ctlogs": [instance(self.ct_key.public_key(), "https://ct.invalid")],
            "timestampAuthorities": [],
        }


def bundle_from_v1_entry(
    document: dict[str, Any], cert: x509.Certificate, digest: bytes, signature: bytes
) -> str:
    """A Sigstore bundle v0.3 from a Rekor v1 entry response (protobuf-specs field names)."""
    ((_, entry),) = document.items()
    proof = entry["verification"]["inclusionProof"]
    body = json.loads(base64.b64decode(entry["body"]))
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "certificate": {"rawBytes": _b64(cert.public_bytes(serialization.Encoding.DER))},
            "tlogEntries": [
                {
                    "logIndex": str(entry["logIndex"]),
                    "logId": {"keyId": _b64(bytes.fromhex(entry["logID"]))},
                    "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
                    "integratedTime": str(entry["integratedTime"]),
                    "inclusionPromise": {
                        "signedEntryTimestamp": entry["verification"]["signedEntryTimestamp"]
                    },
                    "inclusionProof": {
                        "logIndex": str(proof["logIndex"]),
                        "rootHash": _b64(bytes.fromhex(proof["rootHash"])),
                        "treeSize": str(proof["treeSize"]),
                        "hashes": [_b64(bytes.fromhex(h)) for h in proof["hashes"]],
                        "checkpoint": {"envelope": proof["checkpoint"]},
                    },
                    "canonicalizedBody": entry["body"],
                }
            ],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": _b64(digest)},
            "signature": _b64(signature),
        },
    }
    return json.dumps(bundle)


@dataclass
class Setting:
    server: RunningServer
    verifier: Verifier
    index: int
    cert: x509.Certificate
    digest: bytes
    signature: bytes
    artifact: bytes


@pytest.fixture
def setting(tmp_path: Path) -> Iterator[Setting]:
    fake = FakeSigstore()
    log = RekorLog(clock=ManualClock(INTEGRATED))
    # Other entries around it, and a frozen shard before, so indexes are not trivial.
    for i in range(5):
        log.add_body(json.dumps({"kind": "filler", "n": i}).encode())
    log.rotate()
    for i in range(6):
        log.add_body(json.dumps({"kind": "filler", "n": 10 + i}).encode())
    signer_key = ec.generate_private_key(ec.SECP256R1())
    cert = fake.issue(signer_key, "builder@example.com")
    artifact = b"an artifact that sigstore will verify\n"
    digest = hashlib.sha256(artifact).digest()
    signature = signer_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    entry = log.add_hashedrekord(digest, signature, cert.public_bytes(serialization.Encoding.PEM))
    log.add_body(b'{"kind":"filler","n":99}')
    with serve(log) as server:
        root_path = tmp_path / "trusted_root.json"
        root_path.write_text(json.dumps(fake.trusted_root(log, server.url)))
        verifier = Verifier(trusted_root=TrustedRoot.from_file(str(root_path)))
        yield Setting(server, verifier, entry.virtual_index, cert, digest, signature, artifact)


def _bundle(s: Setting) -> Bundle:
    response = requests.get(f"{s.server.url}/api/v1/log/entries?logIndex={s.index}", timeout=10)
    assert response.status_code == 200
    return Bundle.from_json(bundle_from_v1_entry(response.json(), s.cert, s.digest, s.signature))


def test_a_served_hashedrekord_verifies_under_sigstore_python(setting: Setting) -> None:
    assert setting.index == 11  # virtual: 5 entries in the frozen shard, then shard index 6
    bundle = _bundle(setting)
    setting.verifier.verify_artifact(setting.artifact, bundle, UnsafeNoOp())
    with pytest.raises(VerificationError):
        setting.verifier.verify_artifact(setting.artifact + b"x", bundle, UnsafeNoOp())


@pytest.mark.parametrize(
    ("switch", "reason"),
    [("tamper_inclusion_proof", "inclusion proof"), ("tamper_set", "SET"),
     ("tamper_checkpoint", "checkpoint: invalid signature")],
)  # fmt: skip
def test_sigstore_python_rejects_each_tampering(setting: Setting, switch: str, reason: str) -> None:
    setattr(setting.server.faults, switch, True)
    with pytest.raises(VerificationError, match=reason):
        setting.verifier.verify_artifact(setting.artifact, _bundle(setting), UnsafeNoOp())


def test_sigstore_python_rejects_another_log_key(setting: Setting, tmp_path: Path) -> None:
    other = json.loads((tmp_path / "trusted_root.json").read_text())
    impostor = RekorLog()
    other["tlogs"][0]["publicKey"]["rawBytes"] = _b64(impostor.signer.spki_der)
    (tmp_path / "other.json").write_text(json.dumps(other))
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(tmp_path / "other.json")))
    with pytest.raises(VerificationError):
        verifier.verify_artifact(setting.artifact, _bundle(setting), UnsafeNoOp())
