#!/usr/bin/env python3
"""Benchmark: a first crawl of N entries and a no-op rerun against the local test log.

Prints request counts and wall times, and the ratio of the first crawl's time to the time of
merely fetching the same entries with the client (the baseline measured in the same run), so
the cost of verifying and storing is visible apart from the network.

    python scripts/bench_crawl.py --entries 10000 [--db-url URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.orm import Session, sessionmaker

from auditor.crawl.interface import CrawlJob
from auditor.crawl.rekor_v1 import RekorV1Source
from auditor.crawl.summary import CrawlSummary
from auditor.keyset import KeySet
from auditor.source.rekor_client import RekorClient
from auditor.source.statements import DirectoryStore
from auditor.store.database import open_database
from auditor.verify.keys import load_public_key
from auditor.verify.trust import LogKeyring, load_keyring
from testlog import Endorser, ManualClock, RekorLog, serve
from testlog.synthetic import Endorsement, add_endorsements


@dataclass
class BenchLog:
    """A local log of endorsements by four component keys, with what a crawl needs."""

    log: RekorLog
    endorsers: list[Endorser]
    keyset: KeySet
    keyring: LogKeyring
    statements: Path
    build_seconds: float
    endorsements: list[Endorsement]


def build_log(entries: int, work: Path) -> BenchLog:
    log = RekorLog(clock=ManualClock())
    endorsers = [Endorser(n) for n in ("stage0", "kernel", "init_ram_fs", "system_image")]
    started = time.perf_counter()
    endorsements = add_endorsements(log, endorsers, entries)
    build_seconds = time.perf_counter() - started
    statements = work / "statements"
    statements.mkdir()
    for e in endorsements:
        (statements / f"sha2-256:{e.statement_sha256}").write_bytes(e.statement)
    (work / "log.pem").write_bytes(log.signer.public_pem)
    keyset = KeySet()
    for endorser in endorsers:
        keyset.add(endorser.name, load_public_key(endorser.public_pem), "bench")
    keyring = load_keyring([work / "log.pem"], None)
    return BenchLog(log, endorsers, keyset, keyring, statements, build_seconds, endorsements)


def timed_crawl(bench: BenchLog, url: str, sessions: sessionmaker[Session]
                ) -> tuple[CrawlSummary, float]:
    """One crawl of the log served at `url`: (summary, wall seconds)."""
    with RekorClient(url, requests_per_second=1e9) as client:
        source = RekorV1Source(client, bench.keyring)
        job = CrawlJob(sessions, bench.keyset, DirectoryStore(bench.statements))
        started = time.perf_counter()
        summary = source.crawl(job)
        elapsed = time.perf_counter() - started
    assert summary.complete, summary.incomplete_reason
    return summary, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--db-url", default=None, help="default: a SQLite file in a temp dir")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bench = build_log(args.entries, work)
        print(f"built a log of {args.entries} entries in {bench.build_seconds:.1f} s")
        url = args.db_url or f"sqlite:///{work / 'bench.db'}"
        sessions = open_database(url)

        with serve(bench.log) as server:
            # Baseline: fetch every entry the crawl will fetch, verifying and storing nothing.
            with RekorClient(server.url, requests_per_second=1e9) as client:
                started = time.perf_counter()
                uuids = [u for e in bench.endorsers
                         for u in client.search_public_key(e.public_pem)]
                for i in range(0, len(uuids), 10):
                    client.retrieve(uuids=uuids[i:i + 10])
                fetch_only = time.perf_counter() - started
                fetch_requests = client.requests
            for label in ("first crawl", "no-op rerun"):
                server.requests.reset()
                summary, elapsed = timed_crawl(bench, server.url, sessions)
                print(f"{label}: {summary.new} new, {summary.verified} verified, "
                      f"{summary.requests} requests, {elapsed:.2f} s "
                      f"({summary.new / elapsed if summary.new else 0:.0f} entries/s)")
                if label == "first crawl":
                    first = elapsed
        print(f"baseline (fetch only, no verification or storage): {fetch_requests} requests, "
              f"{fetch_only:.2f} s; first crawl / baseline = {first / fetch_only:.1f}x")
        print("at the default 4 requests/s against the public log, the first crawl's requests "
              f"alone would take {fetch_requests / 4 / 60:.0f} min")


if __name__ == "__main__":
    main()
