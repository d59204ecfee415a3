"""Canonical ``rekord`` and ``hashedrekord`` v0.0.1 entry bodies, as real Rekor writes them.

Rekor canonicalises a proposed entry before logging it: it re-encodes the public key (or
certificate) as PEM, keeps the raw signature bytes and the artifact's SHA-256, and
serialises with Go's ``encoding/json`` over sorted keys and no whitespace. Keys sort the
same way in Python, so ``json.dumps(sort_keys=True, separators=(",", ":"))`` gives the
same bytes (checked against real bodies in ``tests/data/oak``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils


@dataclass(frozen=True)
class Verifier:
    """The public key of a logged signature, and the PEM Rekor stores for it."""

    public_key: object  # a cryptography public key; only ECDSA ones verify here
    canonical_pem: bytes  # a public key or a certificate, re-encoded as Rekor does
    spki_der: bytes


def parse_verifier(pem: bytes) -> Verifier:
    """Read a PEM public key or X.509 certificate the way Rekor's ``x509`` type does."""
    spki_format = serialization.PublicFormat.SubjectPublicKeyInfo
    if b"-----BEGIN CERTIFICATE-----" in pem:
        cert = x509.load_pem_x509_certificate(pem)
        cert_key = cert.public_key()
        spki = cert_key.public_bytes(serialization.Encoding.DER, spki_format)
        return Verifier(cert_key, cert.public_bytes(serialization.Encoding.PEM), spki)
    key = serialization.load_pem_public_key(pem)
    spki = key.public_bytes(serialization.Encoding.DER, spki_format)
    return Verifier(key, key.public_bytes(serialization.Encoding.PEM, spki_format), spki)


def canonical_json(document: object) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def rekord_body(sha256_hex: str, signature_der: bytes, verifier: Verifier) -> bytes:
    """``rekord`` v0.0.1 with an ``x509`` signature (every real Oak entry has this shape)."""
    return canonical_json(
        {
            "apiVersion": "0.0.1",
            "kind": "rekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": sha256_hex}},
                "signature": {
                    "content": base64.b64encode(signature_der).decode(),
                    "format": "x509",
                    "publicKey": {"content": base64.b64encode(verifier.canonical_pem).decode()},
                },
            },
        }
    )


def hashedrekord_body(sha256_hex: str, signature_der: bytes, verifier: Verifier) -> bytes:
    """``hashedrekord`` v0.0.1: like ``rekord`` without ``format``; the signature is over the
    digest."""
    return canonical_json(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": sha256_hex}},
                "signature": {
                    "content": base64.b64encode(signature_der).decode(),
                    "publicKey": {"content": base64.b64encode(verifier.canonical_pem).decode()},
                },
            },
        }
    )


def check_digest_signature(verifier: Verifier, digest: bytes, signature_der: bytes) -> None:
    """Raise ``ValueError`` unless ``signature_der`` is an ECDSA-SHA256 signature of ``digest``.

    Rekor refuses to log a signature that does not verify; so does this log by default.
    """
    key = verifier.public_key
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("only ECDSA keys are supported by the test log")
    try:
        key.verify(signature_der, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except InvalidSignature as exc:
        raise ValueError("the signature does not verify under the given key") from exc


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
