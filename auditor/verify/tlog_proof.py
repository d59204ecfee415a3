"""C2SP tlog-proof (c2sp.org/tlog-proof@v1): Oak's offline receipt that a statement was logged.

```
c2sp.org/tlog-proof@v1
extra <base64>          (optional)
index <n>
<base64 hash>           (zero or more: the RFC 9162 inclusion path, leaf side first)
                        (empty line)
<checkpoint, verbatim, with its signature lines>
```

Verification follows Oak's `verify_c2sp_tlog_proof` (tr/verify_endorsement/lib.rs) and checks
more: with `extra`, the logged entry is that Rekor HashedRekord body, whose digest must be
sha256(statement), whose signature must verify over the statement and whose key must be an
endorser key; without it the statement bytes are the entry. The entry's leaf hash at `index`
must reach the checkpoint's root, and the checkpoint is judged by a tlog-policy. The outcome is
three named checks: `tlog_proof` (entry binding and inclusion), `tlog_checkpoint` (the log's
signature under the policy) and `witness_quorum`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.errors import InputError
from auditor.verify.body import BodyError, EntryBody, parse_body
from auditor.verify.check_names import TLOG_PROOF_CHECKS
from auditor.verify.checkpoint import (
    CANONICAL_DECIMAL,
    Checkpoint,
    CheckpointFormatError,
    parse_checkpoint,
    strict_b64decode,
)
from auditor.verify.entry import Check, failed, passed, skipped
from auditor.verify.keys import PublicKey
from auditor.verify.merkle import HASH_SIZE, ProofError, leaf_hash, verify_inclusion
from auditor.verify.policy import Policy, PolicyVerdict, evaluate_checkpoint

HEADER = "c2sp.org/tlog-proof@v1"
CHECK_NAMES = TLOG_PROOF_CHECKS
# A tree of at most 2^64 leaves has at most 64 levels, so no inclusion path is longer.
MAX_PROOF_HASHES = 64
# Bounds the work a hostile receipt can cause: 100 ML-DSA-44 cosignature lines are ~330 KiB.
MAX_PROOF_SIZE = 1 << 20
_MAX_INDEX = 2**64 - 1
_ENTRY_KINDS = ("hashedrekord", "rekord")


class TlogProofFormatError(InputError):
    """A tlog-proof that does not follow c2sp.org/tlog-proof@v1."""


@dataclass(frozen=True)
class TlogProof:
    #: The opaque `extra` data (for Oak: the logged HashedRekord body), if present.
    extra: bytes | None
    index: int
    hashes: tuple[bytes, ...]
    checkpoint: Checkpoint


# --- parsing ---------------------------------------------------------------------------------


class _Lines:
    """Reads the newline-terminated lines before the checkpoint, remembering where it is."""

    def __init__(self, text: str) -> None:
        self.text, self.position, self.number = text, 0, 0

    def next(self, what: str) -> str:
        end = self.text.find("\n", self.position)
        if end < 0:
            raise TlogProofFormatError(f"tlog-proof ends before its {what}")
        line = self.text[self.position : end]
        self.position, self.number = end + 1, self.number + 1
        return line

    def rest(self) -> str:
        return self.text[self.position :]


def parse_tlog_proof(data: bytes | str) -> TlogProof:
    """Parse a tlog-proof strictly; raise `TlogProofFormatError` naming the defect and line."""
    lines = _Lines(_text(data))
    if lines.next("header") != HEADER:
        raise TlogProofFormatError(f"tlog-proof does not start with the line {HEADER!r}")
    line = lines.next("index line")
    extra = None
    if line.startswith("extra "):
        extra = strict_b64decode(line[6:], "tlog-proof extra data", TlogProofFormatError)
        line = lines.next("index line")
    index = _index(line, lines.number)
    hashes: list[bytes] = []
    while line := lines.next("blank line before the checkpoint"):
        if len(hashes) == MAX_PROOF_HASHES:
            raise TlogProofFormatError(f"tlog-proof has more than {MAX_PROOF_HASHES} proof hashes")
        hashes.append(_proof_hash(line, lines.number))
    try:
        checkpoint = parse_checkpoint(lines.rest())
    except CheckpointFormatError as error:
        raise TlogProofFormatError(f"tlog-proof checkpoint: {error}") from None
    return TlogProof(extra, index, tuple(hashes), checkpoint)


def _text(data: bytes | str) -> str:
    if isinstance(data, bytes):
        if len(data) > MAX_PROOF_SIZE:
            raise TlogProofFormatError(f"tlog-proof is {len(data)} bytes, more than 1 MiB")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TlogProofFormatError(
                f"tlog-proof is not UTF-8 text (byte {error.start})"
            ) from None
    if not isinstance(data, str):
        raise TlogProofFormatError(f"a tlog-proof is text, not {type(data).__name__}")
    if len(data) > MAX_PROOF_SIZE:
        raise TlogProofFormatError(f"tlog-proof is {len(data)} characters, more than 1 MiB")
    return data


def _index(line: str, number: int) -> int:
    # tlog-proof: `index`, a space, then ASCII decimal without leading zeroes.
    digits = line[6:] if line.startswith("index ") else None
    if digits is None or not CANONICAL_DECIMAL.fullmatch(digits) or len(digits) > 20:
        raise TlogProofFormatError(
            f"tlog-proof line {number} is not 'index <n>' (or, on line 2, 'extra <base64>')"
        )
    if int(digits) > _MAX_INDEX:
        raise TlogProofFormatError(f"tlog-proof index {digits} does not fit in 64 bits")
    return int(digits)


def _proof_hash(line: str, number: int) -> bytes:
    where = f"tlog-proof line {number} (inclusion proof hash)"
    value = strict_b64decode(line, where, TlogProofFormatError)
    if len(value) != HASH_SIZE:
        raise TlogProofFormatError(f"{where} is {len(value)} bytes, not {HASH_SIZE}")
    return value


# --- verifying -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlogProofVerification:
    #: `tlog_proof`, `tlog_checkpoint`, `witness_quorum`, in that order.
    checks: tuple[Check, ...]
    proof: TlogProof | None
    verdict: PolicyVerdict | None
    #: The HashedRekord body carried as `extra`, when there is one and it parses.
    entry_body: EntryBody | None

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks)

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)


def check_tlog_proof(
    data: bytes | str, policy: Policy, statement: bytes, endorser_keys: Sequence[PublicKey]
) -> TlogProofVerification:
    """`verify_tlog_proof` for a receipt as received: a malformed one is a failed check."""
    try:
        proof = parse_tlog_proof(data)
    except TlogProofFormatError as error:
        unparsed = "no parsable tlog-proof"
        return TlogProofVerification(
            (failed("tlog_proof", f"malformed tlog-proof: {error}"),
             skipped("tlog_checkpoint", unparsed), skipped("witness_quorum", unparsed)),
            None, None, None,
        )
    return verify_tlog_proof(proof, policy, statement, endorser_keys)


def verify_tlog_proof(
    proof: TlogProof, policy: Policy, statement: bytes, endorser_keys: Sequence[PublicKey]
) -> TlogProofVerification:
    """Check that `statement` is logged as `proof` says, under `policy`.

    `endorser_keys` are the keys trusted to sign the statement: with `extra`, the logged
    HashedRekord's key must be one of them (Oak's "endorser public key mismatch").
    """
    body, inclusion = entry_inclusion(proof, statement, endorser_keys)
    verdict = evaluate_checkpoint(policy, proof.checkpoint)
    return TlogProofVerification((inclusion, *_checkpoint_checks(proof.checkpoint, verdict)),
                                 proof, verdict, body)


def _checkpoint_checks(cp: Checkpoint, verdict: PolicyVerdict) -> tuple[Check, Check]:
    """`tlog_checkpoint` and `witness_quorum`. A rejected note (a policy witness's line that
    does not verify) fails both: nothing it says is trusted, its quorum included."""
    quorum = Check("witness_quorum", verdict.quorum_satisfied, verdict.quorum_detail)
    if verdict.rejection is not None:
        quorum = failed("witness_quorum", "no quorum: the checkpoint is rejected (a known "
                        "witness's cosignature does not verify)")
    elif verdict.log_key is not None:
        return passed("tlog_checkpoint", f"{verdict.log_detail}; {cp.origin} size {cp.size}"), \
            quorum
    problems = (None if verdict.log_key else verdict.log_detail, verdict.rejection)
    return failed("tlog_checkpoint", "; ".join(p for p in problems if p)), quorum


def entry_inclusion(proof: TlogProof, statement: bytes, endorser_keys: Sequence[PublicKey],
                    *, pinned: bool = True) -> tuple[EntryBody | None, Check]:
    """The `tlog_proof` check: the logged entry binds `statement` and is included under the
    checkpoint's root. It needs no policy; what it proves does (the root is the log's only once
    the checkpoint is), but a failure is a broken receipt under any policy. `pinned=False`:
    with no endorser key pinned, `extra`'s own key is taken (no key to hold it to is no fault
    of the receipt)."""
    body, entry, binding = _logged_entry(proof.extra, statement, endorser_keys, pinned)
    return body, _inclusion(proof, entry, binding)


def _inclusion(proof: TlogProof, entry: bytes | None, binding: str) -> Check:
    if entry is None:
        return failed("tlog_proof", binding)
    cp = proof.checkpoint
    try:
        verify_inclusion(proof.index, cp.size, leaf_hash(entry), proof.hashes, cp.root_hash)
    except ProofError as error:
        return failed("tlog_proof", f"{binding}; RFC 9162 inclusion proof does not verify: "
                      f"{error}")
    return passed("tlog_proof", f"{binding}; it is leaf {proof.index} of the tree of size "
                  f"{cp.size} with root {cp.root_hash.hex()}")


def _logged_entry(
    extra: bytes | None, statement: bytes, endorser_keys: Sequence[PublicKey],
    pinned: bool = True,
) -> tuple[EntryBody | None, bytes | None, str]:
    """(parsed body, the logged entry's bytes or None if unbound, what binds or why not)."""
    if extra is None:
        return None, statement, "the statement itself is the logged entry"
    try:
        body = parse_body(extra)
    except BodyError as error:
        return None, None, f"extra is not a Rekor HashedRekord body: {error}"
    what = f"extra ({body.kind} v{body.api_version})"
    if body.kind not in _ENTRY_KINDS:
        return body, None, f"{what} is not a HashedRekord body"
    digest = hashlib.sha256(statement).digest()
    if body.digest != digest:
        return body, None, (f"{what} logs sha256:{body.digest.hex()}, but sha256(statement) is "
                            f"{digest.hex()}")
    if not body.key.verify(body.signature, statement):
        return body, None, f"{what}: its signature does not verify over the statement"
    signer = f"sha256:{body.key.key_id.hex()}"
    if not endorser_keys and not pinned:
        return body, extra, f"{what} binds the statement, signed by {signer}"
    if not endorser_keys:
        return body, None, f"{what} is signed by {signer}, but no endorser key is pinned"
    if body.key not in endorser_keys:
        return body, None, f"{what} is signed by {signer}, which is not an endorser key"
    return body, extra, f"{what} binds the statement, signed by endorser key {signer}"
