"""Signing checkpoints for tests: the auditor only ever verifies them."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from auditor.verify.checkpoint import (
    SIGNATURE_PREFIX,
    CheckpointFormatError,
    ecdsa_key_hint,
    ed25519_key_hint,
    parse_checkpoint,
)

NoteSigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def sign_checkpoint(
    origin: str,
    size: int,
    root_hash: bytes,
    extensions: Sequence[str],
    signers: Sequence[tuple[str, NoteSigningKey]],
) -> str:
    """A signed checkpoint with one signature line per (name, private key), in order.

    ECDSA keys sign like Rekor v1 (DER ECDSA-SHA256), Ed25519 keys like C2SP. The result is
    parsed back, so arguments that cannot make a valid checkpoint raise `CheckpointFormatError`.
    """
    for line in (origin, *extensions):
        if not line or "\n" in line:
            raise CheckpointFormatError(
                f"checkpoint line {line!r} must be non-empty and hold no newline"
            )
    root = base64.b64encode(root_hash).decode("ascii")
    text = "".join(f"{line}\n" for line in (origin, str(size), root, *extensions))
    signed = text.encode("utf-8")
    lines = []
    for name, key in signers:
        if isinstance(key, ed25519.Ed25519PrivateKey):
            blob = ed25519_key_hint(name, key.public_key()) + key.sign(signed)
        else:
            blob = ecdsa_key_hint(key.public_key()) + key.sign(signed, ec.ECDSA(hashes.SHA256()))
        lines.append(f"{SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode('ascii')}\n")
    note = text + "\n" + "".join(lines)
    parse_checkpoint(note)
    return note
