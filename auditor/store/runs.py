"""Runs and their findings: one row per run, one row per finding fingerprint."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from auditor import __version__
from auditor.findings import Finding
from auditor.store import models
from auditor.store.repository import get_or_create


def record_run(sessions: sessionmaker[Session], kind: str, started: datetime,
               summary: dict[str, Any], findings: Iterable[Finding], complete: bool,
               exit_code: int) -> int:
    """Store the run and upsert its findings by fingerprint (first and last seen)."""
    with sessions.begin() as session:
        run = models.Run(kind=kind, started_at=started, finished_at=datetime.now(UTC),
                         complete=complete, exit_code=exit_code,
                         summary=json.dumps(summary, default=str), tool_version=__version__)
        session.add(run)
        session.flush()
        for finding in findings:
            _upsert_finding(session, finding, run)
        return run.id


def _upsert_finding(session: Session, finding: Finding, run: models.Run) -> None:
    stored, created = get_or_create(
        session, models.StoredFinding, {"fingerprint": finding.fingerprint},
        rule=finding.rule, severity=finding.severity.value, component=finding.component,
        release=finding.release, detail=finding.detail,
        evidence=json.dumps(finding.evidence, sort_keys=True, default=str),
        first_seen=run.started_at, last_seen=run.started_at, first_run_pk=run.id,
        last_run_pk=run.id)
    if not created:
        stored.last_seen = run.started_at
        stored.last_run_pk = run.id
        stored.detail = finding.detail
