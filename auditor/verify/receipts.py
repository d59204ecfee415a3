"""The receipts an Oak endorsement carries that it was made public, and their named checks.

Oak's `SignedEndorsement` (endorsement.proto) carries up to three independent receipts beside
the statement and its signature: `rekor_log_entry` (3, a Rekor v1 entry), `c2sp_tlog_proof` (4,
c2sp.org/tlog-proof@v1 from a Tessera log, with witness cosignatures) and `pes_confirmation`
(5, the Public Endorsement Service's signed confirmation). The Rekor entry is verified like any
log entry (auditor.verify.entry); this module verifies the other two under the trust configured
for the endorsement's component and names the outcome: `tlog_proof`, `tlog_checkpoint` and
`witness_quorum` for a tlog-proof (auditor.verify.tlog_proof), `pes_confirmation` for a PES
confirmation (auditor.verify.pes). A receipt that is not carried has no checks; one carried
with no trust configured for its kind is checked as far as it can be and skipped for the rest.

Where several sources configure trust for one kind (Oak's reference values and the auditor's
own config), the receipt must verify under each: the auditor may demand more than the
publisher, never less.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from auditor.errors import InputError
from auditor.oak.messages import KeyType, VerifyingKey
from auditor.source.json_input import JsonInputError, loads
from auditor.verify.body import BodyError, parse_body
from auditor.verify.check_names import LOG_CHECKS, CheckName
from auditor.verify.entry import (
    Check,
    EndorsementMaterial,
    Verification,
    failed,
    skipped,
    verify_unlogged,
)
from auditor.verify.keys import PublicKey, load_pinned_key
from auditor.verify.pes import PesFailure, parse_pes_confirmation, verify_pes_confirmation
from auditor.verify.policy import Policy, parse_policy
from auditor.verify.receipt_state import ReceiptKind
from auditor.verify.tlog_proof import (
    CHECK_NAMES as TLOG_CHECKS,
)
from auditor.verify.tlog_proof import (
    HEADER,
    TlogProofFormatError,
    entry_inclusion,
    parse_tlog_proof,
    verify_tlog_proof,
)


@dataclass(frozen=True)
class Receipt:
    kind: ReceiptKind
    #: Byte-exact as received: a Rekor entry's JSON, a tlog-proof's text, PES JSON.
    raw: bytes


@dataclass(frozen=True)
class TlogPolicySource:
    """A tlog-policy and who configured it (named in the checks' details)."""

    source: str
    policy: Policy


@dataclass(frozen=True)
class PesKeySource:
    """A PES key set and who configured it."""

    source: str
    keys: tuple[VerifyingKey, ...]


@dataclass(frozen=True)
class ReceiptTrust:
    """What a component's tlog-proofs and PES confirmations are verified under."""

    tlog_policies: tuple[TlogPolicySource, ...] = ()
    pes_keys: tuple[PesKeySource, ...] = ()
    #: PES root certificates: the confirmation's PES certificate must be one or be issued by one.
    pes_roots: tuple[x509.Certificate, ...] = ()


def load_pes_key(data: bytes, key_id: int, *, source: str) -> VerifyingKey:
    """A PES key from a PEM or DER public key or certificate: RSA or ECDSA P-256, the two key
    types of an Oak VerifyingKeySet (PES matches keys, not ids: `key_id` only names it)."""
    key = load_pinned_key(data, source=source)
    crypto = key.crypto
    if isinstance(crypto, rsa.RSAPublicKey):
        return VerifyingKey(key_id, KeyType.RSA_SHA2_256, key.spki_der)
    if isinstance(crypto, ec.EllipticCurvePublicKey) and crypto.curve.name == "secp256r1":
        return VerifyingKey(key_id, KeyType.ECDSA_P256_SHA256, key.spki_der)
    raise InputError(f"{source}: a PES key is RSA or ECDSA P-256, not {key.algorithm}")


def load_tlog_policy(data: bytes, *, source: str) -> Policy:
    """A c2sp.org/tlog-policy file, parsed strictly; InputError naming `source` if not."""
    try:
        return parse_policy(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{source}: a tlog-policy is UTF-8 text") from None
    except InputError as error:
        raise InputError(f"{source}: {error}") from None


def load_certificate(data: bytes, *, source: str) -> x509.Certificate:
    """A PEM or DER X.509 certificate (a PES root)."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data.strip())
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise InputError(f"{source}: not a PEM or DER X.509 certificate") from None


# --- the checks of carried receipts --------------------------------------------------------


def receipt_checks(receipts: Sequence[Receipt], statement: bytes | None,
                   endorser_keys: Sequence[PublicKey], trust: ReceiptTrust) -> tuple[Check, ...]:
    """The named checks of the tlog-proof and PES confirmation among `receipts`, in report
    order (a Rekor entry's checks are its entry's)."""
    checks: list[Check] = []
    for kind in (ReceiptKind.C2SP, ReceiptKind.PES):
        for receipt in (r for r in receipts if r.kind is kind):
            if kind is ReceiptKind.C2SP:
                checks.extend(tlog_proof_checks(receipt.raw, statement, endorser_keys, trust))
            else:
                checks.append(pes_check(receipt.raw, statement, endorser_keys, trust))
    return tuple(checks)


def with_receipt_checks(verification: Verification, checks: Sequence[Check]) -> Verification:
    return replace(verification, checks=verification.checks + tuple(checks))


def tlog_proof_checks(raw: bytes, statement: bytes | None, endorser_keys: Sequence[PublicKey],
                      trust: ReceiptTrust) -> tuple[Check, ...]:
    try:
        proof = parse_tlog_proof(raw)
    except TlogProofFormatError as error:
        unparsed = "no parsable tlog-proof"
        return (failed(CheckName.TLOG_PROOF, f"malformed tlog-proof: {error}"),
                skipped(CheckName.TLOG_CHECKPOINT, unparsed),
                skipped(CheckName.WITNESS_QUORUM, unparsed))
    if statement is None:
        return tuple(skipped(name, "no statement to bind the tlog-proof to")
                     for name in TLOG_CHECKS)
    if not trust.tlog_policies:
        why = ("a C2SP tlog-proof is carried, but no tlog-policy is configured for the component "
               "(Oak reference values tlog.c2sp, or tlog_policy in the config)")
        # What does not depend on a policy still counts, as for a PES confirmation: an entry
        # that is not the statement, or a proof that does not reach the root, is broken.
        _, inclusion = entry_inclusion(proof, statement, endorser_keys, pinned=False)
        if inclusion.ok is False:
            return (inclusion, *(skipped(name, why) for name in TLOG_CHECKS[1:]))
        return tuple(skipped(name, why) for name in TLOG_CHECKS)
    outcomes = [(p.source, verify_tlog_proof(proof, p.policy, statement, endorser_keys).checks)
                for p in trust.tlog_policies]
    return tuple(_under_each(name, [(source, _named(checks, name))
                                    for source, checks in outcomes])
                 for name in TLOG_CHECKS)


def pes_check(raw: bytes, statement: bytes | None, endorser_keys: Sequence[PublicKey],
              trust: ReceiptTrust) -> Check:
    try:
        confirmation = parse_pes_confirmation(raw)
    except InputError as error:
        return failed(CheckName.PES_CONFIRMATION, f"malformed PES confirmation: {error}")
    if statement is None:
        return skipped(CheckName.PES_CONFIRMATION, "no statement to compare the confirmation with")
    if not trust.pes_keys:
        # What does not depend on trusting a PES key still counts: the confirmation's statement,
        # endorser key and both signatures.
        result = verify_pes_confirmation(confirmation, statement=statement, pes_keys=(),
                                         endorser_keys=endorser_keys, pes_roots=trust.pes_roots)
        reasons = [reason for failure, reason in zip(result.failures, result.reasons, strict=True)
                   if failure is not PesFailure.PES_KEY_UNTRUSTED]
        if reasons:
            return failed(CheckName.PES_CONFIRMATION, "; ".join(reasons))
        return skipped(CheckName.PES_CONFIRMATION, "a PES confirmation is carried, but no PES "
                       "key is configured for the component (Oak reference values tlog.pes, or "
                       "pes_keys in the config); it verifies under the key it carries")
    outcomes = [(keys.source, verify_pes_confirmation(
        confirmation, statement=statement, pes_keys=keys.keys, endorser_keys=endorser_keys,
        pes_roots=trust.pes_roots).check) for keys in trust.pes_keys]
    return _under_each(CheckName.PES_CONFIRMATION, outcomes)


def _named(checks: Sequence[Check], name: str) -> Check:
    return next(check for check in checks if check.name == name)


def _under_each(name: str, outcomes: Sequence[tuple[str, Check]]) -> Check:
    """One check from the same check under each configured source: it passes only if it
    passes under every one, and the detail says which source decided what."""
    results = [check.ok for _, check in outcomes]
    ok = False if False in results else (None if None in results else True)
    details = list(dict.fromkeys(check.detail for _, check in outcomes))
    if len(outcomes) == 1 or len(details) == 1:
        return Check(name, ok, details[0])
    return Check(name, ok, "; ".join(f"under {source}: {check.detail}"
                                     for source, check in outcomes))


# --- one receipt on its own (`audit verify-entry`) -------------------------------------------

#: Top-level fields of the JSON form of a google.pes.v1.PublicEndorsement, under their JSON
#: names and their proto names (a protobuf JSON parser takes both, as parse_pes_confirmation
#: does).
_PES_FIELDS = {"statementSignature", "endorsementSignatures", "tlogReceipt",
               "statement_signature", "endorsement_signatures", "tlog_receipt"}


def receipt_kind_of(data: bytes) -> ReceiptKind | None:
    """A tlog-proof or a PES confirmation, recognised by content; None for anything else."""
    if data.startswith(HEADER.encode() + b"\n"):
        return ReceiptKind.C2SP
    if not data.lstrip().startswith(b"{"):
        return None
    try:
        document = loads(data, "receipt")  # bounded: see auditor.source.json_input
    except JsonInputError:
        return None
    if isinstance(document, dict) and _PES_FIELDS & set(document):
        return ReceiptKind.PES
    return None


def verify_receipt(receipt: Receipt, material: EndorsementMaterial,
                   trust: ReceiptTrust) -> Verification:
    """A tlog-proof or PES confirmation of `material.artifact` (the statement), on its own.

    The statement's own checks come first: its format and claims, and, when a signature is at
    hand (given, or carried by the receipt: the HashedRekord `extra`, the confirmation's
    endorser signature), whether a pinned endorser key made it. Then the receipt's checks.
    """
    carried = _carried_signature(receipt)
    signature = material.signature if material.signature is not None else carried
    base = verify_unlogged(replace(material, signature=signature))
    checks = [check for check in base.checks if check.name not in _NOT_FOR_RECEIPTS]
    if signature is None:
        checks = [skipped(c.name, "no signature given (--signature)")
                  if c.name in (CheckName.ENDORSER_KEY, CheckName.ENDORSEMENT_SIGNATURE) else c
                  for c in checks]
    own = receipt_checks([receipt], material.artifact, material.endorser_keys, trust)
    return replace(base, checks=tuple(checks) + own)


# A lone receipt has no Rekor entry: its log checks and the entry body's do not apply.
_NOT_FOR_RECEIPTS = {*LOG_CHECKS, CheckName.BODY_SIGNATURE, CheckName.ARTIFACT_HASH}


def _carried_signature(receipt: Receipt) -> bytes | None:
    try:
        if receipt.kind is ReceiptKind.PES:
            return parse_pes_confirmation(receipt.raw).endorser_signature
        extra = parse_tlog_proof(receipt.raw).extra
        return parse_body(extra).signature if extra is not None else None
    except (InputError, BodyError):
        return None  # the receipt's own checks say why it does not parse


def receipt_summary(receipt: Receipt) -> dict[str, Any]:
    """What `audit verify-entry --json` prints about a receipt (parsed; InputError if not)."""
    if receipt.kind is ReceiptKind.C2SP:
        proof = parse_tlog_proof(receipt.raw)
        cp = proof.checkpoint
        return {"kind": "c2sp-tlog-proof", "origin": cp.origin, "tree_size": cp.size,
                "index": proof.index, "root_hash": cp.root_hash.hex(),
                "extra": proof.extra is not None,
                "signatures": [line.name for line in cp.signatures]}
    confirmation = parse_pes_confirmation(receipt.raw)
    return {"kind": "pes-confirmation", "name": confirmation.name,
            "entry_id": confirmation.entry_id,
            "endorser_key_sha256": confirmation.endorser.key.key_id.hex(),
            "pes_key_sha256": confirmation.pes.key.key_id.hex()}
