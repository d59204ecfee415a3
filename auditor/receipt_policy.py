"""Receipt policies: which transparency receipts an endorsement needs, and whether it has them.

Oak's reference values pair a component's endorser keys with a `TLogReferenceValues`
(reference_value.proto): a strategy over the receipts it populates (`rekor`: a Rekor key set,
`c2sp`: a tlog-policy, `pes`: a PES key set). Oak's verifier (tr/verify_endorsement/lib.rs
`verify_tlog`) applies it to what those keys sign: `skip` checks nothing; `all` needs every
populated receipt to verify (none populated is skip); `any` needs one (none populated always
fails). The auditor's config may add a policy of its own per component (`[components.<name>]
tlog = ...`), which applies to every endorsement of the component on top of the publisher's:
an endorsement must meet every policy that applies to it. Where none applies, the auditor
demands what it always has: a valid receipt of some kind ("logged").

A receipt is judged by its stored checks (auditor.verify.receipts verifies it when it is
stored), so what this module says is a function of the stored evidence and the configuration.
A receipt that is carried and fails a check is `ENTRY_INVALID` whatever the policy (see
`auditor.findings.invalid_rule`); a policy decides what a *missing* receipt means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from auditor.errors import ConfigError, InputError
from auditor.oak.messages import ComponentKeys, TLogPolicy, TLogStrategy
from auditor.store.views import EndorsementView
from auditor.verify.keys import PublicKey, load_public_key
from auditor.verify.receipt_state import ReceiptKind, ReceiptState, receipt_state
from auditor.verify.receipts import (
    PesKeySource,
    TlogPolicySource,
    load_certificate,
    load_pes_key,
    load_tlog_policy,
)

if TYPE_CHECKING:
    from auditor.keyset import ComponentSpec

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


@dataclass(frozen=True)
class TLogRequirement:
    """One receipt policy, who set it, and which endorsements it applies to."""

    #: Who set it, as findings name it: "Oak reference values <file>", "config <file> ...".
    source: str
    strategy: TLogStrategy
    #: The receipts it populates; None for the auditor's config: every kind the component
    #: has trust for (a Rekor entry always: the auditor's log keys).
    receipts: tuple[ReceiptKind, ...] | None
    #: sha256 (hex) of the endorser keys whose endorsements it applies to; empty: all of the
    #: component's (reference values pair keys and policy; the config's applies to all).
    signers: frozenset[str] = frozenset()
    #: Oak's `rekor` key set as Rekor v1 logIDs (sha256 of the SPKI): a Rekor entry must be from
    #: one of these logs (an empty set verifies none, as Oak's verifier finds no key in it);
    #: None: any log the auditor's own log keys trust (the auditor's config, Oak without `rekor`).
    rekor_log_ids: frozenset[str] | None = None
    #: Oak's `signed_timestamp.not_before_absolute`: a Rekor entry integrated earlier fails.
    rekor_not_before: datetime | None = None

    def applies_to(self, signer_sha256: str | None) -> bool:
        return not self.signers or signer_sha256 in self.signers

    def resolved(self, trusted: Iterable[ReceiptKind]) -> TLogRequirement:
        """With `receipts` decided: the configured ones, else every kind with trust."""
        if self.receipts is not None:
            return self
        kinds = set(trusted) | {ReceiptKind.REKOR}
        return TLogRequirement(self.source, self.strategy,
                               tuple(k for k in ReceiptKind if k in kinds), self.signers,
                               self.rekor_log_ids, self.rekor_not_before)

    def describe(self) -> str:
        """`tlog all of rekor, pes (<source>)`, as findings name it."""
        if self.strategy is TLogStrategy.SKIP:
            return f"tlog skip ({self.source})"
        populated = ", ".join(self.receipts or ()) or "no receipt"
        return f"tlog {self.strategy.value} of {populated} ({self.source})"


#: What the auditor demands where no policy applies: the endorsement was logged somewhere.
DEFAULT_REQUIREMENT = TLogRequirement("the auditor's default: a valid receipt of some kind",
                                      TLogStrategy.ANY, tuple(ReceiptKind))


# --- where policies and trust come from -----------------------------------------------------


def oak_requirement(policy: TLogPolicy, source: str, signers: Iterable[str],
                    rekor_log_ids: Iterable[str] | None) -> TLogRequirement:
    """The requirement of one Oak `TLogReferenceValues`, for the endorsements of `signers`."""
    floor = policy.rekor.not_before if policy.rekor is not None else None
    return TLogRequirement(
        source=source, strategy=policy.strategy,
        receipts=tuple(ReceiptKind(kind) for kind in policy.populated),
        signers=frozenset(signers),
        rekor_log_ids=frozenset(rekor_log_ids) if rekor_log_ids is not None else None,
        rekor_not_before=floor)


def add_oak_receipts(spec: ComponentSpec, component: ComponentKeys, source: str) -> None:
    """Oak's TLogReferenceValues of one reference value: a policy for what its keys sign, and
    the tlog-policy and PES keys its receipts are verified under."""
    label = f"Oak reference values {source}"
    policy = component.tlog
    signers = [load_public_key(raw, source=source).key_id.hex() for raw in component.keys]
    # A Rekor v1 logID is the sha256 of the log key's SPKI.
    logs = [PublicKey(key.spki_der).key_id.hex() for key in policy.rekor.keys] \
        if policy.rekor is not None else None
    _add_once(spec.tlog, oak_requirement(policy, label, signers, logs))
    if policy.c2sp_policy is not None:
        parsed = load_tlog_policy(policy.c2sp_policy.encode(),
                                  source=f"{component.component} tlog c2sp policy")
        _add_once(spec.tlog_policies, TlogPolicySource(label, parsed))
    if policy.pes is not None:
        _add_once(spec.pes_keys, PesKeySource(label, policy.pes.keys))


def add_config_receipts(spec: ComponentSpec, table: dict[str, Any], where: str,
                        base: Path) -> None:
    """The auditor's own receipt policy and trust for a component, from its config table
    (`tlog`, `receipts`, `tlog_policy`, `pes_keys`, `pes_roots`); paths are relative to
    `base`, keys and certificates inline PEM or files."""
    if "tlog" in table:
        strategy = _choice(table["tlog"], TLogStrategy, f"{where}.tlog")
        receipts = table.get("receipts")
        kinds = None if receipts is None else tuple(
            _choice(kind, ReceiptKind, f"{where}.receipts") for kind in receipts)
        _add_once(spec.tlog, TLogRequirement(f"config {where}", strategy, kinds))
    elif "receipts" in table:
        raise ConfigError(f"{where}.receipts chooses the receipts of a `tlog` policy: set tlog")
    try:
        if "tlog_policy" in table:
            item = f"{where}.tlog_policy"
            policy = load_tlog_policy(_pem_or_file(table["tlog_policy"], base, item),
                                      source=item)
            _add_once(spec.tlog_policies, TlogPolicySource(f"config {item}", policy))
        pes_keys = []
        for index, value in enumerate(table.get("pes_keys", [])):
            item = f"{where}.pes_keys[{index}]"
            pes_keys.append(load_pes_key(_pem_or_file(value, base, item), index, source=item))
        if pes_keys:
            _add_once(spec.pes_keys, PesKeySource(f"config {where}.pes_keys", tuple(pes_keys)))
        for index, value in enumerate(table.get("pes_roots", [])):
            item = f"{where}.pes_roots[{index}]"
            _add_once(spec.pes_roots, load_certificate(_pem_or_file(value, base, item),
                                                       source=item))
    except InputError as error:
        raise ConfigError(str(error)) from None


def _add_once(items: list[T], item: T) -> None:
    if item not in items:
        items.append(item)


def _choice(value: str, choices: type[E], where: str) -> E:
    try:
        return choices(value)
    except ValueError:
        names = ", ".join(choice.value for choice in choices)
        raise ConfigError(f"{where} {value!r}: choose one of {names}") from None


def _pem_or_file(value: str, base: Path, where: str) -> bytes:
    """Inline PEM text, or the contents of the file it names."""
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{where}: {path}: cannot read ({error.strerror})") from None


# --- judging ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shortfall:
    """A receipt a policy needs that is not valid: missing, unverified or failed."""

    kind: ReceiptKind
    state: ReceiptState
    why: str


@dataclass(frozen=True)
class ReceiptVerdict:
    """Whether an endorsement's receipts meet every policy that applies to it."""

    #: The first policy it fails, or None.
    failed: TLogRequirement | None
    #: What that policy needs and does not get.
    shortfall: tuple[Shortfall, ...]
    #: Some receipt verifies: the endorsement was made public (it is not "never logged").
    logged: bool
    #: The policies that applied.
    applied: tuple[TLogRequirement, ...]

    @property
    def met(self) -> bool:
        return self.failed is None

    def detail(self) -> str:
        """Which policy fails and which receipts it lacks (or which policies are met)."""
        if self.failed is None:
            return "receipt policy " + "; ".join(r.describe() for r in self.applied) + " is met"
        if not self.failed.receipts:
            return (f"receipt policy {self.failed.describe()} populates no receipt, so nothing "
                    "can meet it")
        lacking = "; ".join(s.why for s in self.shortfall)
        return f"receipt policy {self.failed.describe()} is not met: {lacking}"

    def evidence(self) -> dict[str, object]:
        return {
            "policy": self.failed.describe() if self.failed else None,
            "receipts": {s.kind.value: s.state.value for s in self.shortfall},
        }


