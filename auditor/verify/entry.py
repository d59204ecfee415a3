"""End-to-end verification of one log entry and the endorsement beside it.

Every check yields a named `Check` (ok: True, False, or None when it does not apply, with why),
in the fixed order of CHECK_NAMES. Nothing raises for a failed check: a failure is a value the
store records and the reports show. Recipes: RFC 9162 (proofs), c2sp.org/signed-note and
tlog-checkpoint (checkpoints), Rekor's OpenAPI (entries, signed entry timestamps).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from auditor.source.bundle import Bundle
from auditor.source.entry import LogEntry
from auditor.verify.body import (
    BodyError,
    EntryBody,
    bundle_mismatch,
    envelope_note,
    kind_of,
    pae,
    parse_body,
)
from auditor.verify.check_names import (
    LOG_CHECKS,
)
from auditor.verify.checkpoint import (
    Checkpoint,
    CheckpointFormatError,
    CheckpointSignatureError,
    EcdsaNoteVerifier,
    Ed25519NoteVerifier,
    NoteSignature,
    NoteVerifier,
    origin_tree_id,
    parse_checkpoint,
    verify_checkpoint,
)
from auditor.verify.keys import PublicKey
from auditor.verify.memo import NOTE_MEMO_SIZE, Memo
from auditor.verify.merkle import ProofError, leaf_hash, verify_inclusion
from auditor.verify.statement import (
    DigestComparison,
    Statement,
    StatementError,
    StatementFormat,
    compare_digests,
    parse_statement,
)
from auditor.verify.trust import LogKey, LogKeyring
from auditor.wording import ORIGIN_CHARS, bounded, quoted


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def failed(name: str, detail: str) -> Check:
    return Check(name, False, detail)


def skipped(name: str, detail: str) -> Check:
    return Check(name, None, detail)


@dataclass(frozen=True)
class EndorsementMaterial:
    """What travels beside a log entry, supplied by the caller."""

    #: The signed file: an Oak statement (endorsement.json); for a DSSE bundle, the subject.
    artifact: bytes | None = None
    #: A detached signature over the artifact (Oak's endorsement_signature), if separate.
    signature: bytes | None = None
    #: Oak's inline subject (an attachment or the cmdline regex), hashed as given.
    subject: bytes | None = None
    endorser_keys: tuple[PublicKey, ...] = ()
    #: Judge validity at this time instead of the entry's integratedTime.
    at: datetime | None = None
    #: What `at` is, as check details name it (a tiled log's entries: when first seen).
    at_source: str = "--at"
    bundle: Bundle | None = None
    #: Claim types the component requires the statement to carry (Oak reference values).
    required_claims: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verification:
    """Everything one verification established, parsed once and carried to the store."""

    checks: tuple[Check, ...]
    entry: LogEntry | None
    body: EntryBody | None = None
    statement: Statement | None = None
    signer: PublicKey | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The entry's checkpoint, parsed; `checkpoint_verified` when a pinned log key signed it.
    checkpoint: Checkpoint | None = None
    checkpoint_verified: bool = False
    #: The pinned log key the entry's logID named (valid at its time), if any.
    log_key: LogKey | None = None

    @functools.cached_property
    def ok(self) -> bool:
        # Asked for by the store, the counts and the findings of every entry: computed once
        # (the checks never change; `dataclasses.replace` makes a new verification).
        return all(c.ok is not False for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False]

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    @property
    def set_verified(self) -> bool:
        """Whether the entry's signed entry timestamp verified under the log's key."""
        return any(c.name == "set" and c.ok is True for c in self.checks)

    @property
    def unsigned_fields(self) -> tuple[str, ...]:
        """The entry's fields nothing verified signs. Only a Rekor v1 entry's signed entry
        timestamp signs its `logIndex` (the inclusion proof signs the leaf in its shard, not the
        virtual index) and its `integratedTime`; a bundle without its inclusion promise carries
        both unsigned, and nothing signs a Rekor v2 entry's time (its index is the proven leaf)."""
        entry = self.entry
        if entry is None or self.set_verified:
            return ()
        fields = ("log_index",) if entry.rekor_version == 1 else ()
        return fields + (("integrated_time",) if entry.integrated_time else ())

    @property
    def signed_integrated_time(self) -> int | None:
        """The entry's integratedTime when its signed entry timestamp verified, else None: the
        store keeps no time the log did not sign (it orders endorsements and excuses those
        before `expected_since`)."""
        unsigned = self.entry is None or "integrated_time" in self.unsigned_fields
        return None if unsigned or self.entry is None else self.entry.integrated_time

    def summary(self) -> dict[str, Any]:
        entry = self.entry
        kind, version = kind_of(entry.body) if entry else ("", "")
        subject = self.statement.subject if self.statement else None
        when = entry.integrated_time if entry else None
        unsigned = self.unsigned_fields
        return {
            "uuid": entry.uuid if entry else None,
            "log_index": entry.log_index if entry else None,
            "shard_index": entry.proof.log_index if entry and entry.proof else None,
            "tree_id": entry.tree_id if entry else None,
            "tree_size": entry.proof.tree_size if entry and entry.proof else None,
            "integrated_time": when,
            "integrated_time_utc": _utc(when).isoformat() if when else None,
            "log_id": entry.log_id.hex() if entry else None,
            "rekor_version": entry.rekor_version if entry else None,
            "kind": kind,
            "api_version": version,
            "signer_key_sha256": self.signer.key_id.hex() if self.signer else None,
            "statement_format": self.statement.format.value if self.statement else None,
            "subject_name": subject.name if subject else None,
            "subject_digest": subject.digests if subject else None,
            # As the document says them, but signed by nothing verified.
            **({"unsigned": list(unsigned)} if unsigned else {}),
            **self.extra,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [c.to_json() for c in self.checks],
            "entry": self.summary(),
        }


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- log checks ----------------------------------------------------------------------------


