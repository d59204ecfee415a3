"""A crawl that verifies its batches in a worker process (auditor.verify_ahead), whole or in
part, stores exactly what a crawl verifying in its own process stores, entry by entry and check
by check, including the entries that fail; a worker that dies or fails a batch leaves the crawl
whole; the part of a batch verified in the crawl's own process balances the two."""

from __future__ import annotations

import errno
import gc
import json
import multiprocessing.connection
import multiprocessing.resource_tracker
import multiprocessing.util
import os
import signal
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import DBAPIError

from auditor import verify_ahead
from auditor.crawl import heap
from auditor.crawl.interface import CrawlJob, CrawlRequest
from auditor.crawl.rekor_v1 import RekorV1Crawl, RekorV1Source
from auditor.errors import IncompleteError
from auditor.keyset import KeySet
from auditor.source.rekor_client import RekorClient
from auditor.source.statements import DirectoryStore
from auditor.store import tables
from auditor.store.database import engine_of, open_database
from auditor.verify.keys import load_public_key
from auditor.verify.trust import load_keyring
from auditor.verify_ahead import StartMethod, VerifyAhead
from testlog import Endorser, RekorLog, RunningServer
from testlog.synthetic import add_endorsements
from tests.crawl.world import key_flags, save_statements

ENTRIES = 240
IN_PROCESS = 10**9  # worker_from: never
WORKER_FROM_DEFAULT = verify_ahead.WORKER_FROM


class FailingInWorker(DirectoryStore):
    """A statement directory that cannot answer in any process but `home` (the crawl's): every
    batch the worker prepares fails there and is prepared again in the crawl."""

    def __init__(self, directory: Path, home: int) -> None:
        super().__init__(directory)
        self.home = home

    def fetch(self, sha256_hex: str) -> bytes | None:
        if os.getpid() != self.home:
            raise IncompleteError("the statement mirror does not answer (in the worker)")
        return super().fetch(sha256_hex)


class DyingInWorker(DirectoryStore):
    """A statement directory whose worker copy is killed outright (as by the kernel's OOM
    killer) at its `at`th statement: in the middle of a batch."""

    def __init__(self, directory: Path, home: int, at: int) -> None:
        super().__init__(directory)
        self.home, self.at, self.asked = home, at, 0

    def fetch(self, sha256_hex: str) -> bytes | None:
        if os.getpid() != self.home:
            self.asked += 1
            if self.asked == self.at:
                os.kill(os.getpid(), signal.SIGKILL)
        return super().fetch(sha256_hex)


class FailingEverywhere(DirectoryStore):
    """A statement directory that cannot answer for one statement, wherever it is asked."""

    def __init__(self, directory: Path, broken: str) -> None:
        super().__init__(directory)
        self.broken = broken

    def fetch(self, sha256_hex: str) -> bytes | None:
        if sha256_hex == self.broken:
            raise IncompleteError(f"the statement mirror does not answer for {sha256_hex}")
        return super().fetch(sha256_hex)


@pytest.fixture
def served(rekor_log: RekorLog, rekor_server: RunningServer, endorsers: list[Endorser],
           tmp_path: Path) -> dict[str, Any]:
    """A log of endorsements by the component keys and a stranger, some of them failing: a
    signed entry timestamp and an inclusion proof tampered with, statements missing."""
    stranger = Endorser("stranger")
    endorsements = add_endorsements(rekor_log, [*endorsers, stranger], ENTRIES)
    statements = tmp_path / "statements"
    # A few statements the directory does not hold.
    save_statements(statements, [e for n, e in enumerate(endorsements) if n % 17 != 5])
    rekor_server.faults.tamper_set = rekor_server.faults.tamper_inclusion_proof = True
    rekor_server.faults.tamper_only = {3, 50, 121}
    (tmp_path / "log.pem").write_bytes(rekor_log.signer.public_pem)
    keyset = KeySet()
    for endorser in endorsers:
        keyset.add(endorser.name, load_public_key(endorser.public_pem), "test")
    # The stranger's entries are listed through the UUIDs asked for, not by a component key.
    stranger_uuids = tuple(e.entry.uuid for e in endorsements if e.endorser is stranger)
    return {"url": rekor_server.url, "log_key": tmp_path / "log.pem", "keyset": keyset,
            "statements": statements, "uuids": stranger_uuids,
            "first_statement": endorsements[0].statement_sha256}


