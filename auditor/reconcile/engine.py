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

import os
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
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
from auditor.receipt_policy import ReceiptVerdict
from auditor.reconcile.compare import Comparison, Outcome, compare
from auditor.reconcile.local import EVIDENCE_MARK, LocalValue, local_values
from auditor.reconcile.manifest import Release
from auditor.store import views
from auditor.store.views import EndorsementView
from auditor.wording import counted

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
#: Rules that say a matching endorsement itself is bad (not merely unlogged): shown in the
#: release matrix even beside a valid endorsement of the same value.
_BAD_ENDORSEMENT = frozenset(rule for rule, status in STATUS.items() if status == "invalid")


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


@dataclass
class _Seen:
    """What one pass over a component's endorsements (newest first) keeps: only what a finding
    can name, so a component with a million endorsements costs no memory."""

    considered: int = 0
    valid_matches: list[tuple[EndorsementView, Comparison]] = field(default_factory=list)
    invalid_match: tuple[EndorsementView, Comparison, ReceiptVerdict] | None = None
    #: The newest matching endorsement that is itself bad (wrong key, failed checks).
    bad_match: tuple[EndorsementView, RuleId, ReceiptVerdict] | None = None
    usable: int = 0
    undecidable: int = 0
    first_undecidable: tuple[EndorsementView, Comparison] | None = None
    first_mismatch: tuple[EndorsementView, Comparison] | None = None

    def add(self, endorsed: EndorsementView, comparison: Comparison,
            verdict: ReceiptVerdict) -> None:
        self.considered += 1
        if comparison.outcome is Outcome.NOT_APPLICABLE:
            return  # an attachment for the other platform (SEV-SNP / TDX)
        rule = reliance(endorsed, verdict)
        reliable = rule is None
        pair = (endorsed, comparison)
        if comparison.outcome is Outcome.MATCH:
            if rule is None:
                self.valid_matches.append(pair)
                return
            if self.invalid_match is None:
                self.invalid_match = (endorsed, comparison, verdict)
            if self.bad_match is None and rule in _BAD_ENDORSEMENT:
                self.bad_match = (endorsed, rule, verdict)
            return
        if not reliable:
            return
        self.usable += 1
        if comparison.outcome is Outcome.UNDECIDABLE:
            self.undecidable += 1
            self.first_undecidable = self.first_undecidable or pair
        elif self.first_mismatch is None:
            self.first_mismatch = pair


def reconcile_value(local: LocalValue, endorsed: Iterable[EndorsementView], release: str,
                    result: ReleaseResult, keyset: KeySet | None = None,
                    artifact: str | None = None) -> Finding:
    """One local value against every endorsement of its component, newest first; `keyset`
    holds the receipt policies (without one: a valid receipt of some kind is needed). Its
    status goes into the release matrix, showing the value's source as `artifact`."""
    seen = _Seen()
    for value in endorsed:
        seen.add(value, compare(local, value), receipt_verdict(value, keyset))
    finding = _judged(local, seen, release, result)
    shown = local.source if artifact is None else artifact
    result.statuses.append(ComponentStatus(local.component, shown,
                                           STATUS.get(finding.rule, "invalid"), finding.detail))
    if seen.valid_matches and seen.bad_match is not None:
        # The value is endorsed, but also by an endorsement nobody may rely on (the
        # store-wide pass reports it): the cell must not read MATCH alone.
        bad, rule, verdict = seen.bad_match
        result.statuses.append(ComponentStatus(
            local.component, shown, "invalid",
            f"{rule}: {invalid_detail(rule, bad, 'this value', verdict)}"))
    return finding


def _judged(local: LocalValue, seen: _Seen, release: str, result: ReleaseResult) -> Finding:
    """The one finding for a local value: a MATCH, else the most telling reason."""
    # Endorsements this release accounts for: the valid matches, or else the one reported
    # here. A matching but invalid endorsement beside a valid one stays unaccounted, so the
    # whole-store pass still reports it.
    chosen = [e for e, _ in seen.valid_matches] or (
        [seen.invalid_match[0]] if seen.invalid_match else [])
    for e in chosen:
        result.matched.setdefault(e.endorsement_id, []).append(f"{release}/{local.component}")
        result.accounted.add(e.endorsement_id)
    if seen.valid_matches:
        e, c = seen.valid_matches[0]
        return _finding(RuleId.MATCH, local, release, c.detail, e, how=c.how)
    if seen.invalid_match:
        e, c, verdict = seen.invalid_match
        rule = reliance(e, verdict)
        assert rule is not None
        return _finding(rule, local, release, invalid_detail(rule, e, "this value", verdict), e,
                        **problem_evidence(e, verdict))
    if seen.first_undecidable and seen.undecidable == seen.usable:
        e, c = seen.first_undecidable
        result.accounted.add(e.endorsement_id)
        return _finding(RuleId.UNDECIDABLE_DIGEST, local, release, c.detail, e)
    if seen.first_mismatch:
        e, c = seen.first_mismatch
        result.accounted.add(e.endorsement_id)
        rule = RuleId.CMDLINE_MISMATCH if local.kind is Kind.CMDLINE else RuleId.DIGEST_MISMATCH
        return _finding(rule, local, release, f"{c.detail} (newest of "
                        f"{counted(seen.usable, 'valid endorsement')} shown)", e)
    return _finding(RuleId.NOT_ENDORSED, local, release,
                    f"no valid endorsement of {local.component} under its pinned key(s)",
                    considered=seen.considered)


def reconcile_release(session: Session, release: Release, covered: Iterable[str] = (),
                      keyset: KeySet | None = None,
                      shown_from: Path | None = None) -> ReleaseResult:
    """Reconcile one release; `covered` lists components some key or endorsement covers,
    `keyset` holds their receipt policies; the matrix shows artifacts relative to
    `shown_from` (the configuration's directory)."""
    result = ReleaseResult(release)
    values, uncovered = local_values(release)
    known = set(covered) | views.endorsed_components(session)
    for local in values:
        finding = reconcile_value(local, views.endorsement_views(session, local.component),
                                  release.name, result, keyset,
                                  shown_artifact(local.source, shown_from))
        result.findings.append(finding)
    for component, digest in uncovered.items():
        if component in known:
            continue
        detail = (f"observed {component} digest {digest.hex()}: no configured key or stored "
                  "endorsement covers it")
        source = f"{release.evidence}{EVIDENCE_MARK}"
        result.findings.append(Finding(RuleId.OBSERVED_UNCOVERED, component, detail,
                                       {"source": source, "observed": digest.hex()},
                                       release=release.name, identity=("source",)))
        result.statuses.append(ComponentStatus(component, shown_artifact(source, shown_from),
                                               "info", detail))
    return result


def shown_artifact(source: str, base: Path | None) -> str:
    """A local value's source as the release matrix shows it: relative to `base` (the
    configuration's directory, as a manifest names it: `../snapshot/evidence.binarypb`) unless
    the two share no directory but the root, else the absolute path, normalised. Findings keep
    the source as it was (it identifies them)."""
    path = source.removesuffix(EVIDENCE_MARK)
    if not os.path.isabs(path):
        return source  # "cmdline": a value given as text
    shown = os.path.normpath(path)
    if base is not None:
        with suppress(ValueError):  # another drive (Windows)
            common = os.path.commonpath([shown, base])
            if os.path.dirname(common) != common:  # more than the root in common
                shown = os.path.relpath(shown, base)
    return shown + source[len(path):]


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
