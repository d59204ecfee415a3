"""Oak endorsements with receipts, built with the real algorithms for tests.

A `Publisher` signs Oak statements with an ECDSA P-256 endorser key (testlog.synthetic); a
`TiledLog` logs them and issues C2SP tlog-proofs with witness cosignatures (testlog.tlog_proof,
written from the C2SP specs without the auditor's code); a `Pes` signs confirmations over the
PAE of Oak's tr/pes/pae.rs, transcribed here on its own. `endorsements_message` and
`reference_values` build Oak's protobuf messages with the generated classes and text format, as
Oak's own tests build them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from auditor.oak.messages import (
    FIRMWARE_ENDORSEMENT_ID,
    KERNEL_ENDORSEMENT_ID,
    SYSTEM_ENDORSEMENT_ID,
    ComponentEndorsement,
)
from auditor.oak.proto.attestation import endorsement_pb2
from testlog.bodies import hashedrekord_body, parse_verifier
from testlog.synthetic import Endorser, oak_statement
from testlog.tlog_proof import Cosigner, LogSigner, logged_proof

#: An issue time inside every validity window the tests judge at (2026-01-01).
ISSUED = 1767225600

# Variant payload and SignedEndorsement field per component (auditor.oak.messages reads them).
_VARIANTS = {
    "system_image": (SYSTEM_ENDORSEMENT_ID, endorsement_pb2.SystemEndorsement, "system_image"),
    "stage0": (FIRMWARE_ENDORSEMENT_ID, endorsement_pb2.FirmwareEndorsement, "firmware"),
    "kernel": (KERNEL_ENDORSEMENT_ID, endorsement_pb2.KernelEndorsement, "kernel"),
}


def spki_der(public_pem: bytes) -> bytes:
    key = serialization.load_pem_public_key(public_pem)
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Signed:
    """One endorsement: the statement, its signature and inline subject, and its receipts."""

    component: str
    statement: bytes
    signature: bytes
    subject: bytes | None = None
    c2sp_tlog_proof: bytes | None = None
    pes_confirmation: bytes | None = None
    rekor_log_entry: bytes | None = None

    @classmethod
    def of(cls, real: ComponentEndorsement) -> Signed:
        """A real endorsement (its statement, signature, subject and Rekor entry)."""
        return cls(real.component, real.statement, real.signature, real.subject,
                   rekor_log_entry=real.rekor_log_entry)


@dataclass
class Publisher:
    endorser: Endorser = field(default_factory=lambda: Endorser("publisher"))

    @property
    def pem(self) -> bytes:
        return self.endorser.public_pem

    def endorse(self, component: str, subject: bytes, *, inline: bool = False) -> Signed:
        """An Oak statement about `subject` (sha256 as its digest), signed."""
        statement = oak_statement(f"{component}_subject", subject, ISSUED)
        return Signed(component, statement, self.endorser.sign(statement),
                      subject if inline else None)


@dataclass
class TiledLog:
    """A Tessera-like log with one witness; `policy` is the c2sp.org/tlog-policy trusting it."""

    log: LogSigner = field(default_factory=lambda: LogSigner("tessera.example/log"))
    witness: Cosigner = field(default_factory=lambda: Cosigner("witness.example/w1"))

    @property
    def policy(self) -> str:
        return f"log {self.log.vkey}\nwitness w1 {self.witness.vkey}\nquorum w1\n"

    def proof(self, statement: bytes, *, extra_for: Endorser | None = None,
              cosigned: bool = True) -> bytes:
        """A tlog-proof of `statement` as the fourth of five entries; with `extra_for`, the
        entry is a HashedRekord body of the statement signed by that key (Oak's `extra`)."""
        entry = statement
        if extra_for is not None:
            verifier = parse_verifier(extra_for.public_pem)
            entry = hashedrekord_body(hashlib.sha256(statement).hexdigest(),
                                      extra_for.sign(statement), verifier)
        entries = [b"entry 0", b"entry 1", b"entry 2", entry, b"entry 4"]
        witnesses = [(self.witness, 1767225601)] if cosigned else []
        return logged_proof(entries, 3, self.log, witnesses,
                            extra=extra_for is not None).encode()


def pes_pae(statement: bytes, endorser_der: bytes, signature: bytes, entry_id: str) -> bytes:
    # tr/pes/pae.rs: "PES", then each part as SP, its byte length in decimal, SP, the bytes.
    out = b"PES"
    for part in (statement, endorser_der, signature, entry_id.encode()):
        out += b" " + str(len(part)).encode() + b" " + part
    return out


@dataclass
class Pes:
    """A Public Endorsement Service with an ECDSA P-256 signing key."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    @property
    def pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def confirm(self, signed: Signed, endorser_pem: bytes,
                entry_id: str = "entries/0001") -> bytes:
        """The JSON form of a google.pes.v1.PublicEndorsement of `signed`, whose signature is
        by the key `endorser_pem`."""
        endorser_der = spki_der(endorser_pem)
        pae = pes_pae(signed.statement, endorser_der, signed.signature, entry_id)
        signature = self.key.sign(pae, ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "name": "endorsements/test",
            "statement": {"serialized": b64(signed.statement), "format": "JSON_INTOTO"},
            "statementSignature": {
                "signature": b64(signed.signature),
                "verificationMaterial": {"ecdsaP256Sha256": {"derBytes": b64(endorser_der)}},
            },
            "endorsementSignatures": [{
                "signature": b64(signature),
                "verificationMaterial": {"ecdsaP256Sha256": {"derBytes": b64(spki_der(
                    self.pem))}},
            }],
            "tlogReceipt": {"entryId": entry_id},
        }, indent=2).encode()


def endorsements_message(*endorsed: Signed) -> bytes:
    """An oak.attestation.v1.Endorsements message: one Variant event per endorsement."""
    message = endorsement_pb2.Endorsements()
    for signed in endorsed:
        variant_id, payload_cls, field_name = _VARIANTS[signed.component]
        payload = payload_cls()
        target: endorsement_pb2.SignedEndorsement = getattr(payload, field_name)
        target.endorsement.format = endorsement_pb2.Endorsement.ENDORSEMENT_FORMAT_JSON_INTOTO
        target.endorsement.serialized = signed.statement
        if signed.subject is not None:
            target.endorsement.subject = signed.subject
        target.signature.key_id = 1
        target.signature.raw = signed.signature
        if signed.c2sp_tlog_proof is not None:
            target.c2sp_tlog_proof = signed.c2sp_tlog_proof
        if signed.pes_confirmation is not None:
            target.pes_confirmation = signed.pes_confirmation
        if signed.rekor_log_entry is not None:
            target.rekor_log_entry = signed.rekor_log_entry
        message.events.add(id=variant_id.bytes, value=payload.SerializeToString())
    return message.SerializeToString()


def _octal(raw: bytes) -> str:
    return "".join(f"\\{byte:03o}" for byte in raw)


def text_key(der: bytes, key_type: str = "KEY_TYPE_ECDSA_P256_SHA256", key_id: int = 1) -> str:
    return f'keys {{ type: {key_type} key_id: {key_id} raw: "{_octal(der)}" }}'


def reference_values(endorser_pem: bytes, tlog: str, component: str = "system_image") -> str:
    """oak.attestation.v1.ReferenceValues (text format) pinning the endorser key of
    `component` under the TLogReferenceValues text `tlog` (e.g. `tlog { all {} ... }`)."""
    endorsement = (f"endorsement {{ endorser {{ {text_key(spki_der(endorser_pem))} }} "
                   f"{tlog} }}")
    if component == "stage0":
        return (f"oak_containers {{ root_layer {{ intel_tdx {{ stage0 {{ {endorsement} }} }} }} "
                "}")
    return f"oak_containers {{ system_layer {{ system_image {{ {endorsement} }} }} }}"


def c2sp_tlog(policy: str) -> str:
    return "c2sp { policy: " + json.dumps(policy) + " }"


def pes_tlog(pes_pem: bytes) -> str:
    return f"pes {{ key_set {{ {text_key(spki_der(pes_pem), key_id=7)} }} }}"


def write_config(directory: Path, *, key_sources: list[Path], extra: str = "") -> Path:
    """An auditor config reading `key_sources`, offline, its database from AUDITOR_DB."""
    sources = ", ".join(json.dumps(str(p)) for p in key_sources)
    path = directory / "auditor.toml"
    path.write_text(f"key_sources = [{sources}]\n{extra}")
    return path
