"""Reconciliation: local measurements against what verified log entries vouch for.

Per component of a release: a valid (logged, fully verified) endorsement that vouches for our
measurement is a MATCH. Otherwise the most telling reason wins: a matching endorsement that was
never logged (ENDORSED_NOT_LOGGED), is signed by an unpinned key (WRONG_KEY), was logged outside
its validity (EXPIRED_AT_INTEGRATION) or failed other checks (ENTRY_INVALID); endorsements that
cannot be compared (UNDECIDABLE_DIGEST); valid endorsements for other values (DIGEST_MISMATCH,
CMDLINE_MISMATCH); or none at all (NOT_ENDORSED).

Across the store (`audit run`): every endorsement no release accounts for is reported too:
UNEXPECTED_ENDORSEMENT for a valid one (a possible key misuse), and the same validity rules
for the rest, plus LEGACY_FORMAT and STATEMENT_UNAVAILABLE.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.findings import Finding, invalid_rule
from auditor.reconcile.compare import Comparison, Outcome, compare
from auditor.reconcile.endorsed import EndorsedValue, load_endorsed
from auditor.reconcile.local import LocalValue, local_values
from auditor.reconcile.manifest import Kind, Release
from auditor.store import models

#: The release matrix's status per rule (report schema: releases[].components[].status).
STATUS = {
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


def _finding(rule: str, local: LocalValue, release: str, detail: str,
             endorsed: EndorsedValue | None = None, **extra: Any) -> Finding:
    evidence: dict[str, Any] = {"source": local.source, "local": local.digests(), **extra}
    identity = ["source"]
    if endorsed is not None:
        evidence.update(endorsed.evidence())
        identity += ["uuid", "statement_sha256"]
    return Finding(rule, local.component, detail, evidence, release=release,
                   identity=tuple(identity))


def _invalid_rule(endorsed: EndorsedValue) -> str:
    return invalid_rule(endorsed.failed_checks, endorsed.logged)


def _invalid_detail(rule: str, endorsed: EndorsedValue, what: str) -> str:
    """Why `endorsed` (the endorsement of `what`) cannot be relied on."""
    where = f"log index {endorsed.log_index}" if endorsed.logged else "not logged"
    return {
        "ENDORSED_NOT_LOGGED": f"the endorsement of {what} was never logged in the "
        "transparency log",
        "WRONG_KEY": f"the endorsement of {what} ({where}) is not signed by a pinned key of "
        "the component",
        "EXPIRED_AT_INTEGRATION": f"the endorsement of {what} ({where}) was logged outside "
        "its validity window",
    }.get(rule, f"the endorsement of {what} ({where}) failed: "
          f"{', '.join(endorsed.failed_checks)}")


def reconcile_value(local: LocalValue, endorsed: list[EndorsedValue], release: str,
                    result: ReleaseResult) -> Finding:
    """One local value against every endorsement of its component, newest first."""
    compared: list[tuple[EndorsedValue, Comparison]] = [(e, compare(local, e)) for e in endorsed]
    matching = [(e, c) for e, c in compared if c.outcome is Outcome.MATCH]
    valid = [(e, c) for e, c in matching if e.valid]
    # Endorsements this release accounts for: the valid matches, or else the one reported
    # here. A matching but invalid endorsement beside a valid one stays unaccounted, so the
    # whole-store pass still reports it.
    for e, _ in valid or matching[:1]:
        result.matched.setdefault(e.endorsement_id, []).append(f"{release}/{local.component}")
        result.accounted.add(e.endorsement_id)
    if valid:
        e, c = valid[0]
        return _finding("MATCH", local, release, c.detail, e, how=c.how)
    if matching:
        e, c = matching[0]
        rule = _invalid_rule(e)
        return _finding(rule, local, release, _invalid_detail(rule, e, "this value"), e,
                        failed_checks=list(e.failed_checks))
    usable = [(e, c) for e, c in compared if e.valid]
    undecidable = [(e, c) for e, c in usable if c.outcome is Outcome.UNDECIDABLE]
    if undecidable and len(undecidable) == len(usable):
        e, c = undecidable[0]
        result.accounted.add(e.endorsement_id)
        return _finding("UNDECIDABLE_DIGEST", local, release, c.detail, e)
    if usable:
        e, c = next((e, c) for e, c in usable if c.outcome is Outcome.MISMATCH)
        result.accounted.add(e.endorsement_id)
        rule = "CMDLINE_MISMATCH" if local.kind is Kind.CMDLINE else "DIGEST_MISMATCH"
        return _finding(rule, local, release, f"{c.detail} (newest of {len(usable)} valid "
                        "endorsement(s) shown)", e)
    return _finding("NOT_ENDORSED", local, release,
                    f"no valid endorsement of {local.component} under its pinned key(s)",
                    considered=len(endorsed))


def reconcile_release(session: Session, release: Release,
                      covered: Iterable[str] = ()) -> ReleaseResult:
    """Reconcile one release; `covered` lists components some key or endorsement covers."""
    result = ReleaseResult(release)
    values, uncovered = local_values(release)
    known = set(covered) | set(session.scalars(select(models.Endorsement.component).distinct()))
    for local in values:
        finding = reconcile_value(local, load_endorsed(session, local.component), release.name,
                                  result)
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
        result.findings.append(Finding("OBSERVED_UNCOVERED", component, detail,
                                       {"source": source, "observed": digest.hex()},
                                       release=release.name, identity=("source",)))
        result.statuses.append(ComponentStatus(component, source, "info", detail))
    return result


def unaccounted(session: Session, accounted: set[int],
                expected_since: datetime | None = None) -> list[Finding]:
    """Findings for stored endorsements and entries that no release accounts for."""
    findings = []
    for endorsed in load_endorsed(session):
        if endorsed.endorsement_id in accounted:
            continue
        when = endorsed.when
        if expected_since is not None and when is not None and when < expected_since:
            continue
        findings.append(_store_finding(endorsed))
    findings.extend(_statements_unavailable(session))
    return findings


def _store_finding(endorsed: EndorsedValue) -> Finding:
    evidence = endorsed.evidence()
    identity = ("uuid", "statement_sha256")
    component = endorsed.component
    if endorsed.statement_format not in (None, "oak-endorsement-v1"):
        return Finding("LEGACY_FORMAT", component, f"statement format "
                       f"{endorsed.statement_format} (log index {endorsed.log_index}): "
                       "classified, not interpreted", evidence, identity=identity)
    if endorsed.valid:
        return Finding("UNEXPECTED_ENDORSEMENT", component, f"log index {endorsed.log_index}: "
                       f"a valid endorsement of {endorsed.subject_name!r} under a {component} "
                       "key matches no artifact of any configured release", evidence,
                       identity=identity)
    rule = _invalid_rule(endorsed)
    evidence["failed_checks"] = list(endorsed.failed_checks)
    return Finding(rule, component, _invalid_detail(rule, endorsed, repr(endorsed.subject_name)),
                   evidence, identity=identity)


def _statements_unavailable(session: Session) -> list[Finding]:
    """Entries under a component key whose statement bytes we could not get."""
    query = (select(models.Entry)
             .outerjoin(models.Endorsement, models.Endorsement.entry_pk == models.Entry.id)
             .where(models.Endorsement.id.is_(None)))
    return [Finding("STATEMENT_UNAVAILABLE", None, f"entry {entry.uuid} (log index "
                    f"{entry.log_index}) signs statement sha256:{entry.signed_digest}, whose "
                    "bytes are not in the store", {"uuid": entry.uuid,
                                                   "log_index": entry.log_index,
                                                   "statement_sha256": entry.signed_digest},
                    identity=("uuid",))
            for entry in session.scalars(query)]

