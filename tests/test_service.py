"""The audit service (`auditor.service.Auditor`) driven with fake sources and an injected clock.

The service is under test; the sources are fakes that honour the seams
(`auditor/crawl/interface.py`, `auditor/source/interface.py`): the log source serves genuine
Rekor entries of Oak's June 2025 release (tests/data/oak, verified under the public log's key)
and stores them through the store path every source shares (`auditor.crawl.ingest`), so every
finding is derived by the service from stored evidence, never handed to it. The clock is fixed
(it decides when suppressions expire); HTTP back-off is recorded, never slept.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from auditor.crawl.ingest import Fetched, Ingest, count, crawl_findings
from auditor.crawl.interface import CrawlJob, CrawlRequest, LogSource
from auditor.crawl.summary import CrawlSummary
from auditor.errors import ConfigError, IncompleteError, Interrupted
from auditor.exit_codes import ExitCode
from auditor.findings import RuleId, Suppression
from auditor.http_client import HttpClient, RetryPolicy
from auditor.keyset import KeySet
from auditor.reconcile.manifest import ComponentInput, Release
from auditor.service import Auditor, AuditResult
from auditor.settings import ReleaseRef, Settings
from auditor.source.documents import parse_log_document
from auditor.source.entry import LogEntry
from auditor.source.interface import StatementSource
from auditor.source.statements import HttpStore
from auditor.store import crawl_state
from auditor.store.database import open_database
from auditor.store.repository import log_row
from auditor.store.runs import latest_run, run_findings
from auditor.verify.keys import load_public_key
from auditor.verify.merkle import leaf_hash
from auditor.verify.trust import load_keyring
from tests.fake_time import FakeTime
from tests.notify.servers import LocalServer, Reply, Request
from tests.oakdata import REKOR_KEY, RELEASE, RELEASE_COMPONENTS

#: The injected "now": it decides which suppressions have expired, whatever the wall clock says.
NOW = datetime(2031, 3, 14, 12, 0, tzinfo=UTC)
CMDLINE = ("console=ttyS0 panic=-1 earlycon=uart,io,0x3F8 brd.rd_nr=1 brd.rd_size=10000000 "
           "brd.max_part=1 ip=10.0.2.15:::255.255.255.0::eth0:off net.ifnames=0 quiet")


def component_dir(component: str) -> Path:
    return RELEASE / "components" / component


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return self.now


class FakeStatements(StatementSource):
    """Content-addressed bytes held in memory: the statements and inline subjects given."""

    def __init__(self, files: list[bytes]) -> None:
        super().__init__()
        self.name = "memory"
        self.files = {hashlib.sha256(f).hexdigest(): f for f in files}
        self.asked: list[str] = []

    def fetch(self, sha256_hex: str) -> bytes | None:
        self.asked.append(sha256_hex)
        return self.files.get(sha256_hex)


def release_statements(components: tuple[str, ...] = RELEASE_COMPONENTS) -> FakeStatements:
    files = []
    for component in components:
        for name in ("endorsement.json", "subject.bin"):
            if (component_dir(component) / name).exists():
                files.append((component_dir(component) / name).read_bytes())
    return FakeStatements(files)


class FakeLog(LogSource):
    """A log that serves fixed entries; `incomplete` makes it give up after storing them,
    `stop` interrupts it (a signal) after storing them."""

    def __init__(self, name: str, components: tuple[str, ...], *,
                 listed_under: dict[str, str] | None = None, incomplete: str | None = None,
                 stop: Interrupted | None = None) -> None:
        self.name = name
        self.components = components
        self.listed_under = listed_under or {}
        self.incomplete = incomplete
        self.stop = stop
        self.keyring = load_keyring([REKOR_KEY], None)
        self.jobs: list[CrawlJob] = []
        self.closed = False

    def entry(self, component: str) -> tuple[LogEntry, bytes]:
        raw = (component_dir(component) / "logentry.json").read_bytes()
        document = parse_log_document(raw, source=component)
        assert isinstance(document, LogEntry)
        return document, raw

    def crawl(self, job: CrawlJob) -> CrawlSummary:
        self.jobs.append(job)
        summary = CrawlSummary(source=self.name)
        ingest = Ingest(job, self.keyring)
        (log_key,) = self.keyring.keys
        with job.sessions.begin() as session:
            log = log_row(session, log_key.log_id, log_key)
        touched: list[int] = []
        try:
            for component in self.components:
                entry, raw = self.entry(component)
                fetched = Fetched(entry, raw, "rekor-v1", f"{self.name} {entry.uuid}",
                                  self.listed_under.get(component, component))
                item = ingest.prepare(fetched)
                assert item is not None
                with job.sessions.begin() as session:
                    stored = ingest.store(session, item)
                    count(summary, item, stored.entry_new, again=False)
                    touched += crawl_state.entry_ids(session, log.id,
                                                     [leaf_hash(entry.body).hex()])
            if self.stop is not None:
                raise self.stop
            summary.complete = True
            if self.incomplete is not None:
                summary.fail(self.incomplete)
        except IncompleteError as error:  # the statement source gave up
            summary.fail(error.diagnostics())
        finally:
            summary.findings = crawl_findings(job, log.log_id, touched)
        return summary

    def close(self) -> None:
        self.closed = True


def release_keys(components: tuple[str, ...] = RELEASE_COMPONENTS) -> KeySet:
    keyset = KeySet()
    for component in components:
        pem = (component_dir(component) / "endorser_public_key.pem").read_bytes()
        keyset.add(component, load_public_key(pem), "test")
    return keyset


def settings_for(db_url: str, **values: object) -> Settings:
    settings = Settings(database_url=db_url, keyset=release_keys(), keys_chosen=True)
    for name, value in values.items():
        setattr(settings, name, value)
    return settings


def evidence_release(tmp_path: Path) -> ReleaseRef:
    manifest = tmp_path / "release.toml"
    manifest.write_text(f'evidence = "{RELEASE / "evidence.binarypb"}"\n')
    return ReleaseRef("oak-containers-milan-release", manifest)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def auditor(settings: Settings, clock: FixedClock, *sources: LogSource,
            statements: StatementSource | None = None) -> Auditor:
    return Auditor(settings, log_sources=list(sources), clock=clock,
                   statements=statements if statements is not None else release_statements())


def stored_rules(db_url: str, result: AuditResult) -> list[tuple[str, str | None]]:
    assert result.run_id is not None
    with open_database(db_url)() as session:
        return sorted((f.rule, f.component) for f in run_findings(session, result.run_id))


# -- crawl ----------------------------------------------------------------------------------


def test_a_complete_crawl_stores_verified_entries_and_is_recorded_at_the_clocks_time(
        db_url: str, clock: FixedClock) -> None:
    log = FakeLog("fake-log", ("kernel", "stage0"))
    with auditor(settings_for(db_url), clock, log) as service:
        result = service.crawl()
    assert log.closed, "the service closes the sources it was given"
    (job,) = log.jobs
    assert job.keyset.components.keys() == set(RELEASE_COMPONENTS)
    assert job.request == CrawlRequest()
    assert result.exit_code == ExitCode.CLEAN and result.complete
    assert result.crawl is not None
    assert (result.crawl.new, result.crawl.verified, result.crawl.failed) == (2, 2, 0)
    assert result.crawl.findings == []
    assert result.started == NOW
    with open_database(db_url)() as session:
        run = latest_run(session, None)
    assert run is not None and run.id == result.run_id
    assert (run.kind, run.exit_code, run.complete) == ("crawl", 0, True)
    assert run.started_at == NOW


def test_a_second_crawl_of_the_same_entries_stores_nothing_new(db_url: str,
                                                               clock: FixedClock) -> None:
    first = auditor(settings_for(db_url), clock, FakeLog("fake-log", ("kernel",))).crawl()
    again = auditor(settings_for(db_url), clock, FakeLog("fake-log", ("kernel",))).crawl()
    assert first.crawl is not None and again.crawl is not None
    assert (first.crawl.new, again.crawl.new) == (1, 0)
    assert again.exit_code == ExitCode.CLEAN


def test_an_incomplete_source_makes_the_crawl_exit_3_and_keeps_what_it_stored(
        db_url: str, clock: FixedClock) -> None:
    complete = FakeLog("log-a", ("kernel",))
    gave_up = FakeLog("log-b", ("stage0",), incomplete="gave up after 7 attempts")
    result = auditor(settings_for(db_url), clock, complete, gave_up).crawl()
    assert result.exit_code == ExitCode.INCOMPLETE and not result.complete
    assert result.crawl is not None
    assert result.crawl.source == "log-a, log-b" and result.crawl.new == 2
    assert result.crawl.incomplete_reason == "log-b: gave up after 7 attempts"
    with open_database(db_url)() as session:
        run = latest_run(session, None)
    assert run is not None and (run.exit_code, run.complete) == (3, False)


def test_an_integrity_finding_beats_an_incomplete_crawl(db_url: str,
                                                        clock: FixedClock) -> None:
    """The kernel entry, listed by the log under the stage0 key, is signed by a key stage0 does
    not pin: WRONG_KEY, derived from the stored entry, fails the crawl (exit 1, not 3)."""
    settings = settings_for(db_url, keyset=release_keys(("stage0",)))
    log = FakeLog("fake-log", ("kernel",), listed_under={"kernel": "stage0"},
                  incomplete="the log did not serve 1 entry")
    result = auditor(settings, clock, log).crawl()
    assert not result.complete
    assert result.exit_code == ExitCode.FINDINGS
    assert result.crawl is not None and result.crawl.failed == 1
    rules = {(f.rule, f.component) for f in result.crawl.integrity_findings}
    assert rules == {(RuleId.WRONG_KEY, "stage0")}
    assert stored_rules(db_url, result) == [("WRONG_KEY", "stage0")]


def test_a_crawl_without_component_keys_is_a_config_error(db_url: str,
                                                          clock: FixedClock) -> None:
    log = FakeLog("fake-log", ("kernel",))
    with pytest.raises(ConfigError, match="no component keys"):
        auditor(settings_for(db_url, keyset=KeySet()), clock, log).crawl()
    assert log.jobs == []


def test_a_signal_records_the_run_as_interrupted_and_propagates(db_url: str,
                                                                clock: FixedClock) -> None:
    log = FakeLog("fake-log", ("kernel",), stop=Interrupted("SIGTERM", 143))
    service = auditor(settings_for(db_url), clock, log)
    with pytest.raises(Interrupted):
        service.crawl()
    with open_database(db_url)() as session:
        run = latest_run(session, None)
    assert run is not None and (run.kind, run.exit_code) == ("crawl", 143)
    assert run.summary["interrupted"] == "SIGTERM" and not run.complete


# -- run and reconcile ----------------------------------------------------------------------


def test_a_run_crawls_then_reconciles_the_release_from_what_the_source_stored(
        db_url: str, clock: FixedClock, tmp_path: Path) -> None:
    log = FakeLog("fake-log", RELEASE_COMPONENTS)
    settings = settings_for(db_url, releases=[evidence_release(tmp_path)], offline=False)
    result = auditor(settings, clock, log).run()
    assert len(log.jobs) == 1
    assert result.exit_code == ExitCode.CLEAN, stored_rules(db_url, result)
    assert result.tally.matches == 5
    assert stored_rules(db_url, result) == sorted(
        [("MATCH", c) for c in RELEASE_COMPONENTS]
        + [("OBSERVED_UNCOVERED", "acpi"), ("OBSERVED_UNCOVERED", "memory_map")])
    (release,) = result.releases
    assert {s.status for s in release.statuses} == {"match", "info"}


def test_an_offline_run_judges_the_store_without_crawling(db_url: str, clock: FixedClock,
                                                          tmp_path: Path) -> None:
    """What an earlier crawl stored, judged offline: the entries no release accounts for are
    UNEXPECTED_ENDORSEMENT (a possible key misuse), which fails the run."""
    auditor(settings_for(db_url), clock, FakeLog("fake-log", ("kernel", "stage0"))).crawl()
    log = FakeLog("fake-log", ("kernel", "stage0"))
    manifest = tmp_path / "cmdline.toml"
    manifest.write_text(f'[components.kernel_cmd_line]\ncmdline = "{CMDLINE}"\n')
    settings = settings_for(db_url, offline=True,
                            releases=[ReleaseRef("cmdline-only", manifest)])
    result = auditor(settings, clock, log).run()
    assert log.jobs == [] and result.crawl is None and result.offline
    assert result.exit_code == ExitCode.FINDINGS
    assert stored_rules(db_url, result) == [
        ("NOT_ENDORSED", "kernel_cmd_line"), ("UNEXPECTED_ENDORSEMENT", "kernel"),
        ("UNEXPECTED_ENDORSEMENT", "stage0")]


def test_suppressions_expire_by_the_injected_clock(db_url: str, tmp_path: Path) -> None:
    """The kernel entry no release accounts for is UNEXPECTED_ENDORSEMENT (high), suppressed
    until 2031-01-01: on 2030-12-31 the run passes, on the clock's 2031-03-14 it fails."""
    components = ("kernel", "kernel_cmd_line")
    auditor(settings_for(db_url), FixedClock(NOW), FakeLog("fake-log", components)).crawl()
    manifest = tmp_path / "cmdline.toml"
    manifest.write_text(f'[components.kernel_cmd_line]\ncmdline = "{CMDLINE}"\n')
    suppression = Suppression(RuleId.UNEXPECTED_ENDORSEMENT, "kernel",
                              "a kernel of another release", date(2031, 1, 1))
    settings = settings_for(db_url, offline=True, suppressions=[suppression],
                            releases=[ReleaseRef("cmdline-only", manifest)],
                            keyset=release_keys(components))
    before = auditor(settings, FixedClock(datetime(2030, 12, 31, tzinfo=UTC))).run()
    after = auditor(settings, FixedClock(NOW)).run()
    assert before.tally.suppressed == 1 and before.exit_code == ExitCode.CLEAN
    assert after.tally.suppressed == 0 and after.exit_code == ExitCode.FINDINGS