@pytest.fixture(params=["fork", "spawn"])
def start(request: pytest.FixtureRequest) -> StartMethod:
    """How the worker starts: a fork of the crawl where that is safe, else a fresh interpreter
    (see verify_ahead._start_method). Here the log is served from a thread of this process,
    so each is chosen outright."""
    return cast(StartMethod, request.param)


def crawl(served: dict[str, Any], db_url: str, *, worker_from: int, share: float | None = 0.0,
          statements: DirectoryStore | None = None,
          start: StartMethod | None = None) -> RekorV1Crawl:
    """One crawl of `served`; `share`: of each batch, what the crawl's own process verifies
    once the worker has started (0: the worker verifies whole batches; None: as measured)."""
    sessions = open_database(db_url)
    try:
        with RekorClient(served["url"], requests_per_second=1000) as client:
            source = RekorV1Source(client, load_keyring([served["log_key"]], None),
                                   worker_from=worker_from)
            job = CrawlJob(sessions, served["keyset"],
                           statements or DirectoryStore(served["statements"]),
                           CrawlRequest(uuids=served["uuids"]))
            run = RekorV1Crawl(source, job)
            run._verifying = VerifyAhead(run.ingest.preparer, worker_from=worker_from,
                                         share=share, start=start)
            run.run()
            return run
    finally:
        engine_of(sessions).dispose()


def _workers(parent: int | None = None) -> list[int]:
    """The workers of `parent` (default: this process): its children spawned by
    multiprocessing, or forked (running its own command line)."""
    parent = os.getpid() if parent is None else parent
    try:
        own = Path(f"/proc/{parent}/cmdline").read_bytes()
    except OSError:
        own = None
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if int(stat.rpartition(")")[2].split()[1]) == parent and \
                (b"spawn_main" in command or command == own):
            found.append(int(entry.name))
    return found


def stored(db_url: str) -> dict[str, Any]:
    """What a crawl stored, by the entries' UUIDs (not row ids or times, nor the documents:
    the log signs its checkpoint anew in every answer)."""
    sessions = open_database(db_url)
    e, n, v, c = tables.entries, tables.endorsements, tables.verifications, tables.check_results
    try:
        with sessions() as session:
            entries = {row.uuid: (row.leaf_hash, row.kind, row.component, row.recheck,
                                  row.signer_key_sha256, row.integrated_time)
                       for row in session.execute(select(e))}
            endorsements = sorted(
                (row.uuid, row.dedup_key, row.component, row.statement_sha256,
                 row.statement_format, row.subject_name, row.signer_key_sha256, row.signature)
                for row in session.execute(select(e.c.uuid, n).join(n, n.c.entry_pk == e.c.id)))
            checks = sorted(
                (row.uuid, row.ok, row.position, row.name, row.check_ok, row.detail)
                for row in session.execute(
                    select(e.c.uuid, v.c.ok, c.c.position, c.c.name, c.c.ok.label("check_ok"),
                           c.c.detail)
                    .join(v, v.c.entry_pk == e.c.id).join(c, c.c.verification_pk == v.c.id)))
    finally:
        engine_of(sessions).dispose()
    return {"entries": entries, "endorsements": endorsements, "checks": checks}