def _leaf_hash(entry: LogEntry) -> Check:
    computed = leaf_hash(entry.body).hex()
    if entry.uuid is None:
        return skipped("leaf_hash", "the source carries no entry UUID; the inclusion proof "
                       f"checks the leaf hash {computed}")
    if entry.uuid[-64:] != computed:
        return failed("leaf_hash", f"sha256(0x00 ‖ body) = {computed} but the UUID ends in "
                      f"{entry.uuid[-64:]}")
    return passed("leaf_hash", f"UUID carries the leaf hash {computed}")


def _inclusion(entry: LogEntry) -> Check:
    proof = entry.proof
    if proof is None:
        return failed("inclusion_proof", "no inclusion proof: a signed promise is not a proof of "
                      "inclusion")
    try:
        verify_inclusion(proof.log_index, proof.tree_size, leaf_hash(entry.body),
                         proof.hashes, proof.root_hash)
    except ProofError as error:
        return failed("inclusion_proof", f"RFC 9162 inclusion proof does not verify: {error}")
    misplaced = _misplaced(entry, proof.log_index)
    if misplaced:
        return failed("inclusion_proof", misplaced)
    return passed("inclusion_proof", f"leaf {proof.log_index} is in the tree of size "
                  f"{proof.tree_size} with root {proof.root_hash.hex()}")


def _misplaced(entry: LogEntry, leaf: int) -> str | None:
    """Why the entry's logIndex cannot be the leaf the proof proves, if it cannot. A Rekor v2
    log is one tree: its index is the leaf's, and nothing but the proof signs it (a bundle's
    logIndex could say anything, and was stored as said). A Rekor v1 virtual index adds the
    sizes of earlier shards to the leaf's: it is never below it."""
    if entry.rekor_version == 2 and entry.log_index != leaf:
        return f"the entry's logIndex {entry.log_index} is not the proven leaf index {leaf}"
    if entry.log_index < leaf:
        return (f"the entry's logIndex {entry.log_index} is below the proven shard index "
                f"{leaf}, which a virtual index (earlier shards' sizes + shard index) never is")
    return None


