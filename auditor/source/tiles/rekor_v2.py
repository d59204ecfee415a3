"""Rekor v2 log entries, and which pinned key (if any) signed one, without parsing most of them.

A Rekor v2 entry is the RFC 8785 canonical JSON of the protojson `Entry` the log built
(sigstore/rekor-tiles `CreateEntry`): kind `hashedrekord` or `dsse`, apiVersion `0.0.2`, and a
`verifier` per signature holding either `publicKey.rawBytes` (DER SubjectPublicKeyInfo) or
`x509Certificate.rawBytes` (DER). An entry matches when a verifier's key, re-encoded as
SPKI DER, has the SHA-256 of a pinned key (keys compare as DER SubjectPublicKeyInfo,
RFC 5280 §4.1.2.7).

Speed: loading a certificate costs ~40 µs, ten times the rest of an entry. Any encoding of a
key contains the bytes that define it (an EC point's X coordinate, an RSA modulus, an EdDSA
key), so a verifier whose DER holds none of the pinned keys' defining bytes cannot carry a
pinned key, and is not loaded. The JSON and base64 are always parsed: an entry that does not
parse is reported, never taken for a non-match. One with a key given twice is read every way a
JSON reader could read it: if a pinned key is in any reading, the entry is that key's (its body
check then refuses it), so that no copy of a key can hide a pinned key's entry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)

from auditor.errors import InputError
from auditor.source import json_input
from auditor.source.json_input import DuplicateKeyError, JsonInputError
from auditor.wording import quoted

#: (kind, apiVersion) of the entries Rekor v2 logs, and the `spec` member holding each.
ENTRY_KINDS = {("hashedrekord", "0.0.2"): "hashedRekordV002", ("dsse", "0.0.2"): "dsseV002"}
PUBLIC_KEY = "publicKey"
CERTIFICATE = "x509Certificate"
#: The kind of a matched entry with a key given twice (its `kind` may be one of them).
AMBIGUOUS = "ambiguous"


class UnparsableEntryError(InputError):
    """An entry that is not a Rekor v2 entry we can read; the message says why."""


class AmbiguousEntryError(UnparsableEntryError):
    """An entry with a key given twice: which value counts depends on the reader."""


@dataclass(frozen=True)
class EntryVerifier:
    """One verifier of an entry: `form` is PUBLIC_KEY or CERTIFICATE, `der` its DER bytes."""

    form: str
    der: bytes


@dataclass(frozen=True)
class KeyMatch:
    """An entry signed under pinned keys: its kind and the SHA-256 of each matching SPKI."""

    kind: str
    key_sha256: tuple[bytes, ...]


def entry_verifiers(entry: bytes) -> tuple[str, list[EntryVerifier]]:
    """The kind of a Rekor v2 entry and its verifiers, or `UnparsableEntryError`."""
    try:
        document = json_input.loads(entry, "entry")
    except DuplicateKeyError as error:
        raise AmbiguousEntryError(f"not UTF-8 JSON ({error})") from None
    except JsonInputError as error:
        raise UnparsableEntryError(f"not UTF-8 JSON ({error})") from None
    if not isinstance(document, dict):
        raise UnparsableEntryError("not a JSON object")
    kind, version = document.get("kind"), document.get("apiVersion")
    member = None
    if isinstance(kind, str) and isinstance(version, str):
        member = ENTRY_KINDS.get((kind, version))
    if member is None or not isinstance(kind, str):
        raise UnparsableEntryError(
            f"kind {quoted(kind, 40)} apiVersion {quoted(version, 40)} is not a Rekor v2 entry "
            "(hashedrekord or dsse 0.0.2)"
        )
    spec = _member(_member(document, "spec", "entry"), member, "spec")
    if kind == "hashedrekord":
        verifiers = [_member(_member(spec, "signature", member), "verifier", "signature")]
    else:
        signatures = spec.get("signatures")
        if not isinstance(signatures, list) or not signatures:
            raise UnparsableEntryError(f"{member}.signatures: missing, empty or not a list")
        verifiers = [
            _member(_object(s, f"signatures[{i}]"), "verifier", f"signatures[{i}]")
            for i, s in enumerate(signatures)
        ]
    return kind, [_verifier(v, i) for i, v in enumerate(verifiers)]


def verifier_spki(verifier: EntryVerifier) -> bytes:
    """The verifier's public key as DER SPKI, re-encoded (`UnparsableEntryError` if none)."""
    try:
        key: PublicKeyTypes
        if verifier.form == CERTIFICATE:
            key = x509.load_der_x509_certificate(verifier.der).public_key()
        else:
            key = load_der_public_key(verifier.der)
        return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, UnsupportedAlgorithm) as error:
        what = "X.509 certificate" if verifier.form == CERTIFICATE else "public key"
        raise UnparsableEntryError(f"verifier {what} does not load ({error})") from None


