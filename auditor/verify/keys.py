"""Public keys: loading, comparing and naming them.

Keys are compared as DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7): PEM whitespace, headers or an
X.509 wrapper must never make the same key look different, or a different key look the same.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
    load_pem_public_key,
)

from auditor.errors import InputError
from auditor.verify.memo import SIGNATURES

#: The keys a process verifies with are few (the log's, the components'): each DER is parsed once.
_load_der = functools.lru_cache(maxsize=256)(load_der_public_key)


@dataclass(frozen=True)
class PublicKey:
    """A verifying key, held as its DER SubjectPublicKeyInfo."""

    spki_der: bytes

    @classmethod
    def from_crypto(cls, key: PublicKeyTypes) -> PublicKey:
        return cls(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))

    @property
    def crypto(self) -> PublicKeyTypes:
        return _load_der(self.spki_der)

    @property
    def key_id(self) -> bytes:
        """sha256(SPKI DER): Rekor v1's logID and the usual key fingerprint."""
        return hashlib.sha256(self.spki_der).digest()

    @property
    def algorithm(self) -> str:
        return _algorithm(self.spki_der)

    def to_pem(self) -> str:
        return self.crypto.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    def verify(self, signature: bytes, data: bytes, *, prehashed: bool = False) -> bool:
        """Verify `signature` over `data` (or over the SHA-256 digest `data` when prehashed).

        ECDSA and RSA use SHA-256 (what Oak and Sigstore use); Ed25519 signs the message itself
        and cannot verify a bare digest. Each distinct (key, signature, message) is verified
        once (`auditor.verify.memo`).
        """
        if prehashed and isinstance(self.crypto, ed25519.Ed25519PublicKey):
            return False
        # ECDSA (FIPS 186-5 §6.4.2: e = H(M)) and RSASSA-PKCS1-v1_5 (RFC 8017 §9.2: the
        # DigestInfo of H(M)) verify the message's SHA-256 and nothing else of it, so a check
        # over M and one over its digest are the same check; an Ed25519 message is named by
        # its SHA-256 only to key the memo (finding another with the same digest is infeasible).
        digest = data if prehashed else hashlib.sha256(data).digest()
        return SIGNATURES.get((self.spki_der, signature, digest),
                              lambda: self._verify(signature, data, prehashed))

    def _verify(self, signature: bytes, data: bytes, prehashed: bool) -> bool:
        key = self.crypto
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                algorithm = ec.ECDSA(Prehashed(hashes.SHA256()) if prehashed else hashes.SHA256())
                key.verify(signature, data, algorithm)
            elif isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, data)  # never prehashed (see verify)
            elif isinstance(key, rsa.RSAPublicKey):
                digest: hashes.HashAlgorithm | Prehashed = (
                    Prehashed(hashes.SHA256()) if prehashed else hashes.SHA256()
                )
                key.verify(signature, data, padding.PKCS1v15(), digest)
            else:
                return False
        except (InvalidSignature, ValueError):
            return False
        return True


@functools.lru_cache(maxsize=256)
def _algorithm(spki_der: bytes) -> str:
    key = _load_der(spki_der)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ecdsa-{key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    return type(key).__name__


@functools.lru_cache(maxsize=1024)
def load_public_key(data: bytes, *, source: str = "key") -> PublicKey:
    """Load a PEM or DER public key, or the key of a PEM or DER X.509 certificate.

    Entries of one signer carry the same key: each distinct one is loaded once (a bounded
    cache; a key that does not load is not remembered and raises every time)."""
    stripped = data.strip()
    try:
        if stripped.startswith(b"-----BEGIN CERTIFICATE-----"):
            return PublicKey.from_crypto(x509.load_pem_x509_certificate(stripped).public_key())
        if stripped.startswith(b"-----BEGIN"):
            return PublicKey.from_crypto(load_pem_public_key(stripped))
    except ValueError as error:
        raise InputError(f"{source}: not a valid PEM public key or certificate ({error})") from None
    try:
        return PublicKey.from_crypto(load_der_public_key(data))
    except ValueError:
        pass
    try:
        return PublicKey.from_crypto(x509.load_der_x509_certificate(data).public_key())
    except ValueError:
        raise InputError(f"{source}: not a PEM or DER public key or certificate") from None


def load_pinned_key(data: bytes, *, source: str = "key") -> PublicKey:
    """A key someone pins (`--key`, `--rekor-key`, a config's key or PES key): one key or
    certificate. Several PEM blocks (two keys pasted into one file, a certificate and its
    chain) are refused: only the first was read, and the others were silently not pinned."""
    return load_one_key(data, source=source, advice=": give each key on its own")


def load_one_key(data: bytes, *, source: str = "key", advice: str = "") -> PublicKey:
    """The one key or certificate of a file: one holding several PEM blocks is refused, as
    `load_public_key` reads the first and a second key would go unseen (a publisher's key file
    naming a pinned key and another); `advice` ends the refusal."""
    blocks = data.count(b"-----BEGIN ")
    if blocks > 1:
        raise InputError(f"{source}: holds {blocks} PEM blocks, where one key or certificate is "
                         f"read{advice}")
    return load_public_key(data, source=source)


def load_public_key_b64(text: str, *, source: str = "key") -> PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise InputError(f"{source}: not valid base64") from None
    return load_public_key(raw, source=source)
