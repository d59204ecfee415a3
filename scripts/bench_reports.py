#!/usr/bin/env python3
"""Benchmark: memory and time of the scheduled job and the reports as the store grows.

Fills a fresh SQLite store (or one per --db-url) with N logged endorsements (scripts/
bench_queries.py's `fill`: five components, 14 check results each, a stored finding per 100),
then runs, each as its own `audit` process, and prints its wall time and peak RSS:

- `audit run --offline` under a pinned kernel key (judges the whole store, records the run with
  every finding, writes no report),
- `audit report --format html` and `audit report --format json` of that run, to files.

Run at 20,000 and 200,000 entries (the default): peak RSS should stay flat as the store grows,
well under 300 MB; the ratio column divides the large store's figure by the small one's.

    python scripts/bench_reports.py [--entries 20000 200000] [--db-url URL ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_queries import fill
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from auditor.store.database import engine_of, open_database


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float
    exit_code: int
    output_mb: float | None = None


#: Runs its arguments as a child and prints the child's peak RSS (KiB) on stderr's last line.
#: The benchmark's own process holds the filled store's rows; a child forked from it would
#: inherit that high-water mark (Linux keeps it across exec), so a bare interpreter forks.
_LAUNCHER = """
import os, sys
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def audit(*args: str) -> Measured:
    """Run `audit ARGS` as its own process: wall time and its own peak RSS."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, sys.executable, "-m",
                           "auditor", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False)
    elapsed = time.perf_counter() - started
    *messages, peak_kib = done.stderr.strip().splitlines()
    if done.returncode not in (0, 1):  # 1: the run found something, as strangers' keys do
        raise SystemExit(f"audit {' '.join(args)} exited {done.returncode}: "
                         f"{' '.join(messages)}")
    return Measured(elapsed, int(peak_kib) / 1024, done.returncode)


def kernel_key(directory: Path) -> Path:
    pem = directory / "kernel.pem"
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem.write_bytes(key.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return pem


def measure(count: int, url: str, directory: Path) -> dict[str, Measured]:
    sessions = open_database(url)
    started = time.perf_counter()
    fill(sessions, count)
    engine_of(sessions).dispose()
    print(f"filled {count:,} entries in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    key = kernel_key(directory)
    out: dict[str, Measured] = {
        "audit run --offline": audit("run", "--offline", "--db", url, "--key", f"kernel={key}")}
    for fmt in ("html", "json"):
        target = directory / f"report.{fmt}"
        measured = audit("report", "--format", fmt, "--output", str(target), "--db", url)
        out[f"audit report --format {fmt}"] = Measured(
            measured.seconds, measured.peak_rss_mb, measured.exit_code,
            target.stat().st_size / 2**20)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--db-url", nargs="*", default=[],
                        help="one empty database per --entries value (default: SQLite files)")
    args = parser.parse_args()
    results: dict[int, dict[str, Measured]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n, count in enumerate(args.entries):
            directory = Path(tmp) / str(count)
            directory.mkdir()
            url = args.db_url[n] if n < len(args.db_url) else f"sqlite:///{directory / 'a.db'}"
            results[count] = measure(count, url, directory)
    smallest = results[args.entries[0]]
    print(f"{'command':28} {'entries':>8} {'seconds':>8} {'peak RSS MB':>12} {'output MB':>10}"
          f" {'RSS ratio':>10}")
    for count, measured in results.items():
        for name, m in measured.items():
            output = f"{m.output_mb:10.1f}" if m.output_mb is not None else f"{'':10}"
            ratio = m.peak_rss_mb / smallest[name].peak_rss_mb
            print(f"{name:28} {count:8,} {m.seconds:8.1f} {m.peak_rss_mb:12.0f} {output} "
                  f"{ratio:9.2f}x")


if __name__ == "__main__":
    main()
