"""Several crawlers on one database: nothing duplicated, nothing lost, one chain writer.

Each test runs on SQLite (WAL) and PostgreSQL. The guarantees come from the database: unique
constraints, transactions, the run lock, and the log-row lock every writing transaction takes
before it reads or extends a checkpoint chain (auditor.store.repository.lock_log).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine

from auditor.crawl.interface import CrawlJob
from auditor.crawl.rekor_v1 import RekorV1Crawl, RekorV1Source
from auditor.crawl.summary import CrawlSummary
from auditor.findings import Finding
from auditor.keyset import KeySet
from auditor.source.rekor_client import RekorClient
from auditor.source.statements import EmptyStore
from auditor.store import database
from auditor.store.database import engine_of, open_database
from auditor.verify.trust import load_keyring
from testlog import Endorser, RekorLog, RunningServer
from testlog.synthetic import add_endorsements
from tests.db.crawling import ENTRIES, CrawlSetup, contents

CRAWLERS = 4


def crawl_once(setup: CrawlSetup, url: str) -> CrawlSummary:
    source, job = setup.crawler(url)
    try:
        summary = source.crawl(job)
    finally:
        source.close()
    assert summary.complete and not summary.integrity_findings, summary.to_json()
    return summary


def expected_from_the_log(setup: CrawlSetup) -> tuple[list[str], list[tuple[int, int, str]]]:
    """What any complete crawl must store, computed from the log itself."""
    leaves = sorted(e.entry.leaf_hash.hex() for e in setup.endorsements)
    shard = setup.log.active
    return leaves, [(shard.tree_id, shard.size, shard.tree.root().hex())]


@pytest.mark.parametrize("create", [True, False])
def test_a_schema_committed_between_the_two_looks_is_opened(
        db_url: str, monkeypatch: pytest.MonkeyPatch, create: bool) -> None:
    """Another process creating the schema commits it after this one read no revision and
    before it looked for tables (the race the crawlers below once hit: exit 2, "revision
    none"): the revision is read again, not refused."""
    engine_of(open_database(db_url)).dispose()  # the other process's schema, committed
    real, looks = database.current_revision, []

    def none_at_first(engine: Engine) -> str | None:
        looks.append(engine)
        return None if len(looks) == 1 else real(engine)

    monkeypatch.setattr(database, "current_revision", none_at_first)
    engine_of(open_database(db_url, create=create)).dispose()
    assert len(looks) == 2


def test_crawl_processes_started_at_once_store_what_one_crawl_stores(
        crawl_setup: CrawlSetup, db_url: str, reference_url: str) -> None:
    # Slow answers keep the runs overlapping; the database does not exist yet, so the
    # processes also race to create its schema.
    crawl_setup.server.faults.delay = 0.02
    processes = [
        subprocess.Popen([sys.executable, "-m", "auditor", "crawl", *crawl_setup.flags(),
                          "--db", db_url, "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "AUDITOR_DB": db_url})
        for _ in range(CRAWLERS)]
    outputs = [process.communicate(timeout=300) for process in processes]
    codes = [process.returncode for process in processes]
    assert set(codes) <= {0, 75} and 0 in codes, outputs
    for code, (_, stderr) in zip(codes, outputs, strict=True):
        assert "Traceback" not in stderr
        assert code == 0 or "another audit run holds the lock" in stderr
    crawl_setup.server.faults.delay = 0
    crawl_once(crawl_setup, reference_url)
    stored = contents(db_url)
    assert stored == contents(reference_url)
    leaves, checkpoints = expected_from_the_log(crawl_setup)
    assert [e[0] for e in stored["entries"]] == leaves
    assert stored["checkpoints"] == checkpoints


def test_crawlers_bypassing_the_run_lock_store_each_entry_once(
        crawl_setup: CrawlSetup, db_url: str, reference_url: str) -> None:
    start = threading.Barrier(CRAWLERS)

    def crawl() -> CrawlSummary:
        start.wait(timeout=60)  # all at once, from creating the schema on
        return crawl_once(crawl_setup, db_url)

    with ThreadPoolExecutor(CRAWLERS) as pool:
        summaries = [f.result() for f in [pool.submit(crawl) for _ in range(CRAWLERS)]]
    # Each entry was new to exactly one crawler: none stored twice, none lost.
    assert sum(s.new for s in summaries) == ENTRIES
    crawl_once(crawl_setup, reference_url)
    stored = contents(db_url)
    assert stored == contents(reference_url)
    leaves, checkpoints = expected_from_the_log(crawl_setup)
    assert [e[0] for e in stored["entries"]] == leaves
    assert stored["checkpoints"] == checkpoints
    assert len(stored["endorsements"]) == len(stored["verifications"]) == ENTRIES


def test_a_checkpoint_chain_has_one_writer_at_a_time(
        rekor_log: RekorLog, rekor_server: RunningServer, endorsers: list[Endorser],
        tmp_path: Path, db_url: str) -> None:
    """A split view shown to two concurrent crawlers is caught, whichever commits first.

    Crawler A sees a forked head and stores it (its proof from the stored size is valid in
    the fork) but has not committed; crawler B sees the honest head of the same size. B must
    wait for A and then compare against A's head: a split view. Were B to read the chain
    before A's commit, both would link to the old head, each with a valid proof, and the
    fork would pass unseen.
    """
    add_endorsements(rekor_log, endorsers, 10)
    key = tmp_path / "log.pem"
    key.write_bytes(rekor_log.signer.public_pem)
    keyring = load_keyring([key], None)
    reports: dict[str, list[Finding]] = {}
    a_stored, a_may_commit = threading.Event(), threading.Event()

    def observe(name: str, stored: threading.Event | None = None,
                may_commit: threading.Event | None = None) -> None:
        sessions = open_database(db_url)
        with RekorClient(rekor_server.url, requests_per_second=1000) as client, \
                sessions.begin() as session:
            crawl = RekorV1Crawl(RekorV1Source(client, keyring),
                                 CrawlJob(sessions, KeySet(), EmptyStore()))
            reports[name] = crawl.observe_heads(session)
            if stored is not None and may_commit is not None:
                stored.set()
                may_commit.wait(timeout=60)

    observe("first")
    assert reports["first"] == []
    add_endorsements(rekor_log, endorsers, 10)
    rekor_log.fork(at=15)
    rekor_server.faults.serve_fork = True
    a = threading.Thread(target=observe, args=("a", a_stored, a_may_commit))
    b = threading.Thread(target=observe, args=("b",))
    try:
        a.start()
        assert a_stored.wait(timeout=60)
        rekor_server.faults.serve_fork = False
        b.start()
        b.join(timeout=1.0)
        assert b.is_alive(), "crawler B went ahead while A held the log's lock"
    finally:
        a_may_commit.set()
        a.join(timeout=60)
        b.join(timeout=60)
    assert reports["a"] == []
    (finding,) = reports["b"]
    assert finding.rule == "LOG_INCONSISTENT" and "split view" in finding.detail
    assert finding.evidence["checkpoint_before"] != finding.evidence["checkpoint_after"]
