"""Sigstore bundles (media types v0.1, v0.2, v0.3) and the log entries they carry.

Bundles are protobuf-JSON documents (sigstore/protobuf-specs `Bundle`). We read only what
verification needs and keep every value as received; the bundle's own claims (its message
digest, signature or DSSE envelope) are later checked against the log entry's body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from auditor.errors import InputError
from auditor.source.entry import InclusionProof, LogEntry
from auditor.source.fields import INT64_MAX, TIME_MAX, b64_field, bounded
from auditor.source.json_input import loads

_DECIMAL = re.compile(r"-?[0-9]{1,20}")
REKOR_V2_KINDS = {("hashedrekord", "0.0.2"), ("dsse", "0.0.2")}
MEDIA_TYPES = {
    "application/vnd.dev.sigstore.bundle+json;version=0.1": "0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2": "0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3": "0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json": "0.3",
}


@dataclass(frozen=True)
class MessageSignature:
    digest_algorithm: str
    digest: bytes
    signature: bytes


@dataclass(frozen=True)
class DsseEnvelope:
    payload: bytes
    payload_type: str
    signatures: tuple[bytes, ...]
    #: Each signature's `keyid` ("" when absent), in the same order.
    keyids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bundle:
    version: str
    entries: tuple[LogEntry, ...]
    message: MessageSignature | None
    envelope: DsseEnvelope | None
    #: DER of the signing certificate (leaf), when the bundle carries one.
    certificate: bytes | None
    public_key_hint: str | None


def is_bundle(document: Any) -> bool:
    return isinstance(document, dict) and "mediaType" in document and (
        "verificationMaterial" in document
    )


def _int(value: Any, where: str, *, default: int | None = None,
         maximum: int = INT64_MAX) -> int:
    # protobuf JSON writes int64 as a decimal string; accept numbers too.
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(f"{where}: missing or not an integer")
    # ASCII decimal only: Python's int() also takes "+7", " 7\n", "7_0" and other scripts'
    # digits ("٧"), none of which is the protobuf JSON form of an int64.
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise InputError(f"{where}: {value[:40]!r} is not a decimal integer")
    return bounded(int(value), where, maximum)


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{where}: missing or not an object")
    return value


def _proof(obj: Any, where: str) -> InclusionProof:
    proof = _obj(obj, where)
    hashes = proof.get("hashes", [])
    if not isinstance(hashes, list):
        raise InputError(f"{where}.hashes: not a list")
    checkpoint = proof.get("checkpoint")
    envelope = checkpoint.get("envelope") if isinstance(checkpoint, dict) else None
    if envelope is not None and not isinstance(envelope, str):
        raise InputError(f"{where}.checkpoint.envelope: not a string")
    return InclusionProof(
        log_index=_int(proof.get("logIndex"), f"{where}.logIndex", default=0),
        tree_size=_int(proof.get("treeSize"), f"{where}.treeSize"),
        root_hash=b64_field(proof.get("rootHash"), f"{where}.rootHash"),
        hashes=tuple(b64_field(h, f"{where}.hashes[{i}]") for i, h in enumerate(hashes)),
        checkpoint=envelope or None,
    )


def _entry(obj: Any, where: str) -> LogEntry:
    entry = _obj(obj, where)
    body_text = entry.get("canonicalizedBody")
    body = b64_field(body_text, f"{where}.canonicalizedBody")
    kind_version = entry.get("kindVersion")
    declared = None
    if isinstance(kind_version, dict):
        declared = (str(kind_version.get("kind", "")), str(kind_version.get("version", "")))
    promise = entry.get("inclusionPromise")
    set_bytes = None
    if isinstance(promise, dict) and promise.get("signedEntryTimestamp"):
        set_bytes = b64_field(promise["signedEntryTimestamp"], f"{where}.inclusionPromise")
    integrated = _int(entry.get("integratedTime"), f"{where}.integratedTime", default=0,
                      maximum=TIME_MAX)
    # Rekor v2 accepts only hashedrekord and dsse v0.0.2 (and records no integration time or
    # promise); intoto v0.0.2 is a Rekor v1 kind.
    rekor_version = 2 if declared in REKOR_V2_KINDS else 1
    proof_obj = entry.get("inclusionProof")
    return LogEntry(
        rekor_version=rekor_version,
        uuid=None,
        body=body,
        body_text=str(body_text),
        integrated_time=integrated or None,
        log_id=b64_field(_obj(entry.get("logId"), f"{where}.logId").get("keyId"), f"{where}.logId"),
        log_index=_int(entry.get("logIndex"), f"{where}.logIndex"),
        proof=None if proof_obj is None else _proof(proof_obj, f"{where}.inclusionProof"),
        signed_entry_timestamp=set_bytes,
        declared_kind=declared,
    )


def _certificate(material: dict[str, Any], where: str) -> bytes | None:
    if "certificate" in material:
        certificate = _obj(material["certificate"], where)
        return b64_field(certificate.get("rawBytes"), f"{where}.certificate")
    chain = material.get("x509CertificateChain")
    if isinstance(chain, dict):
        certificates = chain.get("certificates")
        if not isinstance(certificates, list) or not certificates:
            raise InputError(f"{where}.x509CertificateChain: no certificates")
        leaf = _obj(certificates[0], where)
        return b64_field(leaf.get("rawBytes"), f"{where}.x509CertificateChain")
    return None


def _envelope(obj: Any, where: str) -> DsseEnvelope:
    env = _obj(obj, where)
    signatures = env.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise InputError(f"{where}: no signatures")
    if len(signatures) > 1:
        # A bundle's envelope has one signature, the one logged (Sigstore's clients refuse
        # more, as Rekor's DSSE bodies do): the others would stand there unchecked.
        raise InputError(f"{where}: {len(signatures)} signatures; a bundle's DSSE envelope "
                         "has exactly one")
    items = [_obj(s, f"{where}.signatures[{i}]") for i, s in enumerate(signatures)]
    keyids = tuple(item.get("keyid") or "" for item in items)
    if not all(isinstance(k, str) for k in keyids):
        raise InputError(f"{where}: a signature's keyid is not a string")
    payload_type = env.get("payloadType")
    if not isinstance(payload_type, str):
        raise InputError(f"{where}.payloadType: missing or not a string")
    return DsseEnvelope(
        payload=b64_field(env.get("payload"), f"{where}.payload"),
        payload_type=payload_type,
        signatures=tuple(b64_field(item.get("sig"), f"{where}.signatures[{i}].sig")
                         for i, item in enumerate(items)),
        keyids=keyids,
    )


def parse_bundle(document: Any, *, source: str) -> Bundle:
    media_type = document.get("mediaType") if isinstance(document, dict) else None
    if not isinstance(media_type, str) or media_type not in MEDIA_TYPES:  # a list is unhashable
        raise InputError(f"{source}: unsupported Sigstore bundle media type {media_type!r}")
    material = _obj(document.get("verificationMaterial"), f"{source}: verificationMaterial")
    entries = material.get("tlogEntries", [])
    if not isinstance(entries, list):
        raise InputError(f"{source}: tlogEntries is not a list")
    message = envelope = None
    if "messageSignature" in document and "dsseEnvelope" in document:
        # Bundle.content is a oneof: with both, one would be verified and the other shown
        # beside it unchecked.
        raise InputError(f"{source}: bundle has both messageSignature and dsseEnvelope")
    if "messageSignature" in document:
        ms = _obj(document["messageSignature"], f"{source}: messageSignature")
        digest = _obj(ms.get("messageDigest"), f"{source}: messageSignature.messageDigest")
        message = MessageSignature(
            digest_algorithm=str(digest.get("algorithm", "")),
            digest=b64_field(digest.get("digest"), f"{source}: messageDigest.digest"),
            signature=b64_field(ms.get("signature"), f"{source}: messageSignature.signature"),
        )
    elif "dsseEnvelope" in document:
        envelope = _envelope(document["dsseEnvelope"], f"{source}: dsseEnvelope")
    else:
        raise InputError(f"{source}: bundle has neither messageSignature nor dsseEnvelope")
    hint = material.get("publicKey")
    return Bundle(
        version=MEDIA_TYPES[media_type],
        entries=tuple(_entry(e, f"{source}: tlogEntries[{i}]") for i, e in enumerate(entries)),
        message=message,
        envelope=envelope,
        certificate=_certificate(material, f"{source}: verificationMaterial"),
        public_key_hint=str(hint.get("hint")) if isinstance(hint, dict) else None,
    )


def parse_bundle_bytes(raw: bytes, *, source: str) -> Bundle:
    return parse_bundle(loads(raw, source), source=source)