def test_reconcile_one_release_against_the_stored_endorsements(db_url: str,
                                                               clock: FixedClock) -> None:
    auditor(settings_for(db_url), clock, FakeLog("fake-log", ("kernel_cmd_line",))).crawl()
    service = auditor(settings_for(db_url), clock)
    matching = Release("one-off", components={
        "kernel_cmd_line": ComponentInput("kernel_cmd_line", cmdline=CMDLINE)})
    other = Release("one-off", components={
        "kernel_cmd_line": ComponentInput("kernel_cmd_line", cmdline="console=ttyS1 init=/x")})
    assert service.reconcile(matching).exit_code == ExitCode.CLEAN
    mismatch = service.reconcile(other)
    assert mismatch.exit_code == ExitCode.FINDINGS
    assert stored_rules(db_url, mismatch) == [("CMDLINE_MISMATCH", "kernel_cmd_line")]


def test_nothing_to_do_is_a_config_error(db_url: str, clock: FixedClock) -> None:
    settings = settings_for(db_url, offline=True, keyset=KeySet(), keys_chosen=False)
    with pytest.raises(ConfigError, match="nothing to audit"):
        auditor(settings, clock).run()


# -- statements over HTTP: the shared retries, without sleeping ------------------------------


@pytest.fixture
def flaky_store() -> Iterator[tuple[LocalServer, list[int]]]:
    """A statement store that answers 503 (with Retry-After: 30) to the first two requests for
    each file, then the file; `failures[0]` sets how many failures each file gets."""
    files = release_statements(("kernel",)).files
    failures = [2]
    seen: dict[str, int] = {}

    def route(request: Request) -> Reply:
        digest = request.path.rsplit("sha2-256:", 1)[-1]
        seen[digest] = seen.get(digest, 0) + 1
        if seen[digest] <= failures[0]:
            return Reply(503, b"busy", {"Retry-After": "30"})
        if digest not in files:
            return Reply(404, b"")
        return Reply(200, files[digest], {"Content-Type": "application/octet-stream"})

    with LocalServer(route) as server:
        yield server, failures