@pytest.mark.parametrize("share", [0.0, 0.5, None], ids=["whole", "split", "measured"])
def test_a_crawl_verified_in_a_worker_stores_what_one_in_process_stores(
        served: dict[str, Any], db_url: str, tmp_path: Path, share: float | None,
        start: StartMethod) -> None:
    here = crawl(served, f"sqlite:///{tmp_path / 'here.db'}", worker_from=IN_PROCESS)
    there = crawl(served, db_url, worker_from=1, share=share, start=start)
    assert here._verifying.in_worker == 0 and here._verifying.here == ENTRIES
    assert there._verifying.redone == 0
    if share == 0.0:
        assert there._verifying.in_worker >= 5 and there._verifying.here == 0
    elif share == 0.5:  # the heads there, the tails here
        assert there._verifying.in_worker >= 5
        assert ENTRIES / 2 - 10 <= there._verifying.here <= ENTRIES / 2 + 10
    for run in (here, there):
        assert run.summary.complete and run.summary.new == ENTRIES
    expected = stored(f"sqlite:///{tmp_path / 'here.db'}")
    got = stored(db_url)
    assert len(got["entries"]) == ENTRIES
    assert sum(not ok for _, ok, *_ in got["checks"]) > 0  # failures are compared too
    assert got == expected
    summaries = [run.summary.to_json() for run in (here, there)]
    for summary in summaries:
        summary.pop("findings", None)
    assert summaries[0] == summaries[1]
    # (Their evidence quotes the checkpoints, which the log signed anew for each crawl.)
    assert [(f.rule, f.component, f.detail) for f in here.summary.findings] == \
        [(f.rule, f.component, f.detail) for f in there.summary.findings]
    assert here.summary.findings
    assert not _workers()  # the crawl ended its worker


def test_a_killed_worker_leaves_the_crawl_whole(served: dict[str, Any], db_url: str,
                                                tmp_path: Path, start: StartMethod) -> None:
    run = crawl(served, db_url, worker_from=1, start=start,
                statements=DyingInWorker(served["statements"], os.getpid(), at=60))
    assert run.summary.complete and run.summary.new == run.summary.verified + run.summary.failed
    assert run.summary.new == ENTRIES
    # The batches before were verified there; the batch it held when killed was verified
    # again here, and the next found it gone.
    assert run._verifying.in_worker >= 1 and run._verifying.redone == 1
    assert not _workers()
    crawl(served, f"sqlite:///{tmp_path / 'here.db'}", worker_from=IN_PROCESS)
    assert stored(db_url) == stored(f"sqlite:///{tmp_path / 'here.db'}")


