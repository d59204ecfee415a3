#!/usr/bin/env python3
"""Benchmark: does verifying a crawl's entries in a process pool pay on this machine?

Builds a local log of N Oak-style endorsements, fetches them, and runs `verify_entry` (the
pure function behind every named check) on all of them: in this process, then in pools of 1
and 2 worker processes (spawned, the log keys sent once per worker, entries sent in chunks of
50, results sent back: the crawl stores them in its own process). Prints, for each, CPU per
entry of this process and of all processes (workers included), and entries per second wall.

    python scripts/bench_verify_pool.py [--entries 4000] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_crawl import build_log

from auditor.source.entry import LogEntry
from auditor.source.rekor_client import RekorClient
from auditor.verify.body import EntryBody, parse_body
from auditor.verify.entry import EndorsementMaterial, Verification, verify_entry
from auditor.verify.trust import LogKeyring
from testlog import serve

Work = tuple[LogEntry, EndorsementMaterial, EntryBody]
CHUNK = 50
_keyring: LogKeyring | None = None


def _start(keyring: LogKeyring) -> None:
    global _keyring
    _keyring = keyring


def _verify(chunk: list[Work]) -> list[Verification]:
    assert _keyring is not None
    return [verify_entry(entry, _keyring, material, body=body) for entry, material, body in chunk]


def _cpu(*who: int) -> float:
    return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, who))


def work_items(entries: int, directory: Path) -> tuple[list[Work], LogKeyring]:
    bench = build_log(entries, directory)
    with serve(bench.log) as server, RekorClient(server.url, requests_per_second=1e9) as client:
        uuids = [u for e in bench.endorsers for u in client.search_public_key(e.public_pem)]
        raws = [raw for start in range(0, len(uuids), 10)
                for raw in client.retrieve(uuids=uuids[start:start + 10]).by_uuid.values()]
    items = []
    for raw in raws:
        body = parse_body(raw.entry.body)
        component, _ = bench.keyset.signer_component(body.key)
        statement = (bench.statements / f"sha2-256:{body.digest.hex()}").read_bytes()
        items.append((raw.entry, EndorsementMaterial(
            artifact=statement, endorser_keys=bench.keyset.keys_for(component)), body))
    return items, bench.keyring


def _pool_cpu(workers: int, keyring: LogKeyring, warm_up: list[list[Work]],
              chunks: list[list[Work]]) -> tuple[list[Verification], float, float, float]:
    """(verifications, CPU of all processes, CPU of this one, wall seconds) of verifying
    `chunks` in a new pool, after `warm_up` (untimed but for the workers' CPU)."""
    everyone = _cpu(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                             initializer=_start, initargs=(keyring,)) as pool:
        list(pool.map(_verify, warm_up))
        mine, wall = _cpu(resource.RUSAGE_SELF), time.perf_counter()
        verified = [v for vs in pool.map(_verify, chunks) for v in vs]
        mine, wall = _cpu(resource.RUSAGE_SELF) - mine, time.perf_counter() - wall
    return verified, _cpu(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) - everyone, mine, wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=4000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        items, keyring = work_items(args.entries, Path(directory))
    chunks = [items[start:start + CHUNK] for start in range(0, len(items), CHUNK)]
    cpu, wall = _cpu(resource.RUSAGE_SELF), time.perf_counter()
    _start(keyring)
    checked = [v for chunk in chunks for v in _verify(chunk)]
    cpu, wall = _cpu(resource.RUSAGE_SELF) - cpu, time.perf_counter() - wall
    n = len(checked)
    print(f"{n:,} entries, in this process: {1e3 * cpu / n:.3f} ms CPU per entry, "
          f"{n / wall:,.0f} entries/s wall")
    for workers in args.workers:
        # Workers' CPU is counted once they have exited: a pool that only starts (imports,
        # keys) is measured first and taken off.
        started = _pool_cpu(workers, keyring, chunks[:workers], [])[1]
        pooled, spent, mine, wall = _pool_cpu(workers, keyring, chunks[:workers], chunks)
        assert [v.checks for v in pooled] == [v.checks for v in checked]
        print(f"  pool of {workers}: this process {1e3 * mine / n:.3f} ms CPU per entry, all "
              f"processes {1e3 * (spent - started) / n:.3f} ms, {n / wall:,.0f} entries/s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