def receipt_states(view: EndorsementView) -> dict[ReceiptKind, tuple[ReceiptState, str]]:
    """What the stored checks say about each kind of receipt of `view`."""
    return {kind: receipt_state(kind, kind in view.receipts, view.checks)
            for kind in ReceiptKind}


def judge(view: EndorsementView, requirements: Iterable[TLogRequirement]) -> ReceiptVerdict:
    """`view`'s receipts against `requirements` (DEFAULT_REQUIREMENT when none is given)."""
    applied = tuple(requirements) or (DEFAULT_REQUIREMENT,)
    states = receipt_states(view)
    logged = any(state is ReceiptState.VALID for state, _ in states.values())
    for requirement in applied:
        shortfall = _shortfall(requirement, _for(requirement, view, states))
        if shortfall is not None:
            return ReceiptVerdict(requirement, shortfall, logged, applied)
    return ReceiptVerdict(None, (), logged, applied)


def _for(requirement: TLogRequirement, view: EndorsementView,
         states: Mapping[ReceiptKind, tuple[ReceiptState, str]]
         ) -> dict[ReceiptKind, tuple[ReceiptState, str]]:
    """`states` as `requirement` sees them: Oak's Rekor key set and time floor narrow what
    counts as a valid Rekor entry."""
    state, why = states[ReceiptKind.REKOR]
    if state is not ReceiptState.VALID:
        return dict(states)
    if requirement.rekor_log_ids is not None and view.log_id not in requirement.rekor_log_ids:
        state, why = ReceiptState.INVALID, (
            f"the Rekor entry is in log {view.log_id}, which is not in the policy's rekor key "
            f"set{'' if requirement.rekor_log_ids else ' (it holds no key: no log can meet it)'}")
    floor = requirement.rekor_not_before
    if floor is not None and (view.when is None or view.when < floor):
        state, why = ReceiptState.INVALID, (
            f"the Rekor entry was integrated at {view.when.isoformat() if view.when else '?'}, "
            f"before the policy's signed-timestamp floor {floor.astimezone(UTC).isoformat()}")
    return {**states, ReceiptKind.REKOR: (state, why)}


def _shortfall(requirement: TLogRequirement,
               states: Mapping[ReceiptKind, tuple[ReceiptState, str]]
               ) -> tuple[Shortfall, ...] | None:
    """None when `requirement` is met, else the receipts it lacks."""
    populated = requirement.receipts or ()
    lacking = tuple(Shortfall(kind, *states[kind]) for kind in populated
                    if states[kind][0] is not ReceiptState.VALID)
    if requirement.strategy is TLogStrategy.SKIP:
        return None
    if requirement.strategy is TLogStrategy.ALL:
        return lacking or None
    # ANY: one valid populated receipt suffices; none populated can never be met.
    return lacking if len(lacking) == len(populated) else None