def test_a_worker_that_cannot_be_started_leaves_the_crawl_whole(
        served: dict[str, Any], db_url: str, tmp_path: Path, start: StartMethod,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """At a process limit (EAGAIN) or under strict overcommit (ENOMEM) no process can be
    started: the crawl verifies in its own, as it does once a worker died."""
    def refused(*args: object, **kwargs: object) -> int:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    # What each start method creates its process with.
    monkeypatch.setattr(os, "fork", refused)
    monkeypatch.setattr(multiprocessing.util, "spawnv_passfds", refused)
    monkeypatch.setattr(multiprocessing.resource_tracker, "ensure_running", lambda: None)
    pipes: list[tuple[Connection, Connection]] = []
    pipe = multiprocessing.connection.Pipe

    def kept(duplex: bool = True) -> tuple[Connection, Connection]:
        pipes.append(pipe(duplex))
        return pipes[-1]

    monkeypatch.setattr(multiprocessing.connection, "Pipe", kept)
    run = crawl(served, db_url, worker_from=1, start=start)
    assert run.summary.complete and run.summary.new == ENTRIES
    assert run._verifying.in_worker == 0 and run._verifying.here == ENTRIES
    assert len(pipes) == 1 and all(end.closed for end in pipes[0])  # not left open
    monkeypatch.undo()
    crawl(served, f"sqlite:///{tmp_path / 'here.db'}", worker_from=IN_PROCESS)
    assert stored(db_url) == stored(f"sqlite:///{tmp_path / 'here.db'}")


def test_a_batch_the_worker_fails_is_prepared_again_in_the_crawl(
        served: dict[str, Any], db_url: str, tmp_path: Path, start: StartMethod) -> None:
    run = crawl(served, db_url, worker_from=1, start=start,
                statements=FailingInWorker(served["statements"], os.getpid()))
    assert run._verifying.in_worker == 0 and run._verifying.redone >= 5
    assert run.summary.complete and run.summary.new == ENTRIES
    crawl(served, f"sqlite:///{tmp_path / 'here.db'}", worker_from=IN_PROCESS)
    assert stored(db_url) == stored(f"sqlite:///{tmp_path / 'here.db'}")


@pytest.mark.parametrize("share", [0.0, 0.5], ids=["whole", "split"])
def test_a_statement_source_that_fails_stops_the_crawl_as_it_does_in_process(
        served: dict[str, Any], db_url: str, tmp_path: Path, share: float,
        start: StartMethod) -> None:
    runs = [crawl(served, url, worker_from=worker_from, share=share, start=start,
                  statements=FailingEverywhere(served["statements"], served["first_statement"]))
            for url, worker_from in ((db_url, 1),
                                     (f"sqlite:///{tmp_path / 'here.db'}", IN_PROCESS))]
    for run in runs:
        assert not run.summary.complete
        assert "does not answer for" in (run.summary.incomplete_reason or "")
    assert stored(db_url) == stored(f"sqlite:///{tmp_path / 'here.db'}")


class Timed:
    """A task whose items take `here` seconds each to verify in the process `home`, and
    `there` seconds each in any other (the worker); an item verified is its double."""

    portable = True

    def __init__(self, here: float, there: float, home: int) -> None:
        self.here, self.there, self.home = here, there, home

    def verify_all(self, batch: list[int], option: bool) -> list[int]:
        time.sleep(len(batch) * (self.here if os.getpid() == self.home else self.there))
        return [2 * item for item in batch]

    def packed(self, batch: list[int], option: bool) -> list[int]:
        return self.verify_all(batch, option)

    def unpacked(self, batch: list[int], packed: list[int]) -> list[int]:
        return packed


@pytest.mark.parametrize(("here", "there", "store"), [(2e-3, 2e-3, 1e-3), (1e-3, 3e-3, 5e-4)])
def test_the_share_verified_in_the_crawl_balances_the_worker(here: float, there: float,
                                                             store: float) -> None:
    """Per item the worker takes w = `there`, the crawl v = `here` and `store` besides: both
    are done together when the crawl verifies (w - store) / (w + v) of each batch."""
    # Spawned: a fork would have started by the first batch, which is verified here meanwhile.
    ahead: VerifyAhead[int, int] = VerifyAhead(Timed(here, there, os.getpid()), worker_from=1,
                                               start="spawn")
    handed: list[int] = []

    def stored(verified: list[int]) -> None:
        time.sleep(store * len(verified))
        handed.extend(verified)

    ahead.expect(1)
    ahead.submit(list(range(10)), stored)  # before the worker has started: verified here
    assert ahead.here == 10 and handed == list(range(0, 20, 2))
    deadline = time.monotonic() + 60
    while not ahead.worker_started and time.monotonic() < deadline:
        time.sleep(0.01)
    for start in range(10, 490, 40):
        ahead.submit(list(range(start, start + 40)), stored)
    ahead.close()
    assert handed == [2 * item for item in range(490)]  # whole, in order
    assert ahead.in_worker == 12 and ahead.redone == 0
    assert ahead.share == pytest.approx((there - store) / (there + here), abs=0.1)


@pytest.mark.parametrize("gone", ["before it started", "while it verified"])
def test_a_worker_whose_caller_stopped_reading_ends_quietly(
        gone: str, start: StartMethod, capfd: pytest.CaptureFixture[str]) -> None:
    """A caller stopped by Ctrl-C or SIGTERM closes its end of the pipe; the worker's next send
    raised BrokenPipeError, and multiprocessing printed "Process verify-ahead:" and a traceback
    under the caller's one line (seen once in CI, as the worker was killed mid-print)."""
    import multiprocessing

    context = multiprocessing.get_context("fork") if start == "fork" \
        else multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    task = Timed(0.0, 0.5, os.getpid())
    target, args = (verify_ahead._serve_forked, (theirs, ours, task, os.getpid(), True)) \
        if start == "fork" else (verify_ahead._serve, (theirs, task, os.getpid()))
    process = context.Process(target=target, name="verify-ahead", args=args)
    if gone == "before it started":
        ours.close()
        process.start()
    else:
        process.start()
        assert ours.recv() == "started"
        ours.send(([1, 2], False))  # a second of work, then its answer finds nobody
        ours.close()
    theirs.close()
    process.join(60)
    assert process.exitcode == 0
    assert "Traceback" not in capfd.readouterr().err


CRAWL_WITH_A_WORKER = """
import sys, time
from auditor.crawl.prepare import Preparer
from auditor.verify_ahead import StartMethod, VerifyAhead
from auditor.keyset import KeySet
from auditor.source.statements import EmptyStore
from auditor.verify.trust import LogKeyring

ahead = VerifyAhead(Preparer(KeySet(), EmptyStore(), LogKeyring((), "none")), worker_from=1,
                    share=0.0, start=sys.argv[1])
ahead.expect(1)
ahead.submit([], lambda prepared: None)  # waits for the worker's start (a fixed share)
assert ahead.worker_started
print("started", flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # ended, waiting to be reaped


def test_a_worker_whose_crawl_was_killed_outright_ends_itself(start: StartMethod) -> None:
    crawler = subprocess.Popen([sys.executable, "-c", CRAWL_WITH_A_WORKER, start],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert crawler.stdout is not None and crawler.stdout.readline() == "started\n"
        workers = _workers(crawler.pid)
        assert len(workers) == 1 and _alive(workers[0])
    finally:
        crawler.kill()
        crawler.wait()
    deadline = time.monotonic() + 10
    while _alive(workers[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(workers[0])


class Collector:
    """A task whose items verify into how the process verifying them collects garbage: its
    young generation's threshold, and whether anything is frozen out of its sight."""

    portable = True

    def verify_all(self, batch: list[int], option: bool) -> list[tuple[int, bool]]:
        return [(gc.get_threshold()[0], gc.get_freeze_count() > 0)] * len(batch)

    def packed(self, batch: list[int], option: bool) -> list[tuple[int, bool]]:
        return self.verify_all(batch, option)

    def unpacked(self, batch: list[int], packed: list[tuple[int, bool]]
                 ) -> list[tuple[int, bool]]:
        return packed


def test_the_worker_collects_garbage_as_a_crawl_does(start: StartMethod) -> None:
    """The worker verifies inside `fewer_collections` for its whole life. It once entered it
    with a bare `__enter__()` on a context manager nothing held: finalized at once, which ran
    its exit, and the worker collected at CPython's defaults (a pass every 700 objects)."""
    ahead: VerifyAhead[int, tuple[int, bool]] = VerifyAhead(Collector(), worker_from=1,
                                                            share=0.0, start=start)
    handed: list[tuple[int, bool]] = []
    ahead.expect(1)
    ahead.submit([1, 2], handed.extend)
    ahead.close()
    assert ahead.in_worker == 1
    assert handed == [(heap.YOUNG_THRESHOLD, True)] * 2


START_METHODS = """
import faulthandler, threading
from auditor.verify_ahead import _start_method

print(_start_method())
release = threading.Event()
other = threading.Thread(target=release.wait)
other.start()
print(_start_method())
release.set()
other.join()
print(_start_method())  # once joined: its end is waited for
faulthandler.dump_traceback_later(600)  # a native thread Python does not know of
print(threading.active_count(), _start_method())
faulthandler.cancel_dump_traceback_later()
"""


def test_the_worker_is_forked_only_from_a_process_running_one_thread() -> None:
    """Another thread may hold a lock as the crawl forks (an HTTP client's, a progress bar's,
    a standard stream's), which its copy would find held forever: then it is spawned. Asked in
    a process of its own: an xdist worker runs execnet's thread."""
    result = subprocess.run([sys.executable, "-c", START_METHODS], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n") == ["fork", "spawn", "fork", "1 spawn", ""]


FORKED_WORKER = r'''
import gc, os, sys
from auditor.verify_ahead import VerifyAhead

class Collecting:
    """Verifies in the worker after a full collection."""
    portable = True
    def verify_all(self, batch, option):
        gc.collect()
        return [2 * item for item in batch]
    packed = verify_all
    def unpacked(self, batch, packed):
        return packed

class Finalized:
    """Garbage of the caller's (in a cycle) whose finalizer says where it ran."""
    def __del__(self):
        with open(sys.argv[1], "a") as out:
            out.write(f"{os.getpid()}\n")

gc.disable()  # the cycle below is still garbage, uncollected, when the worker forks
garbage = Finalized()
garbage.cycle = garbage
del garbage
print("written once")  # to a pipe: held in the buffer, unwritten, as the worker forks
ahead = VerifyAhead(Collecting(), worker_from=1, share=0.0)
ahead.expect(1)
assert ahead._worker is not None and ahead._worker.forked
handed = []
for start in range(0, 40, 10):
    ahead.submit(list(range(start, start + 10)), handed.extend)
ahead.close()
assert handed == [2 * item for item in range(40)] and ahead.in_worker == 4, handed
gc.collect()
print(f"caller {os.getpid()}")
'''


def test_a_forked_worker_leaves_the_caller_s_output_and_garbage_alone(tmp_path: Path) -> None:
    """The fork inherits the caller's unwritten output and its uncollected garbage: flushed
    by the fork, the one would be written twice; collected in the fork, the other's
    finalizers would run there (a pooled database connection rolled back on the caller's
    socket)."""
    finalized = tmp_path / "finalized"
    result = subprocess.run([sys.executable, "-c", FORKED_WORKER, str(finalized)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "written once" and len(lines) == 2, result.stdout
    caller = lines[1].removeprefix("caller ")
    assert finalized.read_text().split() == [caller]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_crawl_stopped_with_its_worker_keeps_what_it_verified(
        rekor_log: RekorLog, rekor_server: RunningServer, endorsers: list[Endorser],
        tmp_path: Path, db_url: str, signum: signal.Signals) -> None:
    """Ctrl-C (or systemd's SIGTERM) reaches the crawl's whole process group, the worker too: the
    crawl stops with its one line and exit code, leaves no worker behind, and the next crawl
    fetches exactly what it had not stored."""
    entries = max(2_000, WORKER_FROM_DEFAULT)  # a second or more to stop it in
    endorsements = add_endorsements(rekor_log, endorsers, entries)
    save_statements(tmp_path / "statements", endorsements)
    (tmp_path / "log.pem").write_bytes(rekor_log.signer.public_pem)
    flags = ["--rekor-url", rekor_server.url, "--rekor-key", str(tmp_path / "log.pem"),
             "--statements", str(tmp_path / "statements"), "--rate", "100000", "--db", db_url,
             *key_flags(tmp_path, endorsers)]
    rekor_server.faults.delay = 0.005
    process = subprocess.Popen([sys.executable, "-m", "auditor", "crawl", *flags],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env={**os.environ, "AUDITOR_DB": db_url})
    try:
        deadline = time.monotonic() + 60
        while not (_workers(process.pid) and _stored_entries(db_url) > 0) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = _workers(process.pid)
        assert workers, "the crawl did not start its worker"
        os.killpg(process.pid, signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 128 + signum, stderr
    assert stderr.strip() == f"interrupted ({signum.name}): stopped; everything verified so " \
        "far is kept"
    assert not any(_alive(pid) for pid in workers)
    partial = _stored_entries(db_url)
    assert 0 < partial < entries
    rekor_server.faults.delay = 0
    resumed = subprocess.run([sys.executable, "-m", "auditor", "crawl", *flags, "--json"],
                             capture_output=True, text=True, timeout=300,
                             env={**os.environ, "AUDITOR_DB": db_url})
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["new"] == entries - partial
    assert _stored_entries(db_url) == entries


def _stored_entries(db_url: str) -> int:
    """Entries stored, read without the auditor's own opening (which creates the schema: a
    write that would contend with the crawl's)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(tables.entries)) or 0
    except DBAPIError:  # not created yet
        return 0
    finally:
        engine.dispose()
