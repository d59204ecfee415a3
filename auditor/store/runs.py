"""Runs and their findings: one row per run, one row per finding fingerprint, and one row per
finding a run reported (so reports stream them from the database)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from auditor.findings import Finding, FindingTally, Severity
from auditor.store import tables
from auditor.store.tables import aware

#: Findings written per flush while a run is recorded.
_BATCH = 1000
_RUNS, _FINDINGS = tables.runs, tables.findings


def record_run(sessions: sessionmaker[Session], kind: str, started: datetime,
               findings: Iterable[Finding],
               finish: Callable[[FindingTally], tuple[int, dict[str, Any], bool]], *,
               ended: bool = True) -> RecordedRun:
    """Store the run and its findings (streamed: each fingerprint upserted once, first and last
    seen kept), then its exit code, summary and completeness, which `finish` derives once the
    findings are all in. Not `ended` (alerts are still to be sent): stored unfinished and
    incomplete until `update_run` says otherwise, so a run killed meanwhile never reads as a
    complete one."""
    from auditor import __version__  # writes only: queries read runs without the writers

    tally = FindingTally()
    with sessions.begin() as session:
        run_id: int = session.execute(insert(_RUNS).values(
            kind=kind, started_at=started, complete=False, summary="{}",
            tool_version=__version__).returning(_RUNS.c.id)).scalar_one()
        batch: list[Finding] = []
        for finding in findings:
            if not tally.add(finding):
                continue
            batch.append(finding)
            if len(batch) == _BATCH:
                _upsert_findings(session, batch, run_id, started)
                batch.clear()  # memory stays flat on a large store
        _upsert_findings(session, batch, run_id, started)
        exit_code, summary, complete = finish(tally)
        session.execute(update(_RUNS).where(_RUNS.c.id == run_id).values(
            finished_at=datetime.now(UTC) if ended else None, exit_code=exit_code,
            complete=complete and ended, summary=json.dumps(summary, default=str)))
    return RecordedRun(run_id, exit_code, tally)


def update_run(sessions: sessionmaker[Session], run_id: int, exit_code: int,
               summary: dict[str, Any], complete: bool) -> None:
    """A recorded run's end: its exit code, summary and completeness once it has alerted (or
    was stopped doing so), or once its reports were written."""
    with sessions.begin() as session:
        session.execute(update(_RUNS).where(_RUNS.c.id == run_id).values(
            finished_at=datetime.now(UTC), exit_code=exit_code, complete=complete,
            summary=json.dumps(summary, default=str)))


@dataclass(frozen=True)
class RecordedRun:
    run_id: int
    exit_code: int
    tally: FindingTally


def _upsert_findings(session: Session, batch: list[Finding], run_id: int,
                     started: datetime) -> None:
    """Upsert a batch of findings (distinct fingerprints) and link them to the run: a few
    statements per batch, not two per finding; the run holds the store lock, so nobody else
    inserts the same fingerprints meanwhile."""
    if not batch:
        return
    evidence = {f.fingerprint: json.dumps(f.evidence, sort_keys=True, default=str) for f in batch}
    known = {fingerprint: pk for fingerprint, pk in session.execute(
        select(_FINDINGS.c.fingerprint, _FINDINGS.c.id)
        .where(_FINDINGS.c.fingerprint.in_(list(evidence))))}
    seen_again = [{"finding_id": known[f.fingerprint], "detail": f.detail, "last_seen": started,
                   "last_run_pk": run_id, "evidence": evidence[f.fingerprint]}
                  for f in batch if f.fingerprint in known]
    if seen_again:  # one executemany: SET the columns each parameter set names
        session.execute(update(_FINDINGS).where(_FINDINGS.c.id == bindparam("finding_id")),
                        seen_again)
    new = [{"fingerprint": f.fingerprint, "rule": f.rule, "severity": f.severity.value,
            "component": f.component, "release": f.release, "detail": f.detail,
            "evidence": evidence[f.fingerprint], "first_seen": started, "last_seen": started,
            "first_run_pk": run_id, "last_run_pk": run_id}
           for f in batch if f.fingerprint not in known]
    if new:
        inserted = session.execute(insert(_FINDINGS).returning(
            _FINDINGS.c.fingerprint, _FINDINGS.c.id), new)
        known.update((fingerprint, pk) for fingerprint, pk in inserted)
    session.execute(insert(tables.run_findings), [
        {"run_pk": run_id, "finding_pk": known[f.fingerprint], "detail": f.detail,
         "evidence": evidence[f.fingerprint], "suppression": _suppression(f)} for f in batch])


def _suppression(finding: Finding) -> str | None:
    suppression = finding.suppressed_by
    return None if suppression is None else json.dumps(
        {"reason": suppression.reason, "expires": suppression.expires.isoformat()})


@dataclass(frozen=True)
class RunView:
    id: int
    kind: str
    started_at: datetime
    finished_at: datetime | None
    complete: bool
    exit_code: int | None
    summary: dict[str, Any]


def _view(run: Row[Any]) -> RunView:
    try:
        summary = json.loads(run.summary or "{}")
    except ValueError:
        summary = {}
    return RunView(run.id, run.kind, aware(run.started_at), aware(run.finished_at)
                   if run.finished_at else None, run.complete, run.exit_code,
                   summary if isinstance(summary, dict) else {})


def latest_run(session: Session, kinds: tuple[str, ...] | None = ("run", "reconcile")
               ) -> RunView | None:
    """The newest run of these kinds (None: of any kind)."""
    query = select(_RUNS).order_by(_RUNS.c.id.desc()).limit(1)
    if kinds is not None:
        query = query.where(_RUNS.c.kind.in_(kinds))
    run = session.execute(query).first()
    return None if run is None else _view(run)


@dataclass(frozen=True)
class FindingCounts:
    total: int
    suppressed: int
    #: Unsuppressed findings per severity.
    by_severity: dict[str, int]


def run_finding_counts(session: Session, run_id: int) -> FindingCounts:
    reported = tables.run_findings
    rows = session.execute(
        select(_FINDINGS.c.severity, reported.c.suppression.is_(None), func.count())
        .join(_FINDINGS, _FINDINGS.c.id == reported.c.finding_pk)
        .where(reported.c.run_pk == run_id)
        .group_by(_FINDINGS.c.severity, reported.c.suppression.is_(None)))
    total = suppressed = 0
    by_severity: dict[str, int] = {}
    for severity, unsuppressed, count in rows:
        total += count
        if unsuppressed:
            by_severity[severity] = by_severity.get(severity, 0) + count
        else:
            suppressed += count
    return FindingCounts(total, suppressed, by_severity)


def run_by_id(session: Session, run_id: int) -> RunView | None:
    run = session.execute(select(_RUNS).where(_RUNS.c.id == run_id)).first()
    return None if run is None else _view(run)


@dataclass(frozen=True)
class FindingRecord:
    """A finding as a run reported it: what reports and queries show."""

    rule: str
    severity: str
    component: str | None
    release: str | None
    detail: str
    evidence: dict[str, Any]
    fingerprint: str
    suppressed: dict[str, str] | None
    first_seen: datetime
    last_seen: datetime


_SEVERITY_RANK = case({s.value: s.rank for s in Severity},
                      value=_FINDINGS.c.severity, else_=-1)


def run_findings(session: Session, run_id: int) -> Iterator[FindingRecord]:
    """The findings run `run_id` reported, streamed in reading order: most severe first,
    unsuppressed before suppressed, then rule, component, release and fingerprint."""
    reported, found = tables.run_findings, _FINDINGS
    query = (select(found.c.rule, found.c.severity, found.c.component, found.c.release,
                    reported.c.detail, reported.c.evidence, found.c.fingerprint,
                    reported.c.suppression, found.c.first_seen, found.c.last_seen)
             .join(found, found.c.id == reported.c.finding_pk)
             .where(reported.c.run_pk == run_id)
             .order_by(_SEVERITY_RANK.desc(), reported.c.suppression.is_not(None),
                       found.c.rule, found.c.component, found.c.release, found.c.fingerprint)
             .execution_options(yield_per=_BATCH))
    for (rule, severity, component, release, detail, evidence, fingerprint, suppression,
         first_seen, last_seen) in session.execute(query):
        yield FindingRecord(
            rule, severity, component, release, detail, json.loads(evidence), fingerprint,
            json.loads(suppression) if suppression else None,
            aware(first_seen), aware(last_seen))
