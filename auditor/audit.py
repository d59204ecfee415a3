"""The audit service: reconcile releases, account for the whole store, apply suppressions.

This is what `audit reconcile` and `audit run` call; it never prints and never exits. The
result is stored as a run (with its findings) so `audit report`, `audit findings` and
`audit component` can show it later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from auditor.crawl.crawler import CrawlSummary
from auditor.findings import Finding, Severity, Suppression, at_or_above, unique
from auditor.reconcile.engine import ReleaseResult, reconcile_release, unaccounted
from auditor.reconcile.manifest import Release
from auditor.store import models
from auditor.store.runs import record_run


@dataclass
class AuditResult:
    kind: str
    started: datetime
    releases: list[ReleaseResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    crawl: CrawlSummary | None = None
    config: str | None = None
    offline: bool = True
    finished: datetime | None = None
    run_id: int | None = None

    @property
    def all_findings(self) -> list[Finding]:
        """Reconciliation and crawl findings, each fingerprint once."""
        return unique(self.findings + (self.crawl.findings if self.crawl else []))

    @property
    def complete(self) -> bool:
        return self.crawl is None or self.crawl.complete

    def failing(self, threshold: Severity) -> list[Finding]:
        return at_or_above(self.all_findings, threshold)

    def summary(self) -> dict[str, Any]:
        """What the run row stores: enough for `audit report` to rebuild the report."""
        return {
            "kind": self.kind,
            "config": self.config,
            "offline": self.offline,
            "crawl": self.crawl.to_json() if self.crawl else None,
            "releases": [{"name": r.release.name,
                          "manifest": str(r.release.manifest) if r.release.manifest else None,
                          "components": [s.to_json() for s in r.statuses]}
                         for r in self.releases],
            "matched": {str(k): v for r in self.releases for k, v in r.matched.items()},
            "findings": [f.to_json() for f in self.all_findings],
        }


def audit_releases(session: Session, releases: list[Release], *, whole_store: bool,
                   covered: list[str], suppressions: list[Suppression],
                   expected_since: datetime | None = None,
                   today: date | None = None) -> tuple[list[ReleaseResult], list[Finding]]:
    """Reconcile each release; with `whole_store`, also report what no release accounts for."""
    results = [reconcile_release(session, release, covered) for release in releases]
    findings = [f for r in results for f in r.findings]
    if whole_store:
        accounted = set().union(*(r.accounted for r in results))
        findings.extend(unaccounted(session, accounted, expected_since))
    day = today or datetime.now(UTC).date()
    return results, [f.suppress(suppressions, day) for f in findings]


def store_audit(sessions: sessionmaker[Session], result: AuditResult, exit_code: int) -> int:
    result.run_id = record_run(sessions, result.kind, result.started, result.summary(),
                               result.all_findings, result.complete, exit_code)
    return result.run_id


def latest_run(session: Session,
               kinds: tuple[str, ...] = ("run", "reconcile")) -> models.Run | None:
    return session.scalar(select(models.Run).where(models.Run.kind.in_(kinds))
                          .order_by(models.Run.id.desc()).limit(1))


def run_summary(run: models.Run) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(run.summary or "{}")
    return summary
