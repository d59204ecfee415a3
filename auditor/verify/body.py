"""Rekor entry bodies: `rekord` v0.0.1, `hashedrekord` v0.0.1 and v0.0.2, `dsse` v0.0.1 and
v0.0.2, `intoto` v0.0.2; and whether a body records what a Sigstore bundle carries.

A body names the signed digest (for DSSE kinds: the payload's digest), the signature and the
verifying key (or certificate). Any other kind or version is reported as unsupported, never
guessed at.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding

from auditor.errors import InputError
from auditor.source.bundle import Bundle, DsseEnvelope
from auditor.source.json_input import JsonInputError, loads
from auditor.verify.keys import PublicKey, load_public_key
from auditor.wording import bounded, quoted

SUPPORTED = {("rekord", "0.0.1"), ("hashedrekord", "0.0.1"), ("hashedrekord", "0.0.2"),
             ("dsse", "0.0.1"), ("dsse", "0.0.2"), ("intoto", "0.0.2")}
#: Kinds whose digest is a DSSE payload's and whose signature covers the envelope's PAE.
DSSE_KINDS = ("dsse", "intoto")


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
    #: `intoto` only: the envelope's payload type, the uploading client's digest of its
    #: envelope, and the verifier (PEM) exactly as logged.
    payload_type: str | None = None
    envelope_hash: bytes | None = None
    verifier_material: bytes = b""

    @property
    def is_dsse(self) -> bool:
        """A DSSE body: `digest` is the payload's sha256, the signature is over PAE."""
        return self.kind in DSSE_KINDS


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
        raise BodyError(f"unsupported {where} algorithm {quoted(algorithm)} (only sha256)")
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
            raise BodyError(f"unsupported rekord signature format {quoted(signature_format)}")
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


def _intoto_v002(spec: Any) -> EntryBody:
    content = _get(spec, "content")
    payload_type = _get(content, "envelope", "payloadType")
    if not isinstance(payload_type, str):
        raise BodyError("body field envelope.payloadType is not a string")
    signature = _single_signature(_get(content, "envelope", "signatures"))
    # Rekor's intoto v0.0.2 keeps the envelope's base64 `sig` text base64-encoded once more
    # (strfmt.Base64 of the text) and the verifier as base64 of its PEM (rekor
    # pkg/types/intoto/v0.0.2: CreateFromArtifactProperties).
    sig_text = _b64(_get(signature, "sig"), "envelope.signatures[0].sig")
    try:
        sig_field = sig_text.decode("ascii")
    except UnicodeDecodeError:
        raise BodyError("body field envelope.signatures[0].sig is not base64 text") from None
    key_material = _b64(_get(signature, "publicKey"), "envelope.signatures[0].publicKey")
    key, certificate = _verifier(key_material, "intoto publicKey")
    return EntryBody(
        kind="intoto",
        api_version="0.0.2",
        digest_algorithm="sha256",
        digest=_hex_sha256(content, "payloadHash"),
        signature=_b64(sig_field, "envelope.signatures[0].sig (inner)"),
        key=key,
        certificate=certificate,
        payload_type=payload_type,
        envelope_hash=_hex_sha256(content, "hash"),
        verifier_material=key_material,
    )


def _v002_verifier(verifier: Any) -> bytes:
    if isinstance(verifier, dict) and "x509Certificate" in verifier:
        return _b64(_get(verifier, "x509Certificate", "rawBytes"), "x509Certificate.rawBytes")
    return _b64(_get(verifier, "publicKey", "rawBytes"), "publicKey.rawBytes")


def kind_of(body: bytes) -> tuple[str, str]:
    """(kind, apiVersion) of a body, or ("?", "?") when it does not say."""
    try:
        document = loads(body, "body")
    except JsonInputError:
        return "?", "?"
    return _kind(document)


def _kind(document: Any) -> tuple[str, str]:
    if not isinstance(document, dict):
        return "?", "?"
    return str(document.get("kind", "?")), str(document.get("apiVersion", "?"))


def parse_body(body: bytes) -> EntryBody:
    try:
        document = loads(body, "body")
    except JsonInputError as error:
        reason = str(error).removeprefix("body: ")
        raise BodyError("body is not valid JSON" if reason.startswith("not valid JSON")
                        else f"body refused: {reason}") from None
    kind, version = _kind(document)
    if (kind, version) not in SUPPORTED:
        # A log (or a bundle) may say anything here: quoted as every hostile value is.
        raise BodyError(f"unsupported kind {bounded(kind)} v{bounded(version)}")
    spec = _get(document, "spec")
    if kind == "intoto":
        return _intoto_v002(spec)
    if kind == "dsse":
        return _dsse_v002(spec) if version == "0.0.2" else _dsse_v001(spec)
    if version == "0.0.2":
        return _hashedrekord_v002(spec)
    return _v001(kind, spec)


