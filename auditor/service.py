"""The audit service: the job that `audit run`, cron and Python callers run.

`Auditor(settings)` owns the job: import snapshots, crawl every configured log source, verify,
reconcile every configured release, judge everything the store holds, apply suppressions, and
record the run with its findings. It never prints and never exits; it returns typed results
(`AuditResult`, `CrawlSummary`, `ImportReport`) and raises `AuditorError` only when the audit
itself cannot run. Log and statement sources are built from the settings, or given (tests drive
the service with their own sources and clock).

    result = Auditor(resolve(Flags(config=Path("auditor.toml")))).run()
    result.exit_code  # 0 clean, 1 findings, 3 incomplete
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from auditor.crawl.interface import CrawlJob, CrawlRequest, LogSource, Progress
from auditor.crawl.summary import CrawlSummary
from auditor.errors import ConfigError, Interrupted
from auditor.exit_codes import ExitCode
from auditor.findings import Finding, RuleId, Severity, at_or_above, unique
from auditor.http_client import Deadline
from auditor.importer import ImportReport, import_paths, record_keys
from auditor.reconcile.engine import ReleaseResult, reconcile_release, unaccounted
from auditor.reconcile.manifest import Release, load_manifest
from auditor.settings import SIGSTORE_PRODUCTION, Settings
from auditor.source.interface import StatementSource
from auditor.store import history as stored_history
from auditor.store.database import engine_of, open_database
from auditor.store.lock import RunLock
from auditor.store.runs import record_run
from auditor.verify.trust import LogKeyring, load_keyring


def _quiet(_stage: str, _done: int, _total: int) -> None:
    pass


@dataclass
class AuditResult:
    """One recorded run: what it found, and whether it could finish."""

    kind: str
    started: datetime
    config: str | None = None
    offline: bool = True
    releases: list[ReleaseResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    crawl: CrawlSummary | None = None
    imported: ImportReport | None = None
    #: Trust decisions made by flags or the environment rather than the config file.
    overrides: dict[str, str] = field(default_factory=dict)
    #: The signal that stopped the run, if one did.
    interrupted: str | None = None
    run_id: int | None = None
    exit_code: int = ExitCode.CLEAN

    @property
    def complete(self) -> bool:
        return self.interrupted is None and (self.crawl is None or self.crawl.complete)

    def failing(self, threshold: Severity) -> list[Finding]:
        return at_or_above(self.findings, threshold)

    def by_severity(self) -> dict[str, int]:
        """Unsuppressed findings per severity."""
        counts: dict[str, int] = {}
        for finding in self.findings:
            if finding.suppressed_by is None:
                counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
        return counts

    def summary(self) -> dict[str, Any]:
        """What the run row stores beside its findings: enough to rebuild the report."""
        return {
            "kind": self.kind,
            "config": self.config,
            "offline": self.offline,
            "overrides": self.overrides,
            "interrupted": self.interrupted,
            "crawl": self.crawl.to_json() if self.crawl else None,
            "releases": [{"name": r.release.name,
                          "manifest": str(r.release.manifest) if r.release.manifest else None,
                          "components": [s.to_json() for s in r.statuses]}
                         for r in self.releases],
            "matched": {str(k): v for r in self.releases for k, v in r.matched.items()},
            "by_severity": self.by_severity(),
        }


def crawl_exit_code(summary: CrawlSummary) -> ExitCode:
    """Integrity findings beat an incomplete crawl (README, exit codes): a tiled log whose
    checkpoint or tiles do not verify stops the scan there, and that must page as a finding."""
    if summary.integrity_findings:
        return ExitCode.FINDINGS
    return ExitCode.CLEAN if summary.complete else ExitCode.INCOMPLETE


def run_exit_code(result: AuditResult, fail_on: Severity) -> ExitCode:
    """Findings at or above the threshold beat an incomplete crawl: they are what pages."""
    if result.failing(fail_on):
        return ExitCode.FINDINGS
    return ExitCode.CLEAN if result.complete else ExitCode.INCOMPLETE


class Auditor:
    def __init__(self, settings: Settings, *, sessions: sessionmaker[Session] | None = None,
                 log_sources: list[LogSource] | None = None,
                 statements: StatementSource | None = None, progress: Progress | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self._sessions = sessions
        self._log_sources = log_sources
        self._statements = statements
        self.progress = progress or _quiet
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- what the service works with ----------------------------------------------------------

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None:
            self._sessions = open_database(self.settings.database_url)
        return self._sessions

    @cached_property
    def deadline(self) -> Deadline:
        """The run's overall deadline, shared by every source's requests."""
        return Deadline(self.settings.deadline)

    @cached_property
    def keyring(self) -> LogKeyring:
        log = self.settings.log
        if log.rekor_keys:
            return load_keyring(log.rekor_keys, None)
        if log.trusted_root != SIGSTORE_PRODUCTION:
            return load_keyring([], Path(log.trusted_root))
        return load_keyring([], None)

    def log_sources(self) -> list[LogSource]:
        if self._log_sources is None:
            from auditor.sources import log_sources

            # Rekor v1's keys (Sigstore's trusted root unless pinned) only when it is followed.
            keyring = self.keyring if self.settings.rekor_v1 else None
            self._log_sources = log_sources(self.settings, keyring, self.deadline)
        return self._log_sources

    def statement_source(self) -> StatementSource:
        if self._statements is None:
            from auditor.sources import statement_source

            self._statements = statement_source(self.settings, self.deadline)
        return self._statements

    def close(self) -> None:
        for source in self._log_sources or []:
            source.close()

    def __enter__(self) -> Auditor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _today(self) -> date:
        return self.clock().date()

    def _lock(self, *, shared: bool = False) -> RunLock:
        return RunLock(engine_of(self.sessions), shared=shared)

    # -- the jobs -------------------------------------------------------------------------------

    def import_paths(self, paths: list[Path], *, at: datetime | None = None) -> ImportReport:
        """Verify and store entries, bundles and Oak endorsements from files, idempotently."""
        return import_paths(self.sessions, paths, self.keyring, self.settings.keyset, at)

    def crawl(self, request: CrawlRequest | None = None) -> AuditResult:
        """Bring the store in step with every configured log; recorded as a `crawl` run."""
        request = request or CrawlRequest(tuple(self.settings.uuids),
                                          tuple(self.settings.log_indexes))
        if not self.settings.keyset.components and not request.uuids \
                and not request.log_indexes:
            raise ConfigError("no component keys configured: give --key COMPONENT=PEM or "
                              "--config")
        result = self._result("crawl", offline=False)
        with self._lock(shared=all(source.concurrent for source in self.log_sources())):
            self._record_keys()
            self._recorded(result, lambda: self._crawl_into(result, request),
                           lambda: crawl_exit_code(self._crawl_of(result)))
        return result

    def reconcile(self, release: Release) -> AuditResult:
        """Reconcile one release with the stored endorsements; recorded as `reconcile`."""
        result = self._result("reconcile", offline=True)

        def work() -> None:
            with self.sessions() as session:
                result.releases = [reconcile_release(session, release, self._covered())]
            result.findings = self._suppressed(f for r in result.releases for f in r.findings)

        self._recorded(result, work, lambda: ExitCode.FINDINGS
                       if result.failing(Severity.LOW) else ExitCode.CLEAN)
        return result

    def run(self) -> AuditResult:
        """The scheduled job: import, crawl (unless offline), reconcile every release, judge
        the whole store, record the run."""
        settings = self.settings
        if not settings.has_work():
            raise ConfigError("nothing to audit: the configuration names no component key, "
                              "release or import (see `audit run --help`)")
        releases = [load_manifest(r.manifest, r.name) for r in settings.releases]
        result = self._result("run", offline=settings.offline)

        def work() -> None:
            self._record_keys()
            if settings.imports:
                result.imported = self.import_paths(settings.imports)
                for path, reason in result.imported.errors:
                    raise ConfigError(f"import {path}: {reason}")
            if not settings.offline:
                self._crawl_into(result, CrawlRequest(tuple(settings.uuids),
                                                      tuple(settings.log_indexes)))
            self._judge(result, releases)

        with self._lock():
            self._recorded(result, work, lambda: run_exit_code(result, settings.fail_on))
        return result

    # -- steps ----------------------------------------------------------------------------------

    def _result(self, kind: str, *, offline: bool) -> AuditResult:
        return AuditResult(kind, self.clock(), config=self.settings.config_name, offline=offline,
                           overrides={k: v for k, v in self.settings.overrides.items() if v})

    def _recorded(self, result: AuditResult, work: Callable[[], None],
                  exit_code: Callable[[], int]) -> None:
        """Do `work`, then record the run; an interrupted run is recorded as such."""
        try:
            work()
        except (Interrupted, KeyboardInterrupt) as stop:
            result.interrupted = stop.signal_name if isinstance(stop, Interrupted) else "SIGINT"
            result.exit_code = stop.exit_code if isinstance(stop, Interrupted) \
                else ExitCode.INTERRUPTED
            self._store(result)
            raise
        result.exit_code = exit_code()
        self._store(result)

    def _store(self, result: AuditResult) -> None:
        result.run_id = record_run(self.sessions, result.kind, result.started, result.summary(),
                                   result.findings, result.complete, result.exit_code)

    def _record_keys(self) -> None:
        record_keys(self.sessions, self.settings.keyset)

    def _crawl_of(self, result: AuditResult) -> CrawlSummary:
        assert result.crawl is not None
        return result.crawl

    def _crawl_into(self, result: AuditResult, request: CrawlRequest) -> None:
        job = CrawlJob(self.sessions, self.settings.keyset, self.statement_source(), request,
                       self.progress)
        summaries = []
        try:
            for source in self.log_sources():
                summaries.append(source.crawl(job))
        finally:
            if summaries:
                crawl = CrawlSummary.combine(summaries)
                crawl.findings = self._suppressed(crawl.findings)
                result.crawl = crawl
                if result.kind == "crawl":
                    result.findings = crawl.findings

    def _covered(self) -> list[str]:
        return list(self.settings.keyset.components)

    def _judge(self, result: AuditResult, releases: list[Release]) -> None:
        """Reconcile the releases and judge everything else the store holds."""
        with self.sessions() as session:
            result.releases = [reconcile_release(session, r, self._covered()) for r in releases]
            accounted = set().union(*(r.accounted for r in result.releases))
            found = [f for r in result.releases for f in r.findings]
            found.extend(unaccounted(session, accounted, self.settings.keyset.pinned_key_ids(),
                                     self.settings.expected_since))
            found.extend(stored_history.fault_finding(row)
                         for row in stored_history.faults(session))
        if result.crawl is not None:
            found.extend(f for f in result.crawl.findings
                         if f.rule is RuleId.SHARD_ROTATED)
        result.findings = self._suppressed(found)

    def _suppressed(self, findings: Iterable[Finding]) -> list[Finding]:
        today = self._today()
        return [f.suppress(self.settings.suppressions, today) for f in unique(findings)]


def write_reports(sessions: sessionmaker[Session], result: AuditResult, directory: Path,
                  formats: list[str]) -> list[Path]:
    """Render the recorded run in each format into `directory` (atomically, no symlinks)."""
    from auditor.report.build import build_report
    from auditor.report.files import prepare_directory, write_report
    from auditor.report.formats import OutputFormat, render
    from auditor.store.runs import run_by_id

    assert result.run_id is not None
    with sessions() as session:
        run = run_by_id(session, result.run_id)
        assert run is not None
        document = build_report(session, run, result.exit_code)
    prepare_directory(directory)
    written = []
    for name in formats:
        fmt = OutputFormat(name)
        path = directory / f"audit-report.{fmt.value}"
        write_report(path, render(document, fmt))
        written.append(path)
    return written


def iter_findings(result: AuditResult) -> Iterator[Finding]:
    """Most severe first, then component and rule: the order people read them in."""
    yield from sorted(result.findings,
                      key=lambda f: (-f.severity.rank, f.component or "", f.rule))