def note_verifiers(log_key: LogKey, checkpoint: Checkpoint) -> list[NoteVerifier]:
    crypto = log_key.key.crypto
    if isinstance(crypto, ed25519.Ed25519PublicKey):
        return [Ed25519NoteVerifier(log_key.name, crypto)] if log_key.name else []
    if not isinstance(crypto, ec.EllipticCurvePublicKey):
        return []
    # An ECDSA key hint does not depend on the name: a key pinned without a name verifies
    # the lines signed under whatever name carries its hint; the origin check binds the name.
    names = {log_key.name} if log_key.name else {s.name for s in checkpoint.signatures}
    return [EcdsaNoteVerifier(name, crypto) for name in sorted(names)]


def expected_origin(entry: LogEntry, log_key: LogKey, signer_name: str) -> tuple[str | None, str]:
    """The origin a checkpoint for this entry must carry, or None if only the form is known."""
    name = log_key.name or signer_name
    if entry.rekor_version == 2:
        return name, "Rekor v2 origin is the log name"
    if entry.uuid is not None and len(entry.uuid) == 80:
        return f"{name} - {int(entry.uuid[:16], 16)}", "from the UUID's tree id"
    return None, (f"the entry carries no tree id; origin must read "
                  f"'{bounded(name, ORIGIN_CHARS)} - <treeID>'")


@dataclass(frozen=True)
class _Note:
    """A checkpoint note as parsed and verified under one log key."""

    checkpoint: Checkpoint | None
    #: Why it does not parse, or why no signature by the key verifies; None when one does.
    problem: str | None
    line: NoteSignature | None = None


def _read_note(text: str, log_key: LogKey | None) -> _Note:
    try:
        checkpoint = parse_checkpoint(text)
    except CheckpointFormatError as error:
        return _Note(None, f"malformed checkpoint: {error}")
    if log_key is None:
        return _Note(checkpoint, "no pinned log key for this entry's logID")
    try:
        line = verify_checkpoint(checkpoint, note_verifiers(log_key, checkpoint))
    except CheckpointSignatureError as error:
        return _Note(checkpoint, str(error))
    return _Note(checkpoint, None, line)


#: Entries served together often share their checkpoint note: one seen before (same text, same
#: log key) is not parsed and verified again (auditor.verify.memo).
_NOTES: Memo[tuple[str, bytes | None, str | None], _Note] = Memo(NOTE_MEMO_SIZE)


def _checkpoint(entry: LogEntry,
                log_key: LogKey | None) -> tuple[Check, Check, Checkpoint | None]:
    """The two checkpoint checks, and the checkpoint itself when it parses."""
    proof = entry.proof
    if proof is None:
        reason = "no inclusion proof, hence no checkpoint"
        return (failed("checkpoint_signature", reason),
                skipped("checkpoint_matches_proof", reason), None)
    text = proof.checkpoint
    if text is None:
        return (
            failed("checkpoint_signature", "no checkpoint: the inclusion proof's root hash is "
                   "unauthenticated"),
            skipped("checkpoint_matches_proof", "no checkpoint to compare"),
            None,
        )
    key = (text, log_key.key.spki_der, log_key.name) if log_key else (text, None, None)
    note = _NOTES.get(key, lambda: _read_note(text, log_key))
    checkpoint = note.checkpoint
    if checkpoint is None:
        return (failed("checkpoint_signature", note.problem or ""),
                skipped("checkpoint_matches_proof", "malformed checkpoint"), None)
    if note.line is None or log_key is None:
        return (failed("checkpoint_signature", note.problem or ""),
                _matches(entry, checkpoint, None, ""), checkpoint)
    line = note.line
    # An ECDSA line's name is not signed (a key pinned without a name verifies it under any).
    signature = passed("checkpoint_signature", f"signed by {bounded(line.name, ORIGIN_CHARS)} "
                       f"(key hint {line.key_hint.hex()})")
    return signature, _matches(entry, checkpoint, log_key, line.name), checkpoint


