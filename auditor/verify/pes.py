"""Public Endorsement Service (PES) confirmations: receipt 5 of an Oak `SignedEndorsement`.

PES checks a publisher's signature over an endorsement statement, logs it, and signs what it
saw. Its confirmation is a `google.pes.v1.PublicEndorsement`; Oak's `SignedEndorsement`
carries it in the protobuf JSON mapping (Oak's `tr/pes/lib.rs` `parse_pes_confirmation`
decodes field 5 as JSON only, although the doc comment there speaks of a serialized proto).

The PES signature covers a pre-authentication encoding (`google/pes/v1/endorsement.proto`,
Oak's `tr/pes/pae.rs`):

    PAE = "PES" + ENCODE(statement) + ENCODE(endorser verification material)
                + ENCODE(endorser signature) + ENCODE(tlog entry id)
    ENCODE(x) = SP + decimal byte length of x + SP + x

where the verification material is the DER as carried (an X.509 certificate or an SPKI).
Verification follows Oak's `verify_pes_confirmation`: the first PES signature is checked under
the key its verification material names, which must be one of the configured PES keys
(matched by key, as Oak does: a confirmation carries no key id); the confirmation must be for
the expected statement and bind the pinned endorser key. Beyond Oak, the auditor also checks
the endorser's signature inside the confirmation and, when PES root certificates are
configured, that the PES certificate is one of them or is issued by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import json_format

from auditor.errors import InputError
from auditor.oak.messages import VerifyingKey
from auditor.oak.proto.google.pes.v1 import endorsement_pb2, verification_material_pb2
from auditor.source.json_input import is_text, value_bound
from auditor.verify.check_names import CheckName
from auditor.verify.entry import Check
from auditor.verify.keys import PublicKey

CHECK_NAME = CheckName.PES_CONFIRMATION
#: A confirmation holds a score of JSON values (one per field, a few signatures).
MAX_PES_VALUES = 10_000


@dataclass(frozen=True)
class VerificationMaterial:
    """A key as a PES confirmation carries it: bare, or inside an X.509 certificate."""

    #: The DER exactly as carried: what the PAE covers.
    der: bytes
    key: PublicKey
    certificate: x509.Certificate | None


@dataclass(frozen=True)
class PesConfirmation:
    """A parsed `google.pes.v1.PublicEndorsement`."""

    #: `endorsements/{id}` in PES.
    name: str
    #: The endorsement statement PES confirms, byte-exact.
    statement: bytes
    endorser: VerificationMaterial
    #: The publisher's (endorser's) signature over `statement`.
    endorser_signature: bytes
    #: PES's signature over the PAE; Oak verifies the first of `endorsementSignatures` only.
    pes_signature: bytes
    pes: VerificationMaterial
    #: The transparency-log entry PES logged the endorsement as (`tlogReceipt.entryId`).
    entry_id: str


class PesFailure(StrEnum):
    """Why a PES confirmation does not verify; several can hold at once."""

    STATEMENT_MISMATCH = "statement_mismatch"
    ENDORSER_KEY_NOT_PINNED = "endorser_key_not_pinned"
    ENDORSER_SIGNATURE_INVALID = "endorser_signature_invalid"
    PES_KEY_UNTRUSTED = "pes_key_untrusted"
    PES_CERTIFICATE_NOT_CHAINED = "pes_certificate_not_chained"
    PES_SIGNATURE_INVALID = "pes_signature_invalid"


@dataclass(frozen=True)
class PesVerification:
    """The outcome of checking one confirmation against a component's PES policy."""

    confirmation: PesConfirmation
    #: Every reason the confirmation fails, in PesFailure order; empty when it verifies.
    failures: tuple[PesFailure, ...]
    #: key_id of the configured PES key that signed, when the signer is configured.
    pes_key_id: int | None
    #: One line per failure, for the check's detail.
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def check(self) -> Check:
        if self.ok:
            # The name is not in what PES signs (the PAE): said so, never shown as verified.
            detail = (
                f"PES confirmation verifies under PES key id {self.pes_key_id}; logged as "
                f"{_short(self.confirmation.entry_id)} (its name, "
                f"{_short(self.confirmation.name)}, is not signed)"
            )
            return Check(CHECK_NAME, True, detail)
        return Check(CHECK_NAME, False, "; ".join(self.reasons))