# --- the body against a Sigstore bundle's own content ----------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding (DSSE protocol v1)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def bundle_mismatch(body: EntryBody, bundle: Bundle) -> str | None:
    """Why the entry does not record this bundle's signature and content; None when it does."""
    if bundle.certificate is not None:
        mismatch = _certificate_mismatch(body, bundle.certificate)
        if mismatch:
            return mismatch
    if bundle.envelope is not None:
        return _envelope_mismatch(body, bundle.envelope)
    if bundle.message is None or body.is_dsse:
        return "the entry is a DSSE entry but the bundle holds a message signature"
    if bundle.message.digest_algorithm not in ("SHA2_256", ""):
        return f"unsupported bundle digest algorithm {bundle.message.digest_algorithm}"
    if bundle.message.digest != body.digest:
        return "the entry is for a different artifact than the bundle's message digest"
    if bundle.message.signature != body.signature:
        return "the entry's signature differs from the bundle's signature"
    return None


def _certificate_mismatch(body: EntryBody, certificate: bytes) -> str | None:
    """Why the bundle's signing certificate is not the entry's signer, if it is not. An entry
    that logs a bare key is compared by key: a certificate for another key, or bytes that are
    no certificate at all, stood beside a verified bundle unchecked."""
    if body.certificate is not None:
        if certificate != body.certificate:
            return "the entry's certificate is not the bundle's signing certificate"
        return None
    try:
        key = PublicKey.from_crypto(x509.load_der_x509_certificate(certificate).public_key())
    except (ValueError, UnsupportedAlgorithm):
        return "the bundle's signing certificate is not a DER X.509 certificate"
    if key != body.key:
        return "the bundle's signing certificate is for another key than the entry's"
    return None


def _envelope_mismatch(body: EntryBody, envelope: DsseEnvelope) -> str | None:
    if body.kind == "hashedrekord":
        # Rekor v2 logs a DSSE envelope as a hashedrekord over the digest of its PAE
        # (rekor-v2 spec §6.1.4); Sigstore clients may log it so in Rekor v1 too (client spec,
        # "Bundle content vs. Rekor entry kind").
        envelope_pae = pae(envelope.payload_type, envelope.payload)
        if hashlib.sha256(envelope_pae).digest() != body.digest:
            return "the entry's digest is not sha256 of the PAE of the bundle's envelope"
    elif not body.is_dsse:
        return (f"the bundle holds a DSSE envelope but the entry is a {body.kind} entry, "
                "neither a DSSE entry nor a hashedrekord over the envelope's PAE")
    elif body.payload_type is not None and body.payload_type != envelope.payload_type:
        return (f"the entry is for payload type {quoted(body.payload_type)}, the bundle's envelope "
                f"for {quoted(envelope.payload_type)}")
    elif hashlib.sha256(envelope.payload).digest() != body.digest:
        return "the entry is for a different DSSE payload than the bundle's envelope"
    if body.signature not in envelope.signatures:
        return "the entry's signature is not among the envelope's signatures"
    return None


def envelope_note(body: EntryBody, envelope: DsseEnvelope) -> str:
    """How an entry that records the bundle's envelope binds it, for the body check's detail.

    An `intoto` entry's envelope hash is the uploading client's digest of its own encoding of
    the envelope, stored unchecked by Rekor and not kept by the bundle, so it is never a
    failure: the payload hash and signature are the binding. We recognise sigstore-js's
    encoding (npm provenance); others are reported as not reproducible.
    """
    if body.kind == "hashedrekord":
        return "; it is sha256 of the PAE of the bundle's envelope"
    if body.envelope_hash is None:
        return ""
    if body.envelope_hash in _sigstore_js_envelope_hashes(body, envelope):
        return "; the envelope hash is sigstore-js's digest of the bundle's envelope"
    return (f"; the envelope hash {body.envelope_hash.hex()} is the uploading client's digest "
            "of its own envelope encoding, not reproducible from the bundle (Rekor does not "
            "check it either)")


def _sigstore_js_envelope_hashes(body: EntryBody, envelope: DsseEnvelope) -> set[bytes]:
    # sigstore-js (packages/sign/src/witness/tlog/entry.ts, calculateDSSEHash): sha256 of the
    # RFC 8785 canonical JSON of {payloadType, payload, signatures: [{sig, publicKey}]} with
    # base64 payload and first signature, keyid only when not empty; early versions left out
    # the public key. For these ASCII-only values sorted compact json.dumps is RFC 8785.
    signature: dict[str, str] = {"sig": base64.b64encode(envelope.signatures[0]).decode()}
    if envelope.keyids and envelope.keyids[0]:
        signature["keyid"] = envelope.keyids[0]
    hashes = set()
    for public_key in (body.verifier_material.decode("utf-8", "replace"), None):
        signed = dict(signature, publicKey=public_key) if public_key is not None else signature
        document = {"payloadType": envelope.payload_type,
                    "payload": base64.b64encode(envelope.payload).decode(),
                    "signatures": [signed]}
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
        hashes.add(hashlib.sha256(canonical.encode()).digest())
    return hashes