def _matches(entry: LogEntry, cp: Checkpoint, log_key: LogKey | None, signer: str) -> Check:
    assert entry.proof is not None
    problems = []
    if cp.size != entry.proof.tree_size:
        problems.append(f"checkpoint size {cp.size} != proof treeSize {entry.proof.tree_size}")
    if cp.root_hash != entry.proof.root_hash:
        problems.append(f"checkpoint root {cp.root_hash.hex()} != proof rootHash "
                        f"{entry.proof.root_hash.hex()}")
    if log_key is not None:
        origin, why = expected_origin(entry, log_key, signer)
        if origin is not None and cp.origin != origin:
            problems.append(f"origin {quoted(cp.origin, ORIGIN_CHARS)} != "
                            f"{quoted(origin, ORIGIN_CHARS)} ({why})")
        if origin is None and origin_tree_id(cp.origin, log_key.name or signer) is None:
            problems.append(f"origin {quoted(cp.origin, ORIGIN_CHARS)}: {why}")
    if problems:
        return failed("checkpoint_matches_proof", "; ".join(problems))
    unauth = "" if log_key is not None else " (but the checkpoint itself is unauthenticated)"
    return passed("checkpoint_matches_proof", f"size {cp.size}, root and origin "
                  f"{quoted(cp.origin, ORIGIN_CHARS)} match the proof{unauth}")