class KeyMatcher:
    """Finds the entries whose verifiers carry one of the pinned keys (DER SPKI)."""

    def __init__(self, pinned_spki: Iterable[bytes]) -> None:
        self._pinned: set[bytes] = set()
        needles: set[bytes] = set()
        self._load_everything = False
        for spki in pinned_spki:
            key = load_der_public_key(spki)
            canonical = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            self._pinned.add(hashlib.sha256(canonical).digest())
            needle = _defining_bytes(key)
            if needle is None:
                self._load_everything = True
            else:
                needles.add(needle)
        self._needles = tuple(needles)

    def match(self, entry: bytes) -> KeyMatch | None:
        """The pinned keys among the entry's verifiers, or None; `UnparsableEntryError`."""
        return self._match_entry(entry, exhaustive=False)

    def match_exhaustively(self, entry: bytes) -> KeyMatch | None:
        """`match` loading every verifier's key: slow, the reference the fast path is held to."""
        return self._match_entry(entry, exhaustive=True)

    def _match_entry(self, entry: bytes, *, exhaustive: bool) -> KeyMatch | None:
        ambiguous = None
        try:
            kind, verifiers = entry_verifiers(entry)
        except AmbiguousEntryError as error:
            # Python keeps a key's last value, another reader its first: a pinned key's
            # verifier followed by another `spec` was read as the other one, and skipped.
            ambiguous, kind, verifiers = error, AMBIGUOUS, every_verifier(entry)
        if not exhaustive:
            verifiers = [v for v in verifiers if self._may_hold_pinned_key(v.der)]
        try:
            found = self._match(kind, verifiers)
        except UnparsableEntryError:
            if ambiguous is None:
                raise
            found = None
        if found is None and ambiguous is not None:
            raise ambiguous
        return found

    def _may_hold_pinned_key(self, der: bytes) -> bool:
        return self._load_everything or any(needle in der for needle in self._needles)

    def _match(self, kind: str, verifiers: list[EntryVerifier]) -> KeyMatch | None:
        matched: list[bytes] = []
        failure: UnparsableEntryError | None = None
        for verifier in verifiers:
            try:
                digest = hashlib.sha256(verifier_spki(verifier)).digest()
            except UnparsableEntryError as error:
                failure = failure or error
                continue
            if digest in self._pinned and digest not in matched:
                matched.append(digest)
        if matched:
            return KeyMatch(kind, tuple(matched))
        if failure is not None:
            raise failure
        return None


class _Members(list[tuple[str, Any]]):
    """A JSON object as every member it was given, a key twice included."""


def every_verifier(entry: bytes) -> list[EntryVerifier]:
    """Every public key and certificate in an entry, at any depth and in every copy of a key
    given twice: whatever some JSON reader could take for one of its verifiers.

    Only for an entry `json_input` refused for a duplicate key (so it is UTF-8 JSON).
    """
    document = json.loads(entry.decode("utf-8"), object_pairs_hook=_Members)
    found = []
    pending = [document]
    while pending:  # iteratively: json_input bounded the depth
        value = pending.pop()
        if isinstance(value, _Members):
            for name, member in value:
                if name in (PUBLIC_KEY, CERTIFICATE) and isinstance(member, _Members):
                    found += [EntryVerifier(name, der) for key, raw in member
                              if key == "rawBytes" and (der := _base64(raw)) is not None]
                pending.append(member)
        elif isinstance(value, list):
            pending.extend(value)
    return found


def _base64(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _defining_bytes(key: PublicKeyTypes) -> bytes | None:
    """Bytes every encoding of `key` contains (None: no such bytes known for this key type).

    An EC point is encoded (SEC 1 §2.3.3) as 04‖X‖Y, 02/03‖X or 06/07‖X‖Y with X padded to the
    field size; an RSA key's modulus is a DER INTEGER whose content is its big-endian bytes,
    with a leading zero if the top bit is set; an EdDSA key is its raw bytes (RFC 8410).
    """
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_numbers().x.to_bytes((key.curve.key_size + 7) // 8, "big")
    if isinstance(key, rsa.RSAPublicKey):
        modulus = key.public_numbers().n
        return modulus.to_bytes((modulus.bit_length() + 7) // 8, "big")
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return None


def _verifier(verifier: dict[str, Any], number: int) -> EntryVerifier:
    where = f"verifier {number}"
    forms = [form for form in (PUBLIC_KEY, CERTIFICATE) if form in verifier]
    if len(forms) != 1:
        raise UnparsableEntryError(f"{where} must hold exactly one of {PUBLIC_KEY} and "
                                   f"{CERTIFICATE}")
    raw = _member(verifier, forms[0], where).get("rawBytes")
    if not isinstance(raw, str):
        raise UnparsableEntryError(f"{where}: {forms[0]}.rawBytes is missing or not a string")
    der = _base64(raw)
    if der is None:
        raise UnparsableEntryError(f"{where}: {forms[0]}.rawBytes is not valid base64")
    return EntryVerifier(forms[0], der)


def _member(obj: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    return _object(obj.get(name), f"{where}.{name}")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnparsableEntryError(f"{where} is missing or not an object")
    return value
