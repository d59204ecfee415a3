"""The audit service: the job that `audit run`, cron and Python callers run.

`Auditor(settings)` owns the job: import snapshots, crawl every configured log source, verify,
reconcile every configured release, judge everything the store holds, apply suppressions, alert
the configured channels, record the run with its findings, then write its reports and metrics
file. It never prints and never exits; it returns typed results
(`AuditResult`, `CrawlSummary`, `ImportReport`) and raises `AuditorError` only when the audit
itself cannot run. Log and statement sources are built from the settings, or given (tests drive
the service with their own sources and clock).

    result = Auditor(resolve(Flags(config=Path("auditor.toml")))).run()
    result.exit_code  # 0 clean, 1 findings, 3 incomplete or an alert not delivered
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from auditor.assessment import publication_findings
from auditor.crawl.interface import CrawlJob, CrawlRequest, LogSource, Progress
from auditor.crawl.summary import CrawlSummary
from auditor.errors import AuditorError, ConfigError, Interrupted
from auditor.exit_codes import ExitCode
from auditor.findings import (
    CRAWL_ONLY_RULES,
    Finding,
    FindingTally,
    RuleId,
    Severity,
    Suppression,
)
from auditor.http_client import Deadline
from auditor.importer import ImportedItem, ImportReport, import_paths, record_keys
from auditor.reconcile.engine import ReleaseResult, reconcile_release, unaccounted
from auditor.reconcile.manifest import Release, load_manifest
from auditor.settings import SIGSTORE_PRODUCTION, Settings
from auditor.source.interface import StatementSource
from auditor.store import history as stored_history
from auditor.store.database import engine_of, open_database
from auditor.store.lock import RunLock
from auditor.store.runs import FindingRecord, record_run, run_findings, update_run
from auditor.verify.trust import (
    LogKeyring,
    TrustRefreshes,
    load_keyring,
    refreshed_keyring,
    sigstore_keyring,
)

if TYPE_CHECKING:
    from auditor.notify.dispatch import DeliveryReport
    from auditor.notify.interface import Channel, Delivery


def _quiet(_stage: str, _done: int, _total: int) -> None:
    pass


@dataclass
class AuditResult:
    """One recorded run: what it found (counted; the store holds every finding), and whether it
    could finish."""

    kind: str
    started: datetime
    config: str | None = None
    offline: bool = True
    releases: list[ReleaseResult] = field(default_factory=list)
    crawl: CrawlSummary | None = None
    imported: ImportReport | None = None
    #: Trust decisions made by flags or the environment rather than the config file.
    overrides: dict[str, str] = field(default_factory=dict)
    #: The signal that stopped the run, if one did.
    interrupted: str | None = None
    run_id: int | None = None
    exit_code: int = ExitCode.CLEAN
    tally: FindingTally = field(default_factory=FindingTally)
    #: What the run's alerts did; None when no channel is configured.
    alerts: DeliveryReport | None = None
    #: The report files written, and what could not be written (a report, the metrics file).
    reports: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Configured suppressions past their expiry: what they suppressed is reported again, and
    #: the run says why (a finding silenced for months came back with no word of the cause).
    expired: list[Suppression] = field(default_factory=list)

    @property
    def process_exit_code(self) -> int:
        """The audit's exit code, or 2 when it was clean but a report or the metrics file
        could not be written (a file that was not written never hides what the run found)."""
        return self.exit_code or (ExitCode.USAGE if self.problems else ExitCode.CLEAN)

    @property
    def complete(self) -> bool:
        return self.interrupted is None and (self.crawl is None or self.crawl.complete)

    def failing(self, threshold: Severity) -> bool:
        return self.tally.failing(threshold)

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
            "matched": self._matched(),
            "by_severity": self.tally.by_severity,
            "suppressed": self.tally.suppressed,
            "findings": self.tally.total,
            "alerts": self.alerts.to_json() if self.alerts is not None else None,
            "problems": self.problems,
        }

    def _matched(self) -> dict[str, list[str]]:
        """Endorsement id -> "release/component" for every release that matched it (a value
        two releases share, such as a cmdline, is matched by both)."""
        matched: dict[str, list[str]] = {}
        for release in self.releases:
            for endorsement_id, names in release.matched.items():
                matched.setdefault(str(endorsement_id), []).extend(names)
        return matched


def crawl_exit_code(summary: CrawlSummary) -> ExitCode:
    """Integrity findings beat an incomplete crawl (README, exit codes): a tiled log whose
    checkpoint or tiles do not verify stops the scan there, and that must page as a finding."""
    if summary.integrity_findings:
        return ExitCode.FINDINGS
    return ExitCode.CLEAN if summary.complete else ExitCode.INCOMPLETE


def run_exit_code(result: AuditResult, fail_on: Severity) -> ExitCode:
    """Findings at or above the threshold beat an incomplete crawl and an alert that could not
    be delivered: they are what pages. Either of those is exit 3, never "clean"."""
    if result.failing(fail_on):
        return ExitCode.FINDINGS
    undelivered = result.alerts is not None and bool(result.alerts.undelivered)
    return ExitCode.CLEAN if result.complete and not undelivered else ExitCode.INCOMPLETE


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
        self._keyring: LogKeyring | None = None
        self._log_keys_refreshed = False
        #: The crawl's TUF refreshes, one per repository, shared by Rekor v1 and v2.
        self._trust = TrustRefreshes()

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

    @property
    def keyring(self) -> LogKeyring:
        """Rekor v1's log keys: pinned, a trusted_root.json, or Sigstore's trusted root as
        cached (a crawl brings it up to date first: `_refresh_log_keys`)."""
        if self._keyring is None:
            log = self.settings.log
            if log.rekor_keys:
                self._keyring = load_keyring(log.rekor_keys, None)
            elif log.trusted_root != SIGSTORE_PRODUCTION:
                self._keyring = load_keyring([], Path(log.trusted_root))
            else:
                self._keyring = sigstore_keyring("production", log.tuf_url)
        return self._keyring

    def _refresh_log_keys(self) -> None:
        """Online, before Rekor v1's keys are first used: Sigstore's trusted root brought up to
        date from its TUF repository, so a log key rotated there reaches this crawl (it was
        refreshed only for `[rekor_v2]`, and a v1-only crawl distrusted the new key's entries).
        Not for pinned keys or a trusted_root.json, nor with `refresh = false`. A refresh that
        fails leaves the crawl incomplete, naming why, and the cached root's keys are used."""
        log = self.settings.log
        if self._log_keys_refreshed or log.rekor_keys or not log.refresh \
                or log.trusted_root != SIGSTORE_PRODUCTION:
            return
        self._log_keys_refreshed = True
        config = self._trust.config("Rekor v1 trusted root", "the log keys of the cached copy "
                                    "are used", "production", log.tuf_url, log.tuf_root)
        if config is not None:
            self._keyring = refreshed_keyring(config, "production", log.tuf_url)

    def _check_follows(self, job: str, hint: str = "") -> None:
        """Refuse a crawl of no log (`[log] follow = false` and nothing else): a run crawled
        nothing and said nothing of it, `audit crawl` ended in an internal error."""
        settings = self.settings
        if not (settings.rekor_v1 or settings.tiled_logs or settings.rekor_v2
                or settings.index.configured):
            raise ConfigError(f"{settings.config_name}: [log] follow = false and no "
                              f"[[tiled_logs]], [rekor_v2] or [index]: {job} would follow no "
                              f"log{hint}")

    def _check_sources(self) -> None:
        """Refuse offline what an online run would refuse before its first request (the log
        keys or trusted root, each tiled log's key, policy and scan range): an `--offline`
        trial is how a config is tried before cron runs it, and it passed these."""
        from auditor.sources import tiled_log_specs

        log = self.settings.log
        # Sigstore's embedded root cannot be missing: only a key or root someone named is read.
        if self.settings.rekor_v1 and (log.rekor_keys or log.trusted_root != SIGSTORE_PRODUCTION):
            self.keyring  # noqa: B018 - loaded (and cached) for what it refuses
        tiled_log_specs(self.settings)

    def log_sources(self) -> list[LogSource]:
        if self._log_sources is None:
            from auditor.sources import log_sources

            # Rekor v1's keys (Sigstore's trusted root unless pinned) only when it is followed
            # or the publisher's index is, whose packages carry Rekor receipts (`follow =
            # false` with an [index] was an internal error).
            settings = self.settings
            keyring = None
            if settings.rekor_v1 or settings.index.configured:
                self._refresh_log_keys()
                keyring = self.keyring
            from auditor.sources import Unfollowable

            sources = log_sources(self.settings, keyring, self._trust, self.deadline)
            # A failed refresh is one reason, naming every user of the repository.
            self._log_sources = [*(Unfollowable(users, reason)
                                   for users, reason in self._trust.failures()), *sources]
        return self._log_sources

    def statement_source(self) -> StatementSource:
        if self._statements is None:
            from auditor.sources import statement_source

            self._statements = statement_source(self.settings, self.deadline)
        return self._statements

    def close(self) -> None:
        for source in self._log_sources or []:
            source.close()
        if self._statements is not None:
            self._statements.close()

    def __enter__(self) -> Auditor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _today(self) -> date:
        return self.clock().date()

    def _lock(self, *, shared: bool = False) -> RunLock:
        return RunLock(engine_of(self.sessions), shared=shared)

    # -- the jobs -------------------------------------------------------------------------------

    def import_paths(self, paths: list[Path], *, at: datetime | None = None,
                     each: Callable[[ImportedItem], None] | None = None) -> ImportReport:
        """Verify and store entries, bundles and Oak endorsements from files, idempotently."""
        return import_paths(self.sessions, paths, self.keyring, self.settings.keyset, at,
                            each=each)

    def crawl(self, request: CrawlRequest | None = None) -> AuditResult:
        """Bring the store in step with every configured log; recorded as a `crawl` run."""
        request = request or CrawlRequest(tuple(self.settings.uuids),
                                          tuple(self.settings.log_indexes))
        if not self.settings.keyset.components and not request.uuids \
                and not request.log_indexes:
            raise ConfigError("no component keys configured: give --key COMPONENT=PEM or "
                              "--config")
        self._check_follows("the crawl")
        result = self._result("crawl", offline=False)

        def findings() -> Iterable[Finding]:
            self._crawl_into(result, request)
            return self._crawl_of(result).findings

        # What is local first, key files then the database: either refused is refused before
        # the sources ask anything of the network (Sigstore's TUF repository).
        self._check_sources()
        self.sessions  # noqa: B018
        with self._lock(shared=all(source.concurrent for source in self.log_sources())):
            self._record_keys()
            self._recorded(result, findings, lambda: crawl_exit_code(self._crawl_of(result)))
        return result

    def reconcile(self, release: Release) -> AuditResult:
        """Reconcile one release with the stored endorsements; recorded as `reconcile`."""
        result = self._result("reconcile", offline=True)

        def findings() -> Iterable[Finding]:
            with self.sessions() as session:
                result.releases = [reconcile_release(session, release, self._covered(),
                                                     self.settings.keyset, self._config_dir)]
            return self._suppressed(f for r in result.releases for f in r.findings)

        self._recorded(result, findings, lambda: ExitCode.FINDINGS
                       if result.failing(Severity.LOW) else ExitCode.CLEAN)
        return result

    def run(self) -> AuditResult:
        """The scheduled job: import, crawl (unless offline), reconcile every release, judge
        the whole store, alert, record the run; then its reports and metrics file."""
        settings = self.settings
        if not settings.has_work():
            raise ConfigError("nothing to audit: the configuration names no release and no "
                              "import" + (", and the run is offline" if settings.offline
                                          else " and no component key") +
                              " (see the README, Configuration)")
        releases = _distinct([load_manifest(r.manifest, r.name) for r in settings.releases])
        if settings.expected_since is not None and settings.expected_since > self.clock():
            # Every endorsement is older: UNEXPECTED_ENDORSEMENT and UNPUBLISHED_LOG_ENTRY
            # were silently off (a typo of a year, 2205 for 2025, did it).
            raise ConfigError(f"{settings.config_name}: reconcile.expected_since "
                              f"{settings.expected_since.date().isoformat()} is in the future: "
                              "no endorsement would be reported as unexpected")
        if settings.offline:
            self._check_sources()
        else:
            self._check_follows("the run", " (--offline judges the store alone)")
        self._check_outputs()
        result = self._result("run", offline=settings.offline)
        channels = self.alert_channels()  # a missing secret stops the run before it starts

        def findings() -> Iterable[Finding]:
            self._record_keys()
            if settings.imports:
                if not settings.offline:  # the crawl's keys verify the imports too
                    self._refresh_log_keys()
                # The items are in the store, where the run judges them: none kept here.
                result.imported = self.import_paths(settings.imports, each=lambda _item: None)
                for path, reason in result.imported.errors:
                    raise ConfigError(f"import {path}: {reason}")
            if not settings.offline:
                self._crawl_into(result, CrawlRequest(tuple(settings.uuids),
                                                      tuple(settings.log_indexes)))
            # Judged while recorded: a read session streams what the write session stores.
            judged = self._suppressed(self._judged(result, releases))
            return self._alertable(judged, alertable) if channels else judged

        alertable: list[Finding] = []
        try:
            with self._lock():
                self._recorded(result, findings, lambda: run_exit_code(result, settings.fail_on),
                               ended=not channels)
                if channels:
                    self._alert_then_end(result, channels, alertable)
                self._write_reports(result)
        finally:
            for channel in channels:
                channel.close()
        self._write_metrics(result, [c.name for c in channels])
        if result.problems and result.run_id is not None:
            # A report or metrics file not written is part of the run's outcome: the stored run
            # (`audit status`, `audit report`) says the exit code the process gives.
            self._record_end(result)
        return result

    def alert_channels(self) -> list[Channel]:
        """The configured alert channels, their secrets read from the environment now."""
        if self.settings.notify is None:
            return []
        from auditor.notify.settings import build_channels

        return build_channels(self.settings.notify, os.environ)

    def send_test_alerts(self) -> list[Delivery]:
        """`audit notify test`: a test message through every configured channel."""
        channels = self.alert_channels()
        if not channels:
            raise ConfigError("no alert channel is configured: add a [notify] table to the "
                              "config or give --notify-webhook")
        try:
            return [channel.send_test(self.clock()) for channel in channels]
        finally:
            for channel in channels:
                channel.close()

    # -- steps ----------------------------------------------------------------------------------

    def _result(self, kind: str, *, offline: bool) -> AuditResult:
        today = self._today()
        return AuditResult(kind, self.clock(), config=self.settings.config_name, offline=offline,
                           overrides={k: v for k, v in self.settings.overrides.items() if v},
                           expired=[s for s in self.settings.suppressions if today > s.expires])

    def _recorded(self, result: AuditResult, work: Callable[[], Iterable[Finding]],
                  exit_code: Callable[[], int], *, ended: bool = True) -> None:
        """Do the work (crawls and imports write as they go), then record the run with the
        findings it yields, streamed into the store, and its exit code and summary. An
        interrupted run is recorded as such, with what it found so far. Not `ended`: the run
        has more to do and is recorded unfinished until it ends."""
        def finish(tally: FindingTally) -> tuple[int, dict[str, Any], bool]:
            result.tally = tally
            result.exit_code = exit_code() if result.interrupted is None else result.exit_code
            return result.exit_code, result.summary(), result.complete

        try:
            recorded = record_run(self.sessions, result.kind, result.started, work(), finish,
                                  ended=ended)
        except (Interrupted, KeyboardInterrupt) as stop:
            _stopped(result, stop)
            so_far = list(self._suppressed(result.crawl.findings if result.crawl else []))
            recorded = record_run(self.sessions, result.kind, result.started, so_far, finish)
            result.run_id = recorded.run_id
            raise
        result.run_id = recorded.run_id

    def _alert_then_end(self, result: AuditResult, channels: list[Channel],
                        alertable: list[Finding]) -> None:
        """Send the run's alerts, then record its end (stopped by a signal: as interrupted,
        with the signal's exit code). A run killed meanwhile stays unfinished in the store."""
        try:
            result.alerts = self._alert(result, channels, alertable)
            result.exit_code = run_exit_code(result, self.settings.fail_on)
        except (Interrupted, KeyboardInterrupt) as stop:
            _stopped(result, stop)
            self._record_end(result)
            raise
        self._record_end(result)

    def _record_end(self, result: AuditResult) -> None:
        update_run(self.sessions, self._run_id(result), result.process_exit_code,
                   result.summary(), result.complete)

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
                crawl.findings = list(self._suppressed(crawl.findings))
                result.crawl = crawl

    def _alertable(self, findings: Iterable[Finding], kept: list[Finding]) -> Iterator[Finding]:
        """`findings`, passing through; those that may fire an alert are kept on the side (the
        rest of a large store's findings never sit in memory)."""
        assert self.settings.notify is not None
        threshold = self.settings.notify.min_severity
        for finding in findings:
            if finding.suppressed_by is None and finding.rule is not RuleId.MATCH \
                    and finding.severity.rank >= threshold.rank:
                kept.append(finding)
            yield finding

    def _alert(self, result: AuditResult, channels: list[Channel],
               alertable: list[Finding]) -> DeliveryReport:
        from auditor.alerting import send_alerts

        assert self.settings.notify is not None
        return send_alerts(self.sessions, self.settings.notify, channels, alertable,
                           present=result.tally.fingerprints, report=self._report_location(),
                           run_time=result.started, complete=result.complete,
                           unjudged=frozenset() if result.crawl else CRAWL_ONLY_RULES)

    def _run_id(self, result: AuditResult) -> int:
        assert result.run_id is not None
        return result.run_id

    def _report_location(self) -> str | None:
        """Where alerts say the full report is: the configured URL, else the file the run
        writes (HTML for people when it writes one)."""
        notify, reports = self.settings.notify, self.settings.reports
        if notify is not None and notify.report_url:
            return notify.report_url
        if reports.directory is None:
            return None
        formats = reports.formats_to_write()
        chosen = next((f for f in ("html", "md", "json") if f in formats), formats[0])
        return str(report_path(reports.directory, chosen).absolute())

    def _check_outputs(self) -> None:
        """The report directory and the metrics file's directory, refused before the run when
        they cannot be written (still written, and their failure still counted, after it)."""
        from auditor.report.files import check_directory

        if self.settings.reports.directory is not None:
            check_directory(self.settings.reports.directory)
        if self.settings.metrics_file is not None:
            check_directory(self.settings.metrics_file.parent, "the metrics file")

    def _write_reports(self, result: AuditResult) -> None:
        directory = self.settings.reports.directory
        if directory is None:
            return
        try:
            result.reports = write_reports(self.sessions, result, directory,
                                           self.settings.reports.formats_to_write())
        except AuditorError as error:
            result.problems.append(error.diagnostics())

    def _write_metrics(self, result: AuditResult, channels: list[str]) -> None:
        """Last, so the file carries the run's final exit code. A run that stops early
        leaves the previous file, whose age is what the "not running" rule watches."""
        path = self.settings.metrics_file
        if path is None:
            return
        from auditor.metrics import gather, write_metrics_file

        duration = (self.clock() - result.started).total_seconds()
        with self.sessions() as session:
            metrics = gather(session, started=result.started, duration_seconds=duration,
                             exit_code=result.process_exit_code, complete=result.complete,
                             findings=result.tally, crawl=result.crawl, channels=channels,
                             deliveries=result.alerts)
        try:
            write_metrics_file(metrics, path)
        except ConfigError as error:
            result.problems.append(error.diagnostics())

    @property
    def _config_dir(self) -> Path | None:
        """Where the release matrix shows artifacts from: the configuration's directory."""
        path = self.settings.config_path
        return path.resolve().parent if path is not None else None

    def _covered(self) -> list[str]:
        return list(self.settings.keyset.components)

    def _judged(self, result: AuditResult, releases: list[Release]) -> Iterator[Finding]:
        """Reconcile the releases and judge everything else the store holds, streamed."""
        with self.sessions() as session:
            keyset = self.settings.keyset
            result.releases = [reconcile_release(session, r, self._covered(), keyset,
                                                 self._config_dir) for r in releases]
            accounted = set().union(*(r.accounted for r in result.releases))
            for release in result.releases:
                yield from release.findings
            pinned = keyset.pinned_key_ids()
            yield from unaccounted(session, accounted, pinned, self.settings.expected_since,
                                   keyset)
            yield from (stored_history.fault_finding(row)
                        for row in stored_history.faults(session))
            yield from publication_findings(session, pinned, self.settings.index.keysets,
                                            self.settings.expected_since)
        if result.crawl is not None:
            yield from (f for f in result.crawl.findings if f.rule in CRAWL_ONLY_RULES)

    def _suppressed(self, findings: Iterable[Finding]) -> Iterator[Finding]:
        today = self._today()
        for finding in findings:
            yield finding.suppress(self.settings.suppressions, today)

    def findings(self, result: AuditResult) -> Iterator[FindingRecord]:
        """Every finding the recorded run reported, most severe first, from the store."""
        assert result.run_id is not None
        with self.sessions() as session:
            yield from run_findings(session, result.run_id)


def _distinct(releases: list[Release]) -> list[Release]:
    """The releases, refused if two share a name: findings, their fingerprints (so alerts)
    and reports tell releases apart by name, and two manifests under one were reported as
    one release."""
    seen: dict[str, Release] = {}
    for release in releases:
        if (other := seen.setdefault(release.name, release)) is not release:
            raise ConfigError(f"releases: {other.manifest} and {release.manifest} are both "
                              f"named {release.name!r}: give each release its own name")
    return releases


def _stopped(result: AuditResult, stop: Interrupted | KeyboardInterrupt) -> None:
    """`result` is of a run a signal stopped: which one, and the exit code it gives."""
    result.interrupted = stop.signal_name if isinstance(stop, Interrupted) else "SIGINT"
    result.exit_code = stop.exit_code if isinstance(stop, Interrupted) else ExitCode.INTERRUPTED


def write_reports(sessions: sessionmaker[Session], result: AuditResult, directory: Path,
                  formats: list[str]) -> list[Path]:
    """Render the recorded run in each format into `directory` (atomically, no symlinks)."""
    from auditor.report.build import build_report
    from auditor.report.files import prepare_directory, report_file
    from auditor.report.formats import OutputFormat, write
    from auditor.store.runs import run_by_id

    assert result.run_id is not None
    prepare_directory(directory)
    written = []
    with sessions() as session:  # the report's rows stream from the store while written
        run = run_by_id(session, result.run_id)
        assert run is not None
        document = build_report(session, run, result.exit_code)
        for name in formats:
            fmt = OutputFormat(name)
            path = report_path(directory, fmt.value)
            with report_file(path) as out:
                write(document, fmt, out)
            written.append(path)
    return written


def report_path(directory: Path, fmt: str) -> Path:
    return directory / f"audit-report.{fmt}"
