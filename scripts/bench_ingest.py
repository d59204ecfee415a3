#!/usr/bin/env python3
"""Benchmark: end-to-end ingest on SQLite and PostgreSQL against the machine's ECDSA rate.

One run builds a local test log (scripts/bench_crawl.py's), crawls it into a fresh SQLite file
and a fresh PostgreSQL database (entries fetched, verified and stored per second), and measures
this machine's ECDSA P-256 verifications per second with `openssl speed`. Each entry needs at
least two signature verifications (the log's promise and the signer's signature); ours does
four (auditor/verify/entry.py: signed entry timestamp, checkpoint, body signature, endorsement
signature), which bounds the entries per second one core can ingest.

    python scripts/bench_ingest.py [--entries 2000] [--postgres-url URL]

Without --postgres-url a throwaway cluster is started as the tests do (tests/postgres.py).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_crawl import build_log, timed_crawl

from auditor.store.database import engine_of, open_database
from testlog import serve

#: Signature verifications per entry: the minimum, and what auditor.verify.entry does.
MINIMUM_VERIFICATIONS = 2
OUR_VERIFICATIONS = 4


def openssl_verify_rate(seconds: int = 3) -> float:
    """ECDSA P-256 verifications per second on one core, from `openssl speed`."""
    output = subprocess.run(["openssl", "speed", "-seconds", str(seconds), "ecdsap256"],
                            capture_output=True, text=True, check=True).stdout
    # The table's last line: " 256 bits ecdsa (nistp256)   0.0000s   0.0001s  41234.5  12345.6"
    # whose columns are sign, verify, sign/s, verify/s.
    for line in output.splitlines():
        match = re.search(r"ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", line)
        if match:
            return float(match.group(2))
    raise RuntimeError(f"no nistp256 verify/s in openssl speed's output:\n{output}")


@contextmanager
def postgres_url(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    from tests.postgres import start_cluster

    cluster = start_cluster()
    try:
        yield cluster.create_database()
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--postgres-url", default=None,
                        help="an empty PostgreSQL database (default: a throwaway cluster)")
    args = parser.parse_args()

    verify_rate = openssl_verify_rate()
    with tempfile.TemporaryDirectory() as tmp, postgres_url(args.postgres_url) as pg_url:
        work = Path(tmp)
        bench = build_log(args.entries, work)
        print(f"built a log of {args.entries} entries in {bench.build_seconds:.1f} s")
        rates = {}
        with serve(bench.log) as server:
            for backend, url in (("sqlite", f"sqlite:///{work / 'bench.db'}"),
                                 ("postgresql", pg_url)):
                sessions = open_database(url)
                summary, elapsed = timed_crawl(bench, server.url, sessions)
                engine_of(sessions).dispose()
                assert summary.new == summary.verified == args.entries, summary.to_json()
                rates[backend] = summary.new / elapsed
                print(f"{backend:>10}: {summary.new} entries fetched, verified and stored in "
                      f"{elapsed:.2f} s = {rates[backend]:.0f} entries/s")
    print(f"openssl speed ecdsap256: {verify_rate:.0f} verify/s (one core)")
    for count in (MINIMUM_VERIFICATIONS, OUR_VERIFICATIONS):
        bound = verify_rate / count
        shares = ", ".join(f"{backend} {rate / bound:.1%}" for backend, rate in rates.items())
        print(f"bound at {count} verifications/entry: {bound:.0f} entries/s; "
              f"ingest reaches {shares} of it")
    print(f"postgresql / sqlite = {rates['postgresql'] / rates['sqlite']:.2f}")


if __name__ == "__main__":
    main()
