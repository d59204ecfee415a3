"""Tiled-log scans across processes: killed and resumed, and split between scanners.

A range's entries and its done mark are one transaction; on PostgreSQL scanners claim ranges
with SELECT ... FOR UPDATE SKIP LOCKED, on SQLite the run lock lets one scanner work at a time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from auditor.store import models
from auditor.store.database import open_database
from testlog import Endorser, RequestKind, RunningTileServer
from tests.cli_runner import RunAudit
from tests.crawl.test_tiled import config
from tests.crawl.tiled_world import TiledWorld, stored_entries

SIZE = 12 * 256  # twelve bundles: twelve ranges of one bundle each
RANGE = 256


@pytest.fixture
def world(tiled_server: RunningTileServer, endorsers: list[Endorser],
          tmp_path: Path) -> TiledWorld:
    world = TiledWorld(tiled_server, endorsers, tmp_path)
    world.grow(SIZE)
    return world


def ranges(db_url: str) -> list[tuple[int, int, bool]]:
    with open_database(db_url)() as session:
        return [(r.start_index, r.end_index, r.done) for r in session.scalars(
            select(models.TileRange).order_by(models.TileRange.start_index))]


def scanner(path: Path, db_url: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "auditor", "crawl", "--config", str(path),
                             "--db", db_url, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "AUDITOR_DB": db_url})


def test_a_scan_killed_anywhere_resumes_to_the_result_of_one_scan(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    path = config(world, scan_range=RANGE)
    world.server.faults.stall(10_000, seconds=0.25, kind=RequestKind.BUNDLE)
    process = scanner(path, db_url)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                finished = sum(d for _, _, d in ranges(db_url))
            except Exception:  # the schema may not exist yet
                continue
            if finished >= 2:
                break
        process.send_signal(signal.SIGKILL)
    finally:
        process.communicate(timeout=30)
    partial = ranges(db_url)
    done = [(start, end) for start, end, finished in partial if finished]
    assert 2 <= len(done) < len(partial) == SIZE // RANGE, "the scan was not killed mid-way"
    # Exactly the entries of the done ranges were stored: a position moves with its entries.
    kept = stored_entries(db_url)
    assert kept == {(i, leaf) for i, leaf in world.expected()
                    if any(start <= i < end for start, end in done)}
    world.server.faults.clear()
    result = audit("crawl", "--config", str(path), "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 0, summary
    assert summary["new"] == len(world.expected()) - len(kept)
    assert summary["scanned"] == SIZE - RANGE * len(done)
    assert stored_entries(db_url) == world.expected()
    assert all(finished for _, _, finished in ranges(db_url))


def test_scanners_started_together_split_the_log_and_store_what_one_stores(
        world: TiledWorld, db_url: str) -> None:
    path = config(world, scan_range=RANGE)
    # Slow bundles keep the scanners overlapping.
    world.server.faults.stall(10_000, seconds=0.4, kind=RequestKind.BUNDLE)
    processes = [scanner(path, db_url) for _ in range(3)]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in processes]
    if db_url.startswith("sqlite"):
        # SQLite: one scanner at a time, under the run lock; the others are told so.
        assert sorted(code for code, _, _ in outcomes) == [0, 75, 75], outcomes
        (summary,) = [json.loads(out) for code, out, _ in outcomes if code == 0]
        assert summary["scanned"] == SIZE
    else:
        assert [code for code, _, _ in outcomes] == [0, 0, 0], outcomes
        summaries = [json.loads(out) for _, out, _ in outcomes]
        scanned = [s["scanned"] for s in summaries]
        # Every range was read by exactly one scanner, and more than one scanner worked.
        assert sum(scanned) == SIZE and sum(1 for n in scanned if n) >= 2, scanned
        assert sum(s["new"] for s in summaries) == len(world.expected())
        assert all(s["complete"] for s in summaries)
    assert stored_entries(db_url) == world.expected()
    assert all(finished for _, _, finished in ranges(db_url))
