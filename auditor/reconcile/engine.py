"""Reconciliation: local measurements against what verified log entries vouch for.

Per component of a release: a valid (logged, fully verified, receipt policies met) endorsement
that vouches for our measurement is a MATCH. Otherwise the most telling reason wins: a matching
endorsement that was never logged (ENDORSED_NOT_LOGGED; NOT_LOGGED_ALLOWED where its receipt
policy lets it), whose receipts fall short of its policy (TLOG_POLICY_UNMET), is signed by an
unpinned key (WRONG_KEY), was logged outside its validity (EXPIRED_AT_INTEGRATION) or failed
other checks (ENTRY_INVALID); endorsements that
cannot be compared (UNDECIDABLE_DIGEST); valid endorsements for other values (DIGEST_MISMATCH,
CMDLINE_MISMATCH); or none at all (NOT_ENDORSED).

Across the store (`audit run`): every endorsement no release accounts for is reported too:
UNEXPECTED_ENDORSEMENT for a valid one (a possible key misuse), and the same validity rules
for the rest, plus LEGACY_FORMAT and STATEMENT_UNAVAILABLE.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from auditor.assessment import (
    invalid_detail,
    problem_evidence,
    receipt_verdict,
    reliance,
    store_findings,
)
from auditor.components import Kind
from auditor.findings import Finding, RuleId
from auditor.keyset import KeySet
from auditor.reconcile.compare import Comparison, Outcome, compare
from auditor.reconcile.local import LocalValue, local_values
from auditor.reconcile.manifest import Release
from auditor.store import views
from auditor.store.views import EndorsementView

#: The release matrix's status per rule (report schema: releases[].components[].status).
STATUS: dict[str, str] = {
    "MATCH": "match",
    "DIGEST_MISMATCH": "mismatch",
    "CMDLINE_MISMATCH": "mismatch",
    "NOT_ENDORSED": "not_endorsed",
    "UNDECIDABLE_DIGEST": "undecidable",
    "ENDORSED_NOT_LOGGED": "not_logged",
    "ENTRY_INVALID": "invalid",
    "WRONG_KEY": "invalid",
    "EXPIRED_AT_INTEGRATION": "invalid",
    "OBSERVED_UNCOVERED": "info",
    "TLOG_POLICY_UNMET": "not_logged",
    "NOT_LOGGED_ALLOWED": "not_logged",
}


@dataclass(frozen=True)
class ComponentStatus:
    component: str
    artifact: str | None
    status: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"component": self.component, "artifact": self.artifact, "status": self.status,
                "detail": self.detail}


@dataclass
class ReleaseResult:
    release: Release
    findings: list[Finding] = field(default_factory=list)
    statuses: list[ComponentStatus] = field(default_factory=list)
    #: endorsement id -> "release/component" for every endorsement a local value matched.
    matched: dict[int, list[str]] = field(default_factory=dict)
    #: Endorsements a finding of this release already speaks about (matched or compared).
    accounted: set[int] = field(default_factory=set)


def _finding(rule: RuleId, local: LocalValue, release: str, detail: str,
             endorsed: EndorsementView | None = None, **extra: Any) -> Finding:
    evidence: dict[str, Any] = {"source": local.source, "local": local.digests(), **extra}
    identity = ["source"]
    if endorsed is not None:
        evidence.update(endorsed.evidence())
        identity += ["uuid", "statement_sha256"]
    return Finding(rule, local.component, detail, evidence, release=release,
                   identity=tuple(identity))


def reconcile_value(local: LocalValue, endorsed: list[EndorsementView], release: str,
                    result: ReleaseResult, keyset: KeySet | None = None) -> Finding:
    """One local value against every endorsement of its component, newest first; `keyset`
    holds the receipt policies (without one: a valid receipt of some kind is needed)."""
    verdicts = {e.endorsement_id: receipt_verdict(e, keyset) for e in endorsed}

    def reliable(e: EndorsementView) -> bool:
        return reliance(e, verdicts[e.endorsement_id]) is None

    compared: list[tuple[EndorsementView, Comparison]] = [
        (e, c) for e in endorsed if (c := compare(local, e)).outcome is not Outcome.NOT_APPLICABLE]
    matching = [(e, c) for e, c in compared if c.outcome is Outcome.MATCH]
    valid = [(e, c) for e, c in matching if reliable(e)]
    # Endorsements this release accounts for: the valid matches, or else the one reported
    # here. A matching but invalid endorsement beside a valid one stays unaccounted, so the
    # whole-store pass still reports it.
    for e, _ in valid or matching[:1]:
        result.matched.setdefault(e.endorsement_id, []).append(f"{release}/{local.component}")
        result.accounted.add(e.endorsement_id)
    if valid:
        e, c = valid[0]
        return _finding(RuleId.MATCH, local, release, c.detail, e, how=c.how)
    if matching:
        e, c = matching[0]
        verdict = verdicts[e.endorsement_id]
        rule = reliance(e, verdict)
        assert rule is not None
        return _finding(rule, local, release, invalid_detail(rule, e, "this value", verdict), e,
                        **problem_evidence(e, verdict))
    usable = [(e, c) for e, c in compared if reliable(e)]
    undecidable = [(e, c) for e, c in usable if c.outcome is Outcome.UNDECIDABLE]
    if undecidable and len(undecidable) == len(usable):
        e, c = undecidable[0]
        result.accounted.add(e.endorsement_id)
        return _finding(RuleId.UNDECIDABLE_DIGEST, local, release, c.detail, e)
    if usable:
        e, c = next((e, c) for e, c in usable if c.outcome is Outcome.MISMATCH)
        result.accounted.add(e.endorsement_id)
        rule = RuleId.CMDLINE_MISMATCH if local.kind is Kind.CMDLINE else RuleId.DIGEST_MISMATCH
        return _finding(rule, local, release, f"{c.detail} (newest of {len(usable)} valid "
                        "endorsement(s) shown)", e)
    return _finding(RuleId.NOT_ENDORSED, local, release,
                    f"no valid endorsement of {local.component} under its pinned key(s)",
                    considered=len(endorsed))


def reconcile_release(session: Session, release: Release, covered: Iterable[str] = (),
                      keyset: KeySet | None = None) -> ReleaseResult:
    """Reconcile one release; `covered` lists components some key or endorsement covers,
    `keyset` holds their receipt policies."""
    result = ReleaseResult(release)
    values, uncovered = local_values(release)
    known = set(covered) | views.endorsed_components(session)
    for local in values:
        finding = reconcile_value(local, list(views.endorsement_views(session, local.component)),
                                  release.name, result, keyset)
        result.findings.append(finding)
        result.statuses.append(ComponentStatus(local.component, local.source,
                                               STATUS.get(finding.rule, "invalid"),
                                               finding.detail))
    for component, digest in uncovered.items():
        if component in known:
            continue
        detail = (f"observed {component} digest {digest.hex()}: no configured key or stored "
                  "endorsement covers it")
        source = f"{release.evidence} (evidence)"
        result.findings.append(Finding(RuleId.OBSERVED_UNCOVERED, component, detail,
                                       {"source": source, "observed": digest.hex()},
                                       release=release.name, identity=("source",)))
        result.statuses.append(ComponentStatus(component, source, "info", detail))
    return result


def unaccounted(session: Session, accounted: set[int], pinned: set[str],
                expected_since: datetime | None = None,
                keyset: KeySet | None = None) -> Iterator[Finding]:
    """Findings for stored endorsements and entries that no release accounts for; `pinned`:
    the sha256 of every configured component key, `keyset` their receipt policies."""
    def expected(view: EndorsementView) -> bool:
        when = view.when
        return expected_since is not None and when is not None and when < expected_since

    endorsements = (v for v in views.endorsement_views(session) if not expected(v))
    yield from store_findings(endorsements, views.bare_entries(session), pinned, accounted,
                              keyset)