def pes_pae(statement: bytes, endorser_material: bytes, endorser_signature: bytes,
            entry_id: str) -> bytes:
    """The pre-authentication encoding PES signs (tr/pes/pae.rs `calculate`)."""
    parts = (statement, endorser_material, endorser_signature, entry_id.encode())
    return b"PES" + b"".join(b" %d %s" % (len(part), part) for part in parts)


# --- parsing ---------------------------------------------------------------------------------


def parse_pes_confirmation(data: bytes, *, source: str = "PES confirmation") -> PesConfirmation:
    """Parse the JSON form of a `google.pes.v1.PublicEndorsement` (SignedEndorsement field 5).

    Strict: unknown fields, duplicate keys, bad base64 and missing parts are `InputError`s.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{source}: not UTF-8 JSON") from None
    if value_bound(data) > MAX_PES_VALUES:
        # json_format parses with json.loads first: a document of millions of empty values
        # would cost gigabytes before the unknown field is refused.
        raise InputError(f"{source}: not a PublicEndorsement in JSON (more than "
                         f"{MAX_PES_VALUES} values)")
    if not text.lstrip(" \t\n\r").startswith("{"):
        # json_format would read a top-level array as a list of field names.
        raise InputError(f"{source}: not a PublicEndorsement in JSON (not a JSON object)")
    message = endorsement_pb2.PublicEndorsement()
    try:
        json_format.Parse(text, message)
    except (json_format.ParseError, RecursionError) as error:
        why = _short(" ".join(str(error).split()) or type(error).__name__)
        raise InputError(f"{source}: not a PublicEndorsement in JSON ({why})") from None
    # tr/pes/lib.rs refuses a confirmation without these.
    if not message.HasField("statement"):
        raise InputError(f"{source}: no statement")
    if not message.HasField("statement_signature"):
        raise InputError(f"{source}: no statementSignature")
    if not message.endorsement_signatures:
        raise InputError(f"{source}: no endorsementSignatures")
    if not message.HasField("tlog_receipt") or not message.tlog_receipt.entry_id:
        raise InputError(f"{source}: no tlogReceipt.entryId")
    for field, value in (("name", message.name), ("tlogReceipt.entryId",
                                                   message.tlog_receipt.entry_id)):
        if not is_text(value):  # kept, and quoted: they must be text a store can hold
            raise InputError(f"{source}: {field} holds U+0000 or an unpaired surrogate")
    # Every PES signature's material must parse; Oak verifies the first signature only.
    pes_materials = [
        _material(signature.verification_material, f"{source}: endorsementSignatures[{index}]")
        for index, signature in enumerate(message.endorsement_signatures)
    ]
    return PesConfirmation(
        name=message.name,
        statement=message.statement.serialized,
        endorser=_material(
            message.statement_signature.verification_material, f"{source}: statementSignature"
        ),
        endorser_signature=message.statement_signature.signature,
        pes_signature=message.endorsement_signatures[0].signature,
        pes=pes_materials[0],
        entry_id=message.tlog_receipt.entry_id,
    )


def _material(
    material: verification_material_pb2.VerificationMaterial, what: str
) -> VerificationMaterial:
    kind = material.WhichOneof("verification_material")
    if kind == "x509_certificate":
        der = material.x509_certificate.der_bytes
        try:
            certificate = x509.load_der_x509_certificate(der)
            key = PublicKey.from_crypto(certificate.public_key())
        except (ValueError, UnsupportedAlgorithm):
            raise InputError(f"{what}: x509Certificate is not a DER X.509 certificate") from None
        return VerificationMaterial(der, key, certificate)
    if kind == "ecdsa_p256_sha256":
        der = material.ecdsa_p256_sha256.der_bytes
        try:
            key = PublicKey(der)
            crypto = key.crypto
        except (ValueError, UnsupportedAlgorithm):
            raise InputError(f"{what}: ecdsaP256Sha256 is not a DER public key") from None
        if not isinstance(crypto, ec.EllipticCurvePublicKey) or crypto.curve.name != "secp256r1":
            raise InputError(f"{what}: ecdsaP256Sha256 is not an ECDSA P-256 key")
        return VerificationMaterial(der, PublicKey.from_crypto(crypto), None)
    raise InputError(f"{what}: no verificationMaterial")


# --- verification ----------------------------------------------------------------------------


def verify_pes_confirmation(
    confirmation: PesConfirmation,
    *,
    statement: bytes,
    pes_keys: Sequence[VerifyingKey],
    endorser_keys: Sequence[PublicKey],
    pes_roots: Sequence[x509.Certificate] = (),
) -> PesVerification:
    """Check a confirmation for `statement` against a component's PES policy.

    `pes_keys` is the component's PES key set (`TLogPolicy.pes.keys`); `endorser_keys` the
    pinned endorser key(s) of the component; `pes_roots` optional PES root certificates that
    the PES certificate must be, or be directly issued by.
    """
    # Every condition is evaluated, in PesFailure order, so that the detail names every cause.
    found: list[tuple[PesFailure, str]] = []
    if confirmation.statement != statement:
        found.append((PesFailure.STATEMENT_MISMATCH,
                      "the confirmation is for another statement than the endorsed one"))
    pinned = {key.spki_der for key in endorser_keys}
    if confirmation.endorser.key.spki_der not in pinned:
        found.append((PesFailure.ENDORSER_KEY_NOT_PINNED,
                      f"the endorser key it binds ({_fingerprint(confirmation.endorser.key)}) "
                      "is not the pinned endorser key"))
    if not confirmation.endorser.key.verify(confirmation.endorser_signature,
                                            confirmation.statement):
        found.append((PesFailure.ENDORSER_SIGNATURE_INVALID,
                      "the endorser signature it carries does not verify over its statement"))
    trusted = _configured(confirmation.pes.key, pes_keys)
    if trusted is None:
        found.append((PesFailure.PES_KEY_UNTRUSTED,
                      f"the PES key ({_fingerprint(confirmation.pes.key)}) is not in the "
                      f"configured PES key set ({len(pes_keys)} keys)"))
    if pes_roots and not _chains(confirmation.pes.certificate, pes_roots):
        found.append((PesFailure.PES_CERTIFICATE_NOT_CHAINED, _chain_reason(confirmation)))
    pae = pes_pae(confirmation.statement, confirmation.endorser.der,
                  confirmation.endorser_signature, confirmation.entry_id)
    if not confirmation.pes.key.verify(confirmation.pes_signature, pae):
        found.append((PesFailure.PES_SIGNATURE_INVALID,
                      "the PES signature does not verify over the PAE of statement, endorser "
                      f"key, endorser signature and entry id {_short(confirmation.entry_id)}"))
    return PesVerification(
        confirmation=confirmation,
        failures=tuple(failure for failure, _ in found),
        pes_key_id=trusted.key_id if trusted is not None else None,
        reasons=tuple(reason for _, reason in found),
    )


def _configured(key: PublicKey, pes_keys: Sequence[VerifyingKey]) -> VerifyingKey | None:
    # tr/pes/lib.rs: the key from the PES verification material must be in the key set.
    for candidate in pes_keys:
        try:
            configured = PublicKey.from_crypto(PublicKey(candidate.spki_der).crypto)
        except (ValueError, UnsupportedAlgorithm):
            continue
        if configured == key:
            return candidate
    return None


def _chains(certificate: x509.Certificate | None, roots: Sequence[x509.Certificate]) -> bool:
    if certificate is None:
        return False
    for root in roots:
        if certificate == root:
            return True
        try:
            certificate.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        return True
    return False


def _chain_reason(confirmation: PesConfirmation) -> str:
    certificate = confirmation.pes.certificate
    if certificate is None:
        return "the PES key is a bare key, not a certificate chaining to a configured PES root"
    return (f"the PES certificate ({_short(certificate.subject.rfc4514_string())}) is neither a "
            "configured PES root nor issued by one")


def _fingerprint(key: PublicKey) -> str:
    return f"{key.algorithm} sha256:{key.key_id.hex()[:16]}"


def _short(text: str, limit: int = 120) -> str:
    # Hostile text goes into a one-line detail: printable, bounded.
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean if len(clean) <= limit else clean[:limit] + "..."