def http_statements(url: str, fake: FakeTime, retries: int) -> HttpStore:
    policy = RetryPolicy(max_retries=retries, backoff_base=1.0)
    return HttpStore(url, HttpClient("statement store", requests_per_second=math.inf,
                                     policy=policy, sleep=fake.sleep, clock=fake.clock))


def test_statement_fetches_are_retried_with_back_off_that_does_not_sleep(
        db_url: str, clock: FixedClock,
        flaky_store: tuple[LocalServer, list[int]]) -> None:
    server, _ = flaky_store
    fake = FakeTime()
    started = time.monotonic()
    result = auditor(settings_for(db_url), clock, FakeLog("fake-log", ("kernel",)),
                     statements=http_statements(server.url, fake, retries=3)).crawl()
    assert time.monotonic() - started < 20, "back-off must not really sleep"
    assert result.exit_code == ExitCode.CLEAN and result.crawl is not None
    assert (result.crawl.verified, result.crawl.statements_unavailable) == (1, 0)
    # Two files (statement, inline subject), each refused twice with Retry-After: 30.
    assert fake.sleeps == [30.0] * 4
    assert len(server.requests) == 6


def test_a_statement_store_that_keeps_failing_leaves_the_crawl_incomplete(
        db_url: str, clock: FixedClock,
        flaky_store: tuple[LocalServer, list[int]]) -> None:
    server, failures = flaky_store
    failures[0] = 100
    fake = FakeTime()
    result = auditor(settings_for(db_url), clock, FakeLog("fake-log", ("kernel",)),
                     statements=http_statements(server.url, fake, retries=2)).crawl()
    assert result.exit_code == ExitCode.INCOMPLETE and result.crawl is not None
    assert "statement store GET" in (result.crawl.incomplete_reason or "")
    assert "gave up after 3 attempts; last: HTTP 503" in (result.crawl.incomplete_reason or "")
    assert fake.sleeps == [30.0, 30.0] and len(server.requests) == 3
