"""Findings as a function of stored evidence: the same evidence gives the same finding.

Whatever run, crawl or query looks at a stored endorsement, entry or log fault, it judges it
here, so a foreign entry listed under a pinned key is `WRONG_KEY` in every run (never
`UNEXPECTED_ENDORSEMENT` in the next), an unparsable body is `ENTRY_INVALID` (never a
`STATEMENT_UNAVAILABLE` for an unknown digest), and a split view stays a split view.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from auditor.findings import Finding, RuleId, invalid_rule
from auditor.keyset import KeySet
from auditor.receipt_policy import DEFAULT_REQUIREMENT, ReceiptVerdict, judge
from auditor.store.views import EndorsementView, EntryView


def shown(component: str | None) -> str:
    """A component as messages show it: never "None"."""
    return component if component is not None else "no component"


def receipt_verdict(endorsed: EndorsementView, keyset: KeySet | None) -> ReceiptVerdict:
    """Whether `endorsed` has the receipts its policies need (without a key set: the default,
    a valid receipt of some kind)."""
    requirements = keyset.requirements_for(endorsed.component, endorsed.signer_key_sha256) \
        if keyset is not None else []
    return judge(endorsed, requirements)


def reliance(endorsed: EndorsementView, verdict: ReceiptVerdict) -> RuleId | None:
    """Why a verifier may not rely on `endorsed`; None when it may (every check passes, a
    receipt verifies and every receipt policy is met)."""
    if endorsed.failed_checks:
        return invalid_rule(endorsed.failed_checks, endorsed.logged)
    if not verdict.met:
        return RuleId.TLOG_POLICY_UNMET if endorsed.logged else RuleId.ENDORSED_NOT_LOGGED
    return None if endorsed.logged else RuleId.NOT_LOGGED_ALLOWED


def invalid_detail(rule: RuleId, endorsed: EndorsementView, what: str,
                   verdict: ReceiptVerdict | None = None) -> str:
    """Why `endorsed` (the endorsement of `what`) cannot be relied on."""
    where = _where(endorsed)
    policy = f": {verdict.detail()}" if verdict is not None and _named_policy(verdict) else ""
    if rule is RuleId.ENDORSED_NOT_LOGGED:
        return f"the endorsement of {what} was never logged in the transparency log{policy}"
    if rule is RuleId.TLOG_POLICY_UNMET:
        return f"the endorsement of {what} ({where}){policy}"
    if rule is RuleId.NOT_LOGGED_ALLOWED:
        applied = verdict.applied if verdict is not None else ()
        return (f"the endorsement of {what} was never logged, which receipt policy "
                f"{'; '.join(r.describe() for r in applied)} allows")
    if rule is RuleId.WRONG_KEY:
        signer = endorsed.signer_key_sha256
        by = f" (signed by key sha256:{signer})" if signer else ""
        return (f"the endorsement of {what} ({where}) is not signed by a pinned key of "
                f"{shown(endorsed.component)}{by}")
    if rule is RuleId.EXPIRED_AT_INTEGRATION:
        return f"the endorsement of {what} ({where}) was logged outside its validity window"
    return f"the endorsement of {what} ({where}) failed: {', '.join(endorsed.failed_checks)}"


def _where(endorsed: EndorsementView) -> str:
    if endorsed.log_index is not None:
        return f"log index {endorsed.log_index}"
    if endorsed.logged:
        return "logged by " + " and ".join(kind.label for kind in endorsed.receipts)
    return "not logged"


def _named_policy(verdict: ReceiptVerdict) -> bool:
    # The default ("logged somewhere") is what ENDORSED_NOT_LOGGED always meant: unnamed.
    return verdict.failed is not None and verdict.failed is not DEFAULT_REQUIREMENT


def problem_evidence(endorsed: EndorsementView, verdict: ReceiptVerdict) -> dict[str, Any]:
    """What a finding that `endorsed` cannot be relied on adds to its evidence."""
    evidence: dict[str, Any] = {"failed_checks": list(endorsed.failed_checks)}
    if _named_policy(verdict):
        evidence["receipt_policy"] = verdict.evidence()
    return evidence


def endorsement_finding(endorsed: EndorsementView, pinned: set[str],
                        keyset: KeySet | None = None) -> Finding:
    """What a stored endorsement that no release accounts for means.

    `pinned`: the sha256 of every pinned component key; `keyset`: the receipt policies.
    """
    evidence = endorsed.evidence()
    identity = ("uuid", "statement_sha256")
    component = endorsed.component
    where = _where(endorsed)
    unpinned = endorsed.signer_key_sha256 is not None and endorsed.signer_key_sha256 not in pinned
    if endorsed.logged and (unpinned or component is None) and endorsed.ok:
        return Finding(RuleId.WRONG_KEY, component, f"{where}: "
                       f"{endorsed.subject_name!r} is signed by key sha256:"
                       f"{endorsed.signer_key_sha256}, which no component pins", evidence,
                       identity=identity)
    if endorsed.ok and endorsed.statement_format not in (None, "oak-endorsement-v1"):
        return Finding(RuleId.LEGACY_FORMAT, component, f"statement format "
                       f"{endorsed.statement_format} ({where}): "
                       "classified, not interpreted", evidence, identity=identity)
    verdict = receipt_verdict(endorsed, keyset)
    rule = reliance(endorsed, verdict)
    if rule is None:
        return Finding(RuleId.UNEXPECTED_ENDORSEMENT, component, f"{where}: a valid "
                       f"endorsement of {endorsed.subject_name!r} under a {shown(component)} "
                       "key matches no artifact of any configured release", evidence,
                       identity=identity)
    return Finding(rule, component,
                   invalid_detail(rule, endorsed, repr(endorsed.subject_name), verdict),
                   {**evidence, **problem_evidence(endorsed, verdict)}, identity=identity)


def entry_finding(entry: EntryView, pinned: set[str]) -> Finding:
    """What a stored entry without an endorsement means: it failed, it is foreign, or its
    statement could not be fetched (yet: every crawl tries again)."""
    evidence: dict[str, Any] = {"uuid": entry.uuid, "log_index": entry.log_index,
                "statement_sha256": entry.signed_digest,
                "signer_key_sha256": entry.signer_key_sha256}
    where = f"entry {entry.uuid} (log index {entry.log_index})"
    if entry.failed_checks:
        rule = invalid_rule(entry.failed_checks, logged=True)
        evidence["failed_checks"] = list(entry.failed_checks)
        return Finding(rule, entry.component, f"{where} failed: "
                       f"{', '.join(entry.failed_checks)}", evidence, identity=("uuid",))
    if entry.signer_key_sha256 is not None and entry.signer_key_sha256 not in pinned:
        return Finding(RuleId.WRONG_KEY, entry.component, f"{where}, listed under a "
                       f"{shown(entry.component)} key, is signed by key "
                       f"sha256:{entry.signer_key_sha256}, which no component pins", evidence,
                       identity=("uuid",))
    return Finding(RuleId.STATEMENT_UNAVAILABLE, entry.component, f"{where} signs statement "
                   f"sha256:{entry.signed_digest}, whose bytes are not in the statement store",
                   evidence, identity=("uuid",))


def store_findings(endorsements: Iterable[EndorsementView], entries: Iterable[EntryView],
                   pinned: set[str], accounted: set[int] | None = None,
                   keyset: KeySet | None = None) -> Iterator[Finding]:
    """One finding per stored endorsement (unless a release accounts for it) and per bare
    entry."""
    for endorsed in endorsements:
        if accounted is None or endorsed.endorsement_id not in accounted:
            yield endorsement_finding(endorsed, pinned, keyset)
    for entry in entries:
        yield entry_finding(entry, pinned)
