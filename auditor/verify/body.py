"""Rekor entry bodies: `rekord` v0.0.1, `hashedrekord` v0.0.1 and v0.0.2, `dsse` v0.0.1 and
v0.0.2.

A body names the signed digest (for DSSE: the payload's digest), the signature and the verifying
key (or certificate). Any other kind or version is reported as unsupported, never guessed at.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from auditor.errors import InputError
from auditor.verify.keys import PublicKey, load_public_key

SUPPORTED = {("rekord", "0.0.1"), ("hashedrekord", "0.0.1"), ("hashedrekord", "0.0.2"),
             ("dsse", "0.0.1"), ("dsse", "0.0.2")}


class BodyError(Exception):
    """The body is malformed or of a kind we do not verify (an expected outcome)."""


@dataclass(frozen=True)
class EntryBody:
    kind: str
    api_version: str
    digest_algorithm: str
    digest: bytes
    signature: bytes
    key: PublicKey
    #: DER of the X.509 certificate when the body carries one instead of a bare key.
    certificate: bytes | None

    @property
    def is_dsse(self) -> bool:
        """A DSSE body: `digest` is the payload's sha256, the signature is over PAE."""
        return self.kind == "dsse"


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict) or name not in obj:
            raise BodyError(f"body field {'.'.join(path)} is missing")
        obj = obj[name]
    return obj


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise BodyError(f"body field {what} is not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BodyError(f"body field {what} is not valid base64") from None


def _verifier(material: bytes, what: str) -> tuple[PublicKey, bytes | None]:
    try:
        key = load_public_key(material, source=what)
    except InputError as error:
        raise BodyError(str(error)) from None
    certificate: bytes | None = None
    stripped = material.strip()
    if stripped.startswith(b"-----BEGIN CERTIFICATE-----"):
        certificate = x509.load_pem_x509_certificate(stripped).public_bytes(Encoding.DER)
    elif not stripped.startswith(b"-----BEGIN") and key.spki_der != material:
        certificate = material
    return key, certificate


def _hex_sha256(spec: Any, *path: str) -> bytes:
    """A v0.0.1 `{algorithm: "sha256", value: hex}` object at `path`."""
    where = ".".join(path)
    algorithm = _get(spec, *path, "algorithm")
    if algorithm != "sha256":
        raise BodyError(f"unsupported {where} algorithm {algorithm!r} (only sha256)")
    value = _get(spec, *path, "value")
    try:
        digest = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise BodyError(f"body field {where}.value is not a 32-byte hex digest")
    return digest


def _b64_sha256(spec: Any, *path: str) -> bytes:
    """A v0.0.2 `{algorithm: "SHA2_256", digest: base64}` object at `path`."""
    where = ".".join(path)
    if _get(spec, *path, "algorithm") != "SHA2_256":
        raise BodyError(f"unsupported {where} algorithm (only SHA2_256)")
    digest = _b64(_get(spec, *path, "digest"), f"{where}.digest")
    if len(digest) != 32:
        raise BodyError(f"body field {where}.digest is not 32 bytes")
    return digest


def _v001(kind: str, spec: Any) -> EntryBody:
    if kind == "rekord":
        signature_format = _get(spec, "signature", "format")
        if signature_format != "x509":
            raise BodyError(f"unsupported rekord signature format {signature_format!r}")
    key_material = _b64(_get(spec, "signature", "publicKey", "content"), "publicKey.content")
    key, certificate = _verifier(key_material, "body publicKey")
    return EntryBody(
        kind=kind,
        api_version="0.0.1",
        digest_algorithm="sha256",
        digest=_hex_sha256(spec, "data", "hash"),
        signature=_b64(_get(spec, "signature", "content"), "signature.content"),
        key=key,
        certificate=certificate,
    )


def _hashedrekord_v002(spec: Any) -> EntryBody:
    inner = _get(spec, "hashedRekordV002")
    digest = _b64_sha256(inner, "data")
    key, certificate = _verifier(_v002_verifier(_get(inner, "signature", "verifier")),
                                 "body verifier")
    return EntryBody(
        kind="hashedrekord",
        api_version="0.0.2",
        digest_algorithm="sha256",
        digest=digest,
        signature=_b64(_get(inner, "signature", "content"), "signature.content"),
        key=key,
        certificate=certificate,
    )


def _single_signature(signatures: Any) -> Any:
    if not isinstance(signatures, list) or not signatures:
        raise BodyError("DSSE body has no signatures")
    if len(signatures) > 1:
        raise BodyError("multi-signature DSSE envelopes are not supported")
    return signatures[0]


def _dsse_v001(spec: Any) -> EntryBody:
    digest = _hex_sha256(spec, "payloadHash")
    signature = _single_signature(_get(spec, "signatures"))
    key, certificate = _verifier(_b64(_get(signature, "verifier"), "verifier"), "DSSE verifier")
    return EntryBody("dsse", "0.0.1", "sha256", digest,
                     _b64(_get(signature, "signature"), "signature"), key, certificate)


def _dsse_v002(spec: Any) -> EntryBody:
    inner = _get(spec, "dsseV002")
    digest = _b64_sha256(inner, "payloadHash")
    signature = _single_signature(_get(inner, "signatures"))
    key, certificate = _verifier(_v002_verifier(_get(signature, "verifier")), "DSSE verifier")
    return EntryBody("dsse", "0.0.2", "sha256", digest,
                     _b64(_get(signature, "content"), "signature.content"), key, certificate)


def _v002_verifier(verifier: Any) -> bytes:
    if isinstance(verifier, dict) and "x509Certificate" in verifier:
        return _b64(_get(verifier, "x509Certificate", "rawBytes"), "x509Certificate.rawBytes")
    return _b64(_get(verifier, "publicKey", "rawBytes"), "publicKey.rawBytes")


def kind_of(body: bytes) -> tuple[str, str]:
    """(kind, apiVersion) of a body, or ("?", "?") when it does not say."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "?", "?"
    if not isinstance(document, dict):
        return "?", "?"
    return str(document.get("kind", "?")), str(document.get("apiVersion", "?"))


def parse_body(body: bytes) -> EntryBody:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BodyError("body is not valid JSON") from None
    kind, version = kind_of(body)
    if (kind, version) not in SUPPORTED:
        raise BodyError(f"unsupported kind {kind} v{version}")
    spec = _get(document, "spec")
    if kind == "dsse":
        return _dsse_v002(spec) if version == "0.0.2" else _dsse_v001(spec)
    if version == "0.0.2":
        return _hashedrekord_v002(spec)
    return _v001(kind, spec)
