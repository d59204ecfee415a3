"""scripts/bench_ingest.py prints what issue 13 asks for: per crawl, entries per CPU-second
of the auditor, its ratio to the two-ECDSA bound from `openssl speed` measured in the same
run, wall entries/s and peak RSS; the table the README records; and, for a distant log, the
wall rate against the rate's bound. A small log keeps it quick."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_ingest.py"


def bench(*args: str) -> str:
    result = subprocess.run([sys.executable, str(SCRIPT), "--backends", "sqlite", *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_the_figures_and_the_table_agree_with_the_bound() -> None:
    out = bench("--entries", "60")
    bound = float(re.search(r"the bound is ([\d,]+) entries per CPU-second", out)
                  .group(1).replace(",", ""))  # type: ignore[union-attr]
    line = re.search(r"sqlite: ([\d,]+) entries per CPU-second of the auditor \(([\d.]+) CPU-s.*"
                     r"= ([\d.]+)% of the bound; ([\d,]+) entries/s wall \(([\d.]+) s\); "
                     r"peak RSS (\d+) MB", out)
    assert line, out
    per_cpu, cpu, percent, wall, seconds, rss = line.groups()  # seconds printed to 0.01
    assert int(per_cpu.replace(",", "")) == pytest.approx(60 / float(cpu), rel=0.05, abs=2)
    assert float(percent) == pytest.approx(int(per_cpu.replace(",", "")) / bound * 100,
                                           abs=0.1)
    assert int(wall.replace(",", "")) == pytest.approx(60 / float(seconds), rel=0.05, abs=2)
    row = re.search(r"^\| 60 \| sqlite \| ([\d,]+) \| ([\d.]+) \| [\d.]+ s \| ([\d,]+) \| "
                    r"(\d+) MB \| ([\d.]+) s \| ([\d,]+) \|$", out, re.M)
    assert row, out
    assert row.group(1) == per_cpu and row.group(3) == wall and row.group(4) == rss
    assert float(row.group(2)) == pytest.approx(float(percent) / 100, abs=0.006)
    stored = re.search(r"the first entry stored after ([\d.]+) s, then ([\d,]+) entries/s", out)
    assert stored and stored.groups() == row.group(5, 6), out
    # From the crawl's start to its first entry stored, then on to its last: within the crawl.
    first, rate = float(stored.group(1)), int(stored.group(2).replace(",", ""))
    assert 0 < first and first + 59 / rate <= float(seconds) + 0.02, out


@pytest.mark.slow
def test_the_rss_growth_between_the_sizes_is_printed() -> None:
    """Issue 13 wants RSS flat in the number of entries: the run says how it grew."""
    out = bench("--entries", "30", "60")
    rows = dict(re.findall(r"^\| (\d+) \| sqlite \|.* \| (\d+) MB \| .* \|$", out, re.M))
    growth = re.search(r"^peak RSS, sqlite: ([\d.]+) MB at 30 entries, ([\d.]+) MB at 60: "
                       r"([+-][\d.]+) MB, ([+-][\d.]+) MB per 1,000 entries more$", out, re.M)
    assert growth and set(rows) == {"30", "60"}, out
    low, high, grown, per_thousand = map(float, growth.groups())
    # The table rounds the true figure to MB, the growth line to 0.1 MB (96.46 -> 96 and 96.5).
    assert low == pytest.approx(int(rows["30"]), abs=0.55)
    assert high == pytest.approx(int(rows["60"]), abs=0.55)
    assert grown == pytest.approx(high - low, abs=0.11)
    assert per_thousand == pytest.approx(grown / 30 * 1000, abs=0.1 / 30 * 1000)


@pytest.mark.slow
def test_the_worker_s_memory_is_its_own() -> None:
    """The verification worker is forked from the crawl's process (or spawned: forked, then
    exec'd). A fork's RSS counts the pages it shares with the crawl, and Linux keeps a
    high-water mark across exec, so `ru_maxrss` gave the worker the crawl's own RSS at the fork
    (94 MB at 20,000 entries, 125 at 100,000, where the worker held 57)."""
    out = bench("--entries", "60", "--worker-from", "10")
    line = re.search(r"peak RSS (\d+) MB \((\d+) MB before the crawl; the worker's own (\d+) "
                     r"MB\)", out)
    assert line, out
    peak, before, worker = map(int, line.groups())
    assert 0 < worker < before <= peak, out


@pytest.mark.slow
def test_a_distant_log_is_measured_against_the_rate() -> None:
    out = bench("--entries", "40", "--latency", "0.02", "--rate", "50", "--http-statements")
    reached = re.search(r"at 50 requests/s at most 500 entries/s come in \(10 per retrieve\): "
                        r"the crawl reached (\d+)% of that", out)
    wall = re.search(r"([\d,]+) entries/s wall", out)
    assert reached and wall, out
    assert int(reached.group(1)) == pytest.approx(int(wall.group(1)) / 500 * 100, abs=1)


@pytest.mark.slow
def test_the_profile_runs_the_same_crawl(tmp_path: Path) -> None:
    """scripts/profile_ingest.py starts bench_ingest's log server and profiles one crawl: a
    change to the server's arguments once killed it at its start, and the script said nothing
    and exited 0."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT.with_name("profile_ingest.py")), "--entries", "30",
         "--top", "3", "--out", str(tmp_path / "ingest.prof")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^30 entries in [\d.]+ s under cProfile", result.stdout, re.M), result.stdout
    assert "--- by cumulative ---" in result.stdout


@pytest.mark.slow
def test_the_tiles_benchmark_takes_a_log_smaller_than_its_sample() -> None:
    """scripts/bench_tiles.py on a log of fewer than 40 bundles (its hashing baseline's
    sample) ran, then died on a bundle the log does not have and waited forever."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT.with_name("bench_tiles.py")), "--sizes", "300"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^300 entries \(", result.stdout, re.M), result.stdout
    assert result.stdout.count("SHA-256 baseline (leaf hashes of the same entries)") == 2


@pytest.mark.slow
def test_the_kill_soak_runs_and_finds_the_store_whole(tmp_path: Path) -> None:
    """scripts/soak_kill.py (README, Reliability): one kill and the uninterrupted run after it,
    compared with a run of its own; it had no test, and a script that stops running says
    nothing until someone needs it."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT.with_name("soak_kill.py")),
         "--db", f"sqlite:///{tmp_path / 'soak.db'}",
         "--reference-db", f"sqlite:///{tmp_path / 'reference.db'}",
         "--entries", "60", "--iterations", "1", "--max-delay", "0.5"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "uninterrupted: 0 " in result.stdout, result.stdout
    assert re.search(r"^as one uninterrupted run .*'entries stored twice': 0\}",
                     result.stdout, re.M), result.stdout
