#!/usr/bin/env python3
"""Benchmark: `audit import` of a large directory of Oak component directories, per CPU-second.

Builds a local log of N Oak-style endorsements (scripts/bench_crawl.py's), fetches every entry
once, and writes each endorsement as Oak's exploded layout (`<n>/endorsement.json`,
`endorsement.json.sig`, `logentry.json`). Then runs, in a fresh process each,
`audit import DIR --rekor-key PEM --key NAME=PEM ... --db sqlite:///... --json` and prints
its CPU (user + system, the Python start-up included), entries per CPU-second, wall rate and
peak RSS, against `openssl speed ecdsap256`'s bound as scripts/bench_ingest.py does.

    python scripts/bench_import.py [--entries 2000 20000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_crawl import build_log
from bench_ingest import MINIMUM_VERIFICATIONS, openssl_verify_rate

from auditor.source.rekor_client import RETRIEVE_LIMIT, RekorClient
from testlog import serve


def write_directory(entries: int, work: Path) -> list[str]:
    """The endorsements as component directories under `work/import`; the CLI's key flags."""
    bench = build_log(entries, work)
    with serve(bench.log) as server, RekorClient(server.url, requests_per_second=1e9) as client:
        uuids = [u for e in bench.endorsers for u in client.search_public_key(e.public_pem)]
        raws = [raw for start in range(0, len(uuids), RETRIEVE_LIMIT)
                for raw in client.retrieve(uuids=uuids[start:start + RETRIEVE_LIMIT])
                .by_uuid.values()]
    by_uuid = {raw.uuid: raw for raw in raws}
    for n, endorsement in enumerate(bench.endorsements):
        directory = work / "import" / f"{n:06d}"
        directory.mkdir(parents=True)
        (directory / "endorsement.json").write_bytes(endorsement.statement)
        (directory / "endorsement.json.sig").write_bytes(endorsement.signature)
        (directory / "logentry.json").write_bytes(by_uuid[endorsement.entry.uuid].raw)
    flags = ["--rekor-key", str(work / "log.pem")]
    for endorser in bench.endorsers:
        path = work / f"{endorser.name}.pem"
        path.write_bytes(endorser.public_pem)
        flags += ["--key", f"{endorser.name}={path}"]
    return flags


#: Runs the command given and prints its peak RSS (KiB) last on stderr. `audit import` is started
#: from this small process, not from the benchmark's: a child forked from a large process starts
#: with that process's pages, and its peak RSS would be the benchmark's.
LAUNCHER = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
            "sys.exit(code)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[2_000, 20_000])
    args = parser.parse_args(argv)
    bound = openssl_verify_rate() / MINIMUM_VERIFICATIONS
    print(f"bound: {bound:,.0f} entries per CPU-second")
    for entries in args.entries:
        with tempfile.TemporaryDirectory(prefix="bench-import-") as temporary:
            work = Path(temporary)
            flags = write_directory(entries, work)
            command = [sys.executable, "-c", LAUNCHER, sys.executable, "-m", "auditor", "import",
                       str(work / "import"), *flags, "--db", f"sqlite:///{work / 'import.db'}",
                       "--json"]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, check=False)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            peak_mb = int(done.stderr.decode().splitlines()[-1]) / 1024
            if done.returncode != 0:
                raise SystemExit(f"audit import exited {done.returncode}: "
                                 f"{done.stderr.decode()[-2000:]}")
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            print(f"{entries:,} entries: {entries / cpu:,.0f} entries per CPU-second "
                  f"({cpu:.2f} CPU-s, start-up included) = {entries / cpu / bound:.1%} of the "
                  f"bound; {entries / wall:,.0f} entries/s wall; peak RSS {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