def signed_entry_timestamp_payload(entry: LogEntry) -> bytes:
    # RFC 8785 canonical JSON; for these four fields sorted compact json.dumps is identical.
    # The logID as received: bytes.fromhex also reads "C0D2..." and "c0 d2 ...", which the
    # log never signed.
    payload = {
        "body": entry.body_text,
        "integratedTime": entry.integrated_time,
        "logID": entry.log_id_text if entry.log_id_text is not None else entry.log_id.hex(),
        "logIndex": entry.log_index,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def _set(entry: LogEntry, log_key: LogKey | None, from_bundle: bool) -> Check:
    if entry.rekor_version == 2:
        return skipped("set", "Rekor v2 issues no signed entry timestamp")
    if entry.signed_entry_timestamp is None:
        if from_bundle:
            return skipped("set", "the bundle carries no inclusion promise")
        return failed("set", "no signedEntryTimestamp in the entry")
    if log_key is None:
        return failed("set", "no pinned log key for this entry's logID")
    if not log_key.key.verify(entry.signed_entry_timestamp, signed_entry_timestamp_payload(entry)):
        return failed("set", "signed entry timestamp does not verify under the log key "
                      "(body, integratedTime, logID or logIndex altered)")
    return passed("set", "signed entry timestamp verifies under the log key")


def _body(entry: LogEntry, bundle: Bundle | None,
          parsed: EntryBody | None = None) -> tuple[EntryBody | None, Check]:
    try:
        body = parsed or parse_body(entry.body)
    except BodyError as error:
        return None, failed("body", str(error))
    where = f"{body.kind} v{body.api_version}"
    if entry.declared_kind is not None and entry.declared_kind != (body.kind, body.api_version):
        return body, failed("body", f"bundle declares {bounded(entry.declared_kind[0])} "
                            f"v{bounded(entry.declared_kind[1])} but the body is {where}")
    note = ""
    if bundle is not None:
        mismatch = bundle_mismatch(body, bundle)
        if mismatch:
            return body, failed("body", f"{where}: {mismatch}")
        if bundle.envelope is not None:
            note = envelope_note(body, bundle.envelope)
    return body, passed("body", f"{where}, signed digest sha256:{body.digest.hex()}{note}")


# --- signature and endorsement checks -----------------------------------------------------


@dataclass(frozen=True)
class SignedContent:
    """What an endorsement's signature covers, and where its statement is.

    For a plain signature both are the artifact (Oak's statement). For a DSSE envelope the
    signature covers PAE(payloadType, payload), the statement is the payload, and the artifact
    the caller gives is the statement's subject.
    """

    signed_bytes: bytes | None
    statement: bytes | None
    #: True when the content comes from a DSSE envelope.
    dsse: bool

    @classmethod
    def of(cls, material: EndorsementMaterial) -> SignedContent:
        envelope = material.bundle.envelope if material.bundle else None
        if envelope is None:
            return cls(material.artifact, material.artifact, dsse=False)
        return cls(pae(envelope.payload_type, envelope.payload), envelope.payload, dsse=True)


def _body_signature(body: EntryBody | None, content: SignedContent) -> Check:
    if body is None:
        return skipped("body_signature", "no parsable body")
    if body.is_dsse:
        if not content.dsse or content.signed_bytes is None:
            return skipped("body_signature", "a DSSE signature covers the envelope, which only "
                           "a bundle carries")
        if body.key.verify(body.signature, content.signed_bytes):
            return passed("body_signature", "DSSE signature over the envelope verifies under the "
                          f"body's {body.key.algorithm} key")
        return failed("body_signature", "the DSSE signature does not verify over the envelope")
    if body.key.verify(body.signature, body.digest, prehashed=True):
        return passed("body_signature", f"signature over sha256:{body.digest.hex()} verifies "
                      f"under the body's {body.key.algorithm} key")
    if isinstance(body.key.crypto, ed25519.Ed25519PublicKey):
        return skipped("body_signature", "an Ed25519 signature cannot be checked against a "
                       "digest; give the artifact")
    return failed("body_signature", "the body's signature does not verify over its digest under "
                  "the body's key")


def _endorser_key(signer: PublicKey | None, keys: tuple[PublicKey, ...]) -> Check:
    if not keys:
        return skipped("endorser_key", "no endorser key pinned for this component")
    if signer is None:
        return skipped("endorser_key", "no signing key to compare")
    if signer in keys:
        return passed("endorser_key", f"signing key sha256:{signer.key_id.hex()} is pinned")
    return failed("endorser_key", f"signing key sha256:{signer.key_id.hex()} is not a pinned "
                  "endorser key")


def _artifact_hash(body: EntryBody | None, material: EndorsementMaterial,
                   statement: Statement | None) -> Check:
    if material.artifact is None:
        return skipped("artifact_hash", "no artifact given")
    digest = hashlib.sha256(material.artifact).digest()
    # Whatever entry kind records a DSSE envelope (a hashedrekord over its PAE included), the
    # artifact is the statement's subject.
    over_envelope = material.bundle is not None and material.bundle.envelope is not None
    if over_envelope or (body is not None and body.is_dsse):
        return _dsse_subject(digest.hex(), statement)
    if body is None:
        return skipped("artifact_hash", "no parsable body to compare with")
    if digest != body.digest:
        return failed("artifact_hash", f"sha256(artifact) = {digest.hex()} but the entry signs "
                      f"{body.digest.hex()}")
    return passed("artifact_hash", f"sha256(artifact) = {digest.hex()} is the logged digest")


def _dsse_subject(digest: str, statement: Statement | None) -> Check:
    """For DSSE the artifact is the in-toto subject: one subject must carry its digest."""
    if statement is None or not statement.subjects:
        return failed("artifact_hash", "the DSSE payload is not an in-toto statement with "
                      "subjects")
    for subject in statement.subjects:
        if compare_digests({"sha256": digest}, subject.digests) is DigestComparison.MATCH:
            return passed("artifact_hash", f"sha256(artifact) = {digest} is the digest of "
                          f"statement subject {quoted(subject.name)}")
    return failed("artifact_hash", f"sha256(artifact) = {digest} is no statement subject's "
                  "digest")


def _endorsement_signature(signer: PublicKey | None, body: EntryBody | None,
                           material: EndorsementMaterial, content: SignedContent) -> Check:
    if content.signed_bytes is None:
        return skipped("endorsement_signature", "no artifact given")
    # A detached signature given is the one checked, even empty: falling back to the logged
    # one would call an empty or lost signature file verified.
    signature = material.signature if material.signature is not None else (
        body.signature if body else None)
    if signature is None:
        return skipped("endorsement_signature", "no signature to check")
    if signer is None:
        return skipped("endorsement_signature", "no key to check the signature with (not "
                       "logged and no endorser key pinned)")
    what = "the DSSE envelope (PAE)" if content.dsse else "the artifact's raw bytes"
    if not signer.verify(signature, content.signed_bytes):
        return failed("endorsement_signature", f"the signature does not verify over {what}")
    note = ""
    if body is not None and material.signature is not None \
            and material.signature != body.signature:
        note = " (the detached signature differs from the logged one; both are by this key)"
    return passed("endorsement_signature", f"signature over {what} verifies" + note)


def _statement(raw: bytes | None, required_claims: tuple[str, ...] = (),
               pinned_signer: bool = False) -> tuple[Statement | None, Check]:
    if raw is None:
        return None, skipped("statement", "no statement given (--artifact)")
    try:
        statement = parse_statement(raw)
    except StatementError as error:
        return None, failed("statement", f"malformed Oak endorsement v1: {error}")
    detail = {
        StatementFormat.OAK_V1: None,
        StatementFormat.LEGACY: f"legacy Oak format ({bounded(str(statement.predicate_type))}): "
        "classified, not interpreted",
        StatementFormat.OTHER_INTOTO: f"an in-toto statement with predicate "
        f"{bounded(str(statement.predicate_type))}, not an Oak endorsement",
        StatementFormat.NOT_A_STATEMENT: "the artifact is not an in-toto statement",
    }[statement.format]
    if statement.format is StatementFormat.NOT_A_STATEMENT and pinned_signer:
        # A component key signs endorsements; bytes it signed that are no statement at all are
        # a misuse of the key (or a broken release), not an unknown format to shrug at.
        return statement, failed("statement", "a pinned endorser key signed bytes that are not "
                                 "an in-toto statement (not UTF-8 JSON of that shape)")
    if detail is not None:
        return statement, skipped("statement", detail)
    subject = statement.subject
    assert subject is not None
    missing = [claim for claim in required_claims if claim not in statement.claims]
    if missing:
        return statement, failed("statement", f"Oak endorsement v1 for {quoted(subject.name)} "
                                 f"lacks required claim(s) {', '.join(missing)}")
    claims = f", with the {len(required_claims)} required claim(s)" if required_claims else ""
    return statement, passed("statement",
                             f"Oak endorsement v1 for {quoted(subject.name)}{claims}")


def _validity(statement: Statement | None, when: datetime | None, source: str) -> Check:
    if statement is None or statement.format != StatementFormat.OAK_V1:
        return skipped("validity", "no Oak endorsement v1 statement")
    assert statement.not_before is not None and statement.not_after is not None
    if when is None:
        return skipped("validity", "no trusted time: the entry has no integratedTime signed by "
                       "a verified signed entry timestamp; give --at")
    window = f"[{statement.not_before.isoformat()}, {statement.not_after.isoformat()}]"
    if statement.not_before <= when <= statement.not_after:
        return passed("validity", f"{source} {when.isoformat()} is inside {window}")
    return failed("validity", f"{source} {when.isoformat()} is outside {window}")


def _subject(statement: Statement | None, inline: bytes | None) -> Check:
    if statement is None or statement.subject is None:
        return skipped("subject", "no statement subject")
    if inline is None:
        return skipped("subject", "no inline subject given")
    digest = hashlib.sha256(inline).hexdigest()
    outcome = compare_digests({"sha256": digest}, statement.subject.digests)
    if outcome is DigestComparison.MATCH:
        return passed("subject", f"sha256(inline subject) = {digest} is the statement subject")
    return failed("subject", f"sha256(inline subject) = {digest}: {outcome.value} against the "
                  f"statement subject {statement.subject.digests}")


def _endorsement_checks(
    body: EntryBody | None, signer: PublicKey | None, material: EndorsementMaterial,
    when: datetime | None, when_source: str, content: SignedContent,
) -> tuple[Statement | None, list[Check]]:
    pinned = signer is not None and signer in material.endorser_keys
    statement, statement_check = _statement(content.statement, material.required_claims, pinned)
    return statement, [
        _endorser_key(signer, material.endorser_keys),
        _artifact_hash(body, material, statement),
        _endorsement_signature(signer, body, material, content),
        statement_check,
        _validity(statement, when, when_source),
        _subject(statement, material.subject),
    ]


def _judgement_time(entry: LogEntry | None, at: datetime | None, at_source: str = "--at",
                    signed: bool = False) -> tuple[datetime | None, str]:
    """When validity is judged: `at`, else the entry's integratedTime if `signed` (its signed
    entry timestamp verified). Nothing else signs the time: a bundle without its promise, or
    a Rekor v2 entry, could carry any integratedTime, and an expired endorsement would pass."""
    if at is not None:
        return at, at_source
    if entry is not None and entry.integrated_time and signed:
        return _utc(entry.integrated_time), "integratedTime"
    return None, ""


def verify_entry(entry: LogEntry, keyring: LogKeyring,
                 material: EndorsementMaterial | None = None, *,
                 body: EntryBody | None = None) -> Verification:
    """Every named check of `entry` and the endorsement beside it.

    `body`: the entry's body when the caller already parsed it (it is not parsed again).
    """
    material = material or EndorsementMaterial()
    integrated = _utc(entry.integrated_time) if entry.integrated_time else material.at
    log_key, log_id_detail = keyring.find(entry.log_id, integrated)
    body, body_check = _body(entry, material.bundle, body)
    signer = body.key if body else None
    checkpoint_signature, checkpoint_matches, checkpoint = _checkpoint(entry, log_key)
    set_check = _set(entry, log_key, material.bundle is not None)
    when, when_source = _judgement_time(entry, material.at, material.at_source,
                                        signed=set_check.ok is True)
    content = SignedContent.of(material)
    statement, endorsement = _endorsement_checks(body, signer, material, when, when_source,
                                                 content)
    checks = [
        _leaf_hash(entry),
        Check("log_id", log_key is not None, log_id_detail),
        _inclusion(entry),
        checkpoint_signature,
        checkpoint_matches,
        set_check,
        body_check,
        _body_signature(body, content),
        *endorsement,
    ]
    return Verification(tuple(checks), entry, body, statement, signer, checkpoint=checkpoint,
                        checkpoint_verified=checkpoint_signature.ok is True, log_key=log_key)


def with_inline_subject(verification: Verification, subject: bytes) -> Verification:
    """`verification` with its `subject` check redone for an inline subject found afterwards
    (the statement names it, so it can only be fetched once the statement is read)."""
    return with_check(verification, _subject(verification.statement, subject))


def with_check(verification: Verification, check: Check) -> Verification:
    """`verification` with its check of the same name replaced by `check` (a crawl judges
    what one entry alone cannot show, such as its place among the log's shards)."""
    checks = tuple(check if c.name == check.name else c for c in verification.checks)
    return dataclasses.replace(verification, checks=checks)


def verify_unlogged(material: EndorsementMaterial) -> Verification:
    """An endorsement that never reached the log: only its own signature and statement."""
    reason = "not logged: the endorsement carries no transparency-log entry"
    signer = _find_signer(material)
    when, when_source = _judgement_time(None, material.at)
    statement, endorsement = _endorsement_checks(None, signer, material, when, when_source,
                                                 SignedContent.of(material))
    if signer is None and material.endorser_keys:
        endorsement[0] = failed("endorser_key", "the signature verifies under no pinned endorser "
                                "key")
    checks = [skipped(name, reason) for name in (*LOG_CHECKS, "body_signature")]
    return Verification(tuple(checks + endorsement), None, None, statement, signer)


def _find_signer(material: EndorsementMaterial) -> PublicKey | None:
    """The pinned endorser key the signature verifies under, if any: over the artifact, or
    over a bundle's DSSE envelope (whose subject the artifact is)."""
    signed = SignedContent.of(material).signed_bytes
    if signed is None or material.signature is None:
        return None
    signature = material.signature
    return next((k for k in material.endorser_keys if k.verify(signature, signed)), None)
