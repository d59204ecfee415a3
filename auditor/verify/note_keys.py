"""Signed-note verifier keys (vkeys) and the three signature types tlog policies use.

A vkey is `<name>+<hex key ID>+<base64(signature type ‖ public key)>` (C2SP signed-note,
"Verifier keys"). The types, their key material and what they sign:

- 0x01 Ed25519 (signed-note): 32-byte key, signs the note text (a log's checkpoint signature).
- 0x04 cosignature/v1 (tlog-cosignature): 32-byte Ed25519 key, signs `cosignature/v1` messages.
- 0x06 subtree/v1 (tlog-cosignature): 1312-byte ML-DSA-44 key, signs `subtree/v1` messages;
  logs may sign their checkpoints with it too (tlog-checkpoint "Signatures").

A `NoteKey` is a `NoteVerifier` for every type, so `verify_checkpoint` accepts it. Vkeys come
from configuration or a reference value: `parse_vkey` is strict and raises `VerifierKeyError`.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from enum import IntEnum

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa

from auditor.errors import InputError
from auditor.verify.checkpoint import (
    KEY_HINT_SIZE,
    CheckpointFormatError,
    note_key_id,
    parse_checkpoint_body,
    strict_b64decode,
    valid_key_name,
)
from auditor.verify.cosignature import (
    ED25519_SIGNATURE_SIZE,
    ML_DSA_44_SIGNATURE_SIZE,
    CosignatureError,
    cosignature_v1_message,
    split_timestamped,
    subtree_v1_message,
)

# Go's note.NewVerifier compares the id with fmt.Sprintf("%08x"): eight lowercase hex digits.
_KEY_ID = re.compile(r"[0-9a-f]{8}")


class VerifierKeyError(InputError):
    """A vkey that is malformed, of an unsupported type, or whose key ID does not match."""


class SignatureType(IntEnum):
    """signed-note "Signature types": the identifier byte hashed into every key ID."""

    ED25519 = 0x01
    COSIGNATURE_V1 = 0x04
    SUBTREE_V1 = 0x06

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def key_size(self) -> int:
        return 1312 if self is SignatureType.SUBTREE_V1 else 32

    @property
    def timestamped(self) -> bool:
        """Whether signatures of this type are tlog-cosignature `timestamped_signature`s."""
        return self is not SignatureType.ED25519


_LABELS = {
    SignatureType.ED25519: "Ed25519",
    SignatureType.COSIGNATURE_V1: "cosignature/v1 (Ed25519)",
    SignatureType.SUBTREE_V1: "subtree/v1 (ML-DSA-44)",
}

_PublicKey = ed25519.Ed25519PublicKey | mldsa.MLDSA44PublicKey


@dataclass(frozen=True)
class NoteKey:
    """A trusted signed-note key: name, type and raw public key; the key hint is derived."""

    name: str
    signature_type: SignatureType
    public_key: bytes
    #: The signed-note key ID: sha256(name ‖ 0x0A ‖ type ‖ key)[:4], as in signature lines.
    key_hint: bytes = field(init=False)
    _crypto: _PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not valid_key_name(self.name) or any(c < " " for c in self.name):
            raise VerifierKeyError(f"invalid signed-note key name {self.name!r}")
        size = self.signature_type.key_size
        if len(self.public_key) != size:
            raise VerifierKeyError(
                f"{self.name}: a {self.signature_type.label} key is {size} bytes, "
                f"not {len(self.public_key)}"
            )
        hint = note_key_id(self.name, self.signature_type, self.public_key)[:KEY_HINT_SIZE]
        object.__setattr__(self, "key_hint", hint)
        object.__setattr__(self, "_crypto", self._load())

    def _load(self) -> _PublicKey:
        try:
            if self.signature_type is SignatureType.SUBTREE_V1:
                return mldsa.MLDSA44PublicKey.from_public_bytes(self.public_key)
            return ed25519.Ed25519PublicKey.from_public_bytes(self.public_key)
        except UnsupportedAlgorithm:
            raise VerifierKeyError(
                f"{self.name}: this build of `cryptography` cannot verify ML-DSA-44"
            ) from None
        except ValueError as error:
            raise VerifierKeyError(f"{self.name}: not a valid public key ({error})") from None

    @property
    def vkey(self) -> str:
        """The signed-note verifier key text."""
        material = base64.b64encode(bytes([self.signature_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_hint.hex()}+{material}"

    def __repr__(self) -> str:
        return f"NoteKey({self.name}+{self.key_hint.hex()}, {self.signature_type.label})"

    def verify(self, signed_text: bytes, signature: bytes) -> bool:
        """`NoteVerifier`: whether `signature` (after the key hint) is valid over the note."""
        return self.failure(signed_text, signature) is None

    def failure(self, signed_text: bytes, signature: bytes) -> str | None:
        """Why `signature` over the note text `signed_text` does not verify; None if it does."""
        try:
            message, raw = self._message(signed_text, signature)
        except (CosignatureError, CheckpointFormatError) as error:
            return str(error)
        try:
            self._crypto.verify(raw, message)
        except InvalidSignature:
            return f"{self.signature_type.label} signature does not verify"
        return None

    def timestamp(self, signature: bytes) -> int | None:
        """The cosigning time a timestamped signature claims, if it is well formed."""
        if not self.signature_type.timestamped:
            return None
        try:
            return split_timestamped(signature, self._signature_size).timestamp
        except CosignatureError:
            return None

    @property
    def _signature_size(self) -> int:
        if self.signature_type is SignatureType.SUBTREE_V1:
            return ML_DSA_44_SIGNATURE_SIZE
        return ED25519_SIGNATURE_SIZE

    def _message(self, signed_text: bytes, signature: bytes) -> tuple[bytes, bytes]:
        """(signed message, raw signature) for this key's type."""
        if self.signature_type is SignatureType.ED25519:
            if len(signature) != ED25519_SIGNATURE_SIZE:
                raise CosignatureError(
                    f"an Ed25519 signature is {ED25519_SIGNATURE_SIZE} bytes, not {len(signature)}"
                )
            return signed_text, signature
        stamped = split_timestamped(signature, self._signature_size)
        if self.signature_type is SignatureType.COSIGNATURE_V1:
            return cosignature_v1_message(stamped.timestamp, signed_text), stamped.signature
        # subtree/v1 signs the tree, not the text: a checkpoint is the subtree [0, size).
        origin, size, root_hash, _ = parse_checkpoint_body(signed_text)
        message = subtree_v1_message(self.name, stamped.timestamp, origin, 0, size, root_hash)
        return message, stamped.signature


