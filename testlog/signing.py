"""The log's ECDSA P-256 key: logID, signed checkpoints and signed entry timestamps.

Written from the formats (C2SP signed-note, Rekor v1's SET), independently of the
auditor's verifier, so that tests of one against the other mean something.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

# The signature line of a signed note starts with U+2014 EM DASH (C2SP signed-note).
_EM_DASH = "\u2014"


class LogSigner:
    """A Rekor v1 log key and the two things Rekor signs with it."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.private_key = private_key or ec.generate_private_key(ec.SECP256R1())
        if not isinstance(self.private_key.curve, ec.SECP256R1):
            raise ValueError("Rekor v1 signs with ECDSA P-256")
        public = self.private_key.public_key()
        self.spki_der: bytes = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_pem: bytes = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # Rekor's logID is the SHA-256 of the log key's SubjectPublicKeyInfo DER.
        self.log_id_bytes: bytes = hashlib.sha256(self.spki_der).digest()
        self.log_id: str = self.log_id_bytes.hex()
        # Signed-note key hint for ECDSA keys: the first 4 bytes of sha256(SPKI DER).
        self.key_hint: bytes = self.log_id_bytes[:4]

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def sign(self, data: bytes) -> bytes:
        """ECDSA-SHA256, DER-encoded (what Rekor v1 produces for both checkpoints and SETs)."""
        return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))

    def checkpoint(
        self, origin: str, size: int, root: bytes, *, sign_over: bytes | None = None
    ) -> str:
        """A signed checkpoint: ``origin\\nsize\\nb64(root)\\n\\n— name b64(hint ‖ sig)\\n``.

        The name is the origin's host part (Rekor v1 names itself ``<host>`` and uses
        ``<host> - <treeID>`` as origin). ``sign_over`` replaces the signed bytes, to tamper.
        """
        note = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
        signature = self.sign(sign_over if sign_over is not None else note.encode())
        name = origin.split(" - ", 1)[0]
        blob = base64.b64encode(self.key_hint + signature).decode()
        return f"{note}\n{_EM_DASH} {name} {blob}\n"

    def signed_entry_timestamp(self, body_b64: str, integrated_time: int, log_index: int) -> bytes:
        """The SET: a signature over the canonical JSON of the entry's four logged fields.

        RFC 8785 canonical form; for these string and integer values ``json.dumps`` with
        sorted keys and no whitespace produces the same bytes.
        """
        return self.sign(set_payload(body_b64, integrated_time, self.log_id, log_index))


def set_payload(body_b64: str, integrated_time: int, log_id: str, log_index: int) -> bytes:
    document = {
        "body": body_b64,
        "integratedTime": integrated_time,
        "logID": log_id,
        "logIndex": log_index,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
