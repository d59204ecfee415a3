"""C2SP tlog-policy: which logs and witnesses a checkpoint needs, and whether it has them.

A policy names `log` keys (any one of them may sign), `witness` keys, `group`s of witnesses
and groups with a threshold, and exactly one `quorum` (a witness, a group or `none`). Parsing
follows c2sp.org/tlog-policy and rejects what Oak's verifier (`tr/c2sp/policy.rs`) rejects:
reserved or duplicate names, duplicate keys, keys of the wrong signature type, unknown or
reused group members, thresholds outside 1..n, a missing or second quorum line.

`evaluate_checkpoint` judges a checkpoint like Oak's `TLogProof::verify`: exactly one valid
signature line from a policy log key named after the checkpoint's origin (lines of unknown
keys are ignored, a known key's bad signature fails), then the distinct witnesses with a
valid cosignature, then the groups and the quorum. Unlike Oak, which leaves a policy witness's
cosignature that does not verify uncounted, the whole note is rejected for it (signed-note:
"If a signature from a known key fails to verify, clients SHOULD reject the whole note"). The
verdict is a value saying which key signed, which witnesses cosigned, why a quorum does not
hold, and why the note is rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from auditor.errors import InputError
from auditor.verify.checkpoint import Checkpoint, CheckpointSignatureError, verify_checkpoint
from auditor.verify.note_keys import NoteKey, SignatureType, VerifierKeyError, parse_vkey
from auditor.wording import ORIGIN_CHARS, counted, quoted

# tlog-policy: the predefined name; usable as the quorum, never defined or a group member.
NONE = "none"
_LOG_TYPES = (SignatureType.ED25519, SignatureType.SUBTREE_V1)
_WITNESS_TYPES = (SignatureType.COSIGNATURE_V1, SignatureType.SUBTREE_V1)
# tlog-policy "Structure": items are separated by ASCII spaces and tabs only.
_SEPARATOR = re.compile(r"[ \t]+")
_THRESHOLD = re.compile(r"[0-9]{1,9}")


class PolicyError(InputError):
    """A policy that does not parse or is inconsistent; the message names the line."""


@dataclass(frozen=True)
class PolicyLog:
    key: NoteKey
    url: str | None = None


@dataclass(frozen=True)
class Witness:
    #: The policy-local name, used only by groups and the quorum.
    name: str
    key: NoteKey
    url: str | None = None


@dataclass(frozen=True)
class Group:
    name: str
    #: At least this many members must have witnessed (1 <= threshold <= len(members)).
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    logs: tuple[PolicyLog, ...]
    witnesses: tuple[Witness, ...]
    #: In definition order: a group's members are witnesses or groups defined before it.
    groups: tuple[Group, ...]
    #: The quorum's witness or group name; None for `quorum none`.
    quorum: str | None

    @property
    def log_keys(self) -> tuple[NoteKey, ...]:
        return tuple(log.key for log in self.logs)


# --- parsing ---------------------------------------------------------------------------------


@dataclass
class _Builder:
    logs: list[PolicyLog]
    witnesses: dict[str, Witness]
    groups: dict[str, Group]
    grouped: set[str]
    quorum: tuple[int, str | None] | None = None

    def defined(self, name: str) -> bool:
        return name in self.witnesses or name in self.groups


def parse_policy(text: str) -> Policy:
    """Parse a tlog-policy strictly; raise `PolicyError` naming the line and the defect."""
    if not isinstance(text, str):
        raise PolicyError(f"a policy is text, not {type(text).__name__}")
    builder = _Builder([], {}, {}, set())
    for number, line in enumerate(text.split("\n"), 1):
        _check_characters(number, line)
        tokens = _SEPARATOR.split(line.strip(" \t"))
        if tokens[0] == "" or tokens[0].startswith("#"):
            continue
        _parse_line(builder, number, tokens)
    if builder.quorum is None:
        raise PolicyError("policy has no quorum line")
    return Policy(
        logs=tuple(builder.logs),
        witnesses=tuple(builder.witnesses.values()),
        groups=tuple(builder.groups.values()),
        quorum=builder.quorum[1],
    )


def _check_characters(number: int, line: str) -> None:
    # tlog-policy "Character set": tab, newline, 0x20-0x7E and octets with the high bit set.
    for char in line:
        if (char < " " and char != "\t") or char == "\x7f":
            raise PolicyError(f"policy line {number}: control character {char!r}")


def _parse_line(builder: _Builder, number: int, tokens: list[str]) -> None:
    keyword, args = tokens[0], tokens[1:]
    where = f"policy line {number}"
    if keyword == "log":
        _expect(where, "log", args, 1, 2)
        _add_log(builder, where, args)
    elif keyword == "witness":
        _expect(where, "witness", args, 2, 3)
        _add_witness(builder, where, args)
    elif keyword == "group":
        _expect(where, "group", args, 3, None)
        _add_group(builder, where, args)
    elif keyword == "quorum":
        _expect(where, "quorum", args, 1, 1)
        _set_quorum(builder, number, args[0])
    else:
        raise PolicyError(f"{where}: unknown keyword {keyword!r}")


def _expect(where: str, rule: str, args: list[str], least: int, most: int | None) -> None:
    if least <= len(args) and (most is None or len(args) <= most):
        return
    if most is None:
        wanted = f"at least {least}"
    else:
        wanted = str(least) if least == most else f"{least} or {most}"
    raise PolicyError(f"{where}: a {rule} line takes {wanted} "
                      f"argument{'' if wanted == '1' else 's'}, got {len(args)}")


def _vkey(where: str, role: str, text: str, types: tuple[SignatureType, ...]) -> NoteKey:
    try:
        key = parse_vkey(text)
    except VerifierKeyError as error:
        raise PolicyError(f"{where}: {role} key is not a valid verifier key: {error}") from None
    if key.signature_type not in types:
        allowed = " or ".join(f"0x{t.value:02x} {t.label}" for t in types)
        raise PolicyError(
            f"{where}: {role} key {key.name} has type 0x{key.signature_type.value:02x} "
            f"{key.signature_type.label}; a {role} key must be {allowed}"
        )
    return key


def _add_log(builder: _Builder, where: str, args: list[str]) -> None:
    key = _vkey(where, "log", args[0], _LOG_TYPES)
    # tlog-policy: duplicate logs (the same public key, whatever the name) are not allowed.
    if any(log.key.public_key == key.public_key for log in builder.logs):
        raise PolicyError(f"{where}: duplicate log key {key.name}+{key.key_hint.hex()}")
    builder.logs.append(PolicyLog(key, args[1] if len(args) > 1 else None))


def _new_name(builder: _Builder, where: str, name: str) -> None:
    if name == NONE:
        raise PolicyError(f"{where}: {NONE!r} is a reserved name")
    if builder.defined(name):
        raise PolicyError(f"{where}: duplicate name {name!r}")


def _add_witness(builder: _Builder, where: str, args: list[str]) -> None:
    name = args[0]
    _new_name(builder, where, name)
    key = _vkey(where, "witness", args[1], _WITNESS_TYPES)
    for other in builder.witnesses.values():
        if other.key.public_key == key.public_key:
            raise PolicyError(f"{where}: duplicate witness key (witness {other.name!r} has it)")
    builder.witnesses[name] = Witness(name, key, args[2] if len(args) > 2 else None)


def _add_group(builder: _Builder, where: str, args: list[str]) -> None:
    name, threshold, members = args[0], args[1], tuple(args[2:])
    _new_name(builder, where, name)
    k = _threshold(where, threshold, len(members))
    for member in members:
        # tlog-policy: each name can be a group member at most once, in the whole policy, so
        # that no witness counts twice towards the quorum.
        if member in builder.grouped:
            raise PolicyError(f"{where}: duplicate group member {member!r}: a name can be a "
                              "group member at most once")
        if member == NONE or not builder.defined(member):
            raise PolicyError(f"{where}: unknown group member {member!r} (members must be "
                              "witnesses or groups defined on earlier lines)")
        builder.grouped.add(member)
    builder.groups[name] = Group(name, k, members)


def _threshold(where: str, text: str, n: int) -> int:
    if text == "any":
        return 1
    if text == "all":
        return n
    if not _THRESHOLD.fullmatch(text):
        raise PolicyError(f"{where}: invalid threshold {text!r} (any, all or a decimal number)")
    k = int(text)
    if not 1 <= k <= n:
        raise PolicyError(f"{where}: threshold {k} out of range for a group of "
                          f"{counted(n, 'member')}")
    return k


def _set_quorum(builder: _Builder, number: int, name: str) -> None:
    where = f"policy line {number}"
    if builder.quorum is not None:
        raise PolicyError(f"{where}: a second quorum line (the first is line {builder.quorum[0]})")
    if name != NONE and not builder.defined(name):
        raise PolicyError(f"{where}: unknown quorum name {name!r} (it must be defined earlier)")
    builder.quorum = (number, None if name == NONE else name)


# --- evaluating ------------------------------------------------------------------------------


class WitnessStatus(StrEnum):
    COSIGNED = "cosigned"
    MISSING = "missing"
    BAD_SIGNATURE = "bad signature"


@dataclass(frozen=True)
class WitnessOutcome:
    witness: Witness
    status: WitnessStatus
    detail: str
    #: The time the witness claims to have cosigned (from a valid cosignature).
    timestamp: int | None = None


@dataclass(frozen=True)
class GroupOutcome:
    group: Group
    #: Members (witnesses or groups) that witnessed the checkpoint.
    witnessed: tuple[str, ...]

    @property
    def satisfied(self) -> bool:
        return len(self.witnessed) >= self.group.threshold


@dataclass(frozen=True)
class PolicyVerdict:
    """How a checkpoint fares under a policy: the log signature, each witness, the quorum."""

    #: The policy log key whose signature verified, or None.
    log_key: NoteKey | None
    log_detail: str
    witnesses: tuple[WitnessOutcome, ...]
    groups: tuple[GroupOutcome, ...]
    quorum_satisfied: bool
    quorum_detail: str
    #: Why the whole note is rejected (a policy witness's cosignature that does not verify),
    #: or None.
    rejection: str | None = None

    @property
    def ok(self) -> bool:
        return self.rejection is None and self.log_key is not None and self.quorum_satisfied

    @property
    def cosigned_by(self) -> tuple[str, ...]:
        """Policy names of the distinct witnesses with a valid cosignature."""
        return tuple(o.witness.name for o in self.witnesses if o.status is WitnessStatus.COSIGNED)


def evaluate_checkpoint(policy: Policy, checkpoint: Checkpoint) -> PolicyVerdict:
    """Judge `checkpoint` (parsed, with its signature lines) under `policy`."""
    log_key, log_detail = _log_signature(policy, checkpoint)
    witnesses = tuple(_witness(w, checkpoint) for w in policy.witnesses)
    cosigned = {o.witness.name for o in witnesses if o.status is WitnessStatus.COSIGNED}
    groups = _groups(policy.groups, cosigned)
    satisfied, detail = _quorum(policy.quorum, witnesses, groups)
    return PolicyVerdict(log_key, log_detail, witnesses, groups, satisfied, detail,
                         _rejection(witnesses))


def _rejection(witnesses: tuple[WitnessOutcome, ...]) -> str | None:
    """Why the note is rejected, naming each policy witness whose line does not verify.

    signed-note: a line whose key name and ID match a known key MUST be verified, and if it
    fails "clients SHOULD reject the whole note". A witness the policy names is a known key.
    Oak only leaves such a line uncounted; an auditor rejects the note: a cosignature its
    witness did not make (forged, or corrupted by the log serving it) is a fault to report,
    and dropping it would let a quorum hold beside it unremarked. Lines of unknown keys stay
    ignored (a MUST)."""
    bad = [o for o in witnesses if o.status is WitnessStatus.BAD_SIGNATURE]
    if not bad:
        return None
    return ("checkpoint rejected: a known witness's cosignature does not verify ("
            + "; ".join(f"witness {o.witness.name}: {o.detail}" for o in bad) + ")")


def _log_signature(policy: Policy, cp: Checkpoint) -> tuple[NoteKey | None, str]:
    # tlog-policy: a log key's name is the log's origin; keys of other logs are not eligible.
    eligible = [key for key in policy.log_keys if key.name == cp.origin]
    if not eligible:
        names = ", ".join(sorted({key.name for key in policy.log_keys})) or "none"
        # The origin is whatever the receipt says (unsigned until a key is found): cut.
        return None, (f"checkpoint origin {quoted(cp.origin, ORIGIN_CHARS)} is no policy "
                      f"log's name (logs: {names})")
    try:
        # Also Oak's TLogProof::verify rule: exactly one line by a policy log key.
        line = verify_checkpoint(cp, eligible)
    except CheckpointSignatureError as error:
        return None, f"log signature: {error}"
    key = next(k for k in eligible if _signed_by(line.name, line.key_hint, k))
    return key, f"signed by log key {key.name}+{key.key_hint.hex()} ({key.signature_type.label})"


def _signed_by(name: str, key_hint: bytes, key: NoteKey) -> bool:
    # signed-note: a line is by a key when both its name and its key ID match.
    return name == key.name and key_hint == key.key_hint


def _witness(witness: Witness, cp: Checkpoint) -> WitnessOutcome:
    key = witness.key
    lines = [s for s in cp.signatures if _signed_by(s.name, s.key_hint, key)]
    if not lines:
        return WitnessOutcome(witness, WitnessStatus.MISSING,
                              f"no cosignature from {key.name}+{key.key_hint.hex()}")
    # Every line by a known key is verified (signed-note MUST): a bad one beside a good one
    # is still a bad cosignature, and it rejects the note (`_rejection`).
    failures = [f for line in lines if (f := key.failure(cp.signed_text, line.signature))]
    if failures:
        return WitnessOutcome(witness, WitnessStatus.BAD_SIGNATURE,
                              f"bad cosignature by {key.name}: "
                              f"{'; '.join(dict.fromkeys(failures))}")
    # Two lines by one witness are one witness (distinct witnesses count).
    timestamp = key.timestamp(lines[0].signature)
    return WitnessOutcome(witness, WitnessStatus.COSIGNED,
                          f"cosigned by {key.name} at time {timestamp}", timestamp)


def _groups(groups: tuple[Group, ...], cosigned: set[str]) -> tuple[GroupOutcome, ...]:
    # Members are defined before their group, so one pass in definition order suffices.
    witnessed = set(cosigned)
    outcomes = []
    for group in groups:
        outcome = GroupOutcome(group, tuple(m for m in group.members if m in witnessed))
        if outcome.satisfied:
            witnessed.add(group.name)
        outcomes.append(outcome)
    return tuple(outcomes)


def _quorum(
    quorum: str | None, witnesses: tuple[WitnessOutcome, ...], groups: tuple[GroupOutcome, ...]
) -> tuple[bool, str]:
    if quorum is None:
        return True, "quorum none: no cosignature is required"
    why = {o.witness.name: o.detail for o in witnesses if o.status is not WitnessStatus.COSIGNED}
    held = {o.witness.name: o.detail for o in witnesses if o.status is WitnessStatus.COSIGNED}
    for outcome in groups:
        group, have = outcome.group, len(outcome.witnessed)
        summary = f"group {group.name} has {have} of the {group.threshold} needed"
        if outcome.satisfied:
            held[group.name] = f"{summary} ({', '.join(outcome.witnessed)})"
        else:
            missing = "; ".join(f"{m}: {why[m]}" for m in group.members if m in why)
            why[group.name] = f"{summary} ({missing})"
    if quorum in held:
        return True, f"quorum {quorum} holds: {held[quorum]}"
    return False, f"quorum {quorum} does not hold: {why[quorum]}"