def parse_vkey(text: str) -> NoteKey:
    """Parse a signed-note verifier key strictly; the key ID must be the computed one."""
    if not isinstance(text, str):
        raise VerifierKeyError(f"a verifier key is text, not {type(text).__name__}")
    shown = text if len(text) <= 60 else text[:60] + "..."
    # The name holds no "+" (signed-note), base64 may: split at the first two.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise VerifierKeyError(f"verifier key {shown!r} is not <name>+<key id>+<key>")
    name, key_id, material = parts
    if not _KEY_ID.fullmatch(key_id):
        raise VerifierKeyError(f"verifier key {shown!r}: key id is not 8 lowercase hex digits")
    blob = strict_b64decode(material, f"verifier key {name!r} key material", VerifierKeyError)
    if not blob:
        raise VerifierKeyError(f"verifier key {name!r} has no key material")
    try:
        signature_type = SignatureType(blob[0])
    except ValueError:
        raise VerifierKeyError(
            f"verifier key {name!r} has signature type 0x{blob[0]:02x}; supported: "
            + ", ".join(f"0x{t.value:02x} {t.label}" for t in SignatureType)
        ) from None
    key = NoteKey(name, signature_type, blob[1:])
    # signed-note: the key ID is derived from name, type and key; a vkey that says otherwise
    # was mangled or mislabelled, and would never match the signature lines it should.
    if key.key_hint.hex() != key_id:
        raise VerifierKeyError(
            f"verifier key {name!r}: key id {key_id} is not the computed {key.key_hint.hex()}"
        )
    return key
