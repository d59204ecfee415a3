#!/usr/bin/env python3
"""Benchmark: `audit crawl` of a local Rekor v1 log into SQLite and PostgreSQL, per CPU-second.

For each size, a log of that many Oak-style endorsements (scripts/bench_crawl.py's) is built and
served from its own process (rate limit off); each crawl runs in a fresh process of its own, as
`audit crawl --rekor-url URL --rekor-key PEM --key NAME=PEM ... --statements DIR --db URL`
runs it (settings resolved from those flags, the audit service, the database), so that:

- the auditor's CPU is that process's user + system time (all its threads, and any worker
  processes it waited for), measured around the crawl only (imports and schema creation are
  not timed); the log server's CPU is not in it. PostgreSQL's own server processes are
  measured apart (all the cluster's processes, from /proc);
- peak RSS is that process's high-water mark since its exec (VmHWM), so it can be compared
  between sizes; the verification worker's own memory (what it does not share with the
  crawl: it is mostly a fork of it) is read apart;
- the crawl's fixed start and its pace are told apart: when it stored its first entry, and its
  wall rate from then to its last (each verification row is stamped as it is stored), so that
  what a small crawl's start weighs in its wall rate shows.

`openssl speed ecdsap256` gives this machine's ECDSA P-256 verifications per second on one
core, measured in the same run. A Rekor v1 entry needs at least two (the log's signed entry
timestamp and the endorser's signature over the statement; a checkpoint is shared by the
entries under it), which bounds the entries one core can ingest per second.

    python scripts/bench_ingest.py [--entries 2000 20000] [--backends sqlite postgresql]
                                   [--postgres-url URL] [--worker-from N] [--repeat N]
                                   [--latency SECONDS --rate RPS] [--http-statements]

`--latency` makes the log a distant one (it waits that long before every answer) and `--rate`
sets the crawl's request rate (default: no limit): the crawl's wall rate is then compared with
the rate's bound, RPS x 10 entries per retrieve. `--http-statements` serves the statements
from the log's server (`/files/sha2-256:<hex>`, as a publisher's bucket) instead of a directory.

Without --postgres-url a throwaway cluster is started as the tests do (tests/postgres.py).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_processes import answer, in_process, serve_until, started

#: Signature verifications an entry needs at least: the signed entry timestamp and the
#: endorser's signature (the checkpoint's is shared by every entry under it).
MINIMUM_VERIFICATIONS = 2


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


# --- the log (server process) ----------------------------------------------------------------


def serve_log(entries: int, directory: str, latency: float, http_statements: bool,
              stop: Any, out: Connection) -> None:
    """Build a log of `entries` endorsements, write its keys and statements under
    `directory`, serve it (`latency` seconds before each answer, the statements too if
    `http_statements`) until `stop` is set."""
    from bench_crawl import build_log

    from testlog import serve

    work = Path(directory)
    bench = build_log(entries, work)
    keys = []
    for endorser in bench.endorsers:
        path = work / f"{endorser.name}.pem"
        path.write_bytes(endorser.public_pem)
        keys.append(f"{endorser.name}={path}")
    with serve(bench.log) as server:
        server.faults.delay = latency
        statements = str(bench.statements)
        if http_statements:
            for path in bench.statements.iterdir():
                server.files[path.name] = path.read_bytes()
            statements = server.files_url
        out.send({"url": server.url, "log_key": str(work / "log.pem"), "keys": keys,
                  "statements": statements, "build_seconds": bench.build_seconds})
        serve_until(stop)


# --- the crawl (auditor process) ---------------------------------------------------------------


@dataclass
class CrawlResult:
    new: int
    verified: int
    requests: int
    cpu_seconds: float
    #: Of `cpu_seconds`, what worker processes spent (auditor.verify_ahead).
    worker_cpu_seconds: float
    wall_seconds: float
    peak_rss_mb: float
    rss_before_mb: float
    #: The worker process's own memory as it ended (0: none ran).
    worker_own_mb: float
    #: Seconds from the crawl's start to its first entry stored, and its wall rate from then
    #: to its last (see `stored_times`): what a small crawl's fixed costs weigh.
    first_stored_seconds: float
    stored_rate: float


def _cpu_seconds(*who: int) -> float:
    """User + system CPU of this process (all threads) and of the children it waited for."""
    return sum(usage.ru_utime + usage.ru_stime for usage in map(
        resource.getrusage, who or (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


def _peak_rss_mb(process: Path = Path("/proc/self")) -> float:
    """A process's peak RSS since its exec (VmHWM), 0 if unknown."""
    match = re.search(r"^VmHWM:\s+(\d+) kB", (process / "status").read_text(), re.MULTILINE)
    return int(match.group(1)) / 1024 if match else 0.0


def _own_mb(process: Path) -> float:
    """The memory a process shares with no other (private pages, from smaps_rollup): what a
    worker forked from the crawl adds to it (its RSS counts the pages it still shares)."""
    rollup = (process / "smaps_rollup").read_text()
    return sum(int(kb) for kb in re.findall(r"^Private_\w+:\s+(\d+) kB", rollup, re.MULTILINE)) \
        / 1024


def worker_sizes() -> list[float]:
    """The own memory of each verification worker (auditor.verify_ahead), read as it is told
    to end, appended to the list returned.

    Not `getrusage(RUSAGE_CHILDREN).ru_maxrss`, nor the worker's peak RSS: a worker forked from
    the crawl shares its pages, which its RSS counts (87 MB for 32 of its own at 2,000
    entries), and a spawned one kept the crawl's high-water mark across exec (120 MB,
    however small it was after)."""
    from auditor import verify_ahead

    sizes: list[float] = []
    close = verify_ahead._Worker.close

    def measured(worker: Any) -> None:
        try:
            sizes.append(_own_mb(Path(f"/proc/{worker.process.pid}")))
        except OSError:
            pass  # it ended (killed): no figure
        close(worker)

    verify_ahead._Worker.close = measured  # type: ignore[method-assign,assignment]
    return sizes


def crawl_log(info: dict[str, Any], db_url: str, out: Connection) -> None:
    from auditor.crawl.rekor_v1 import RekorV1Source
    from auditor.service import Auditor
    from auditor.settings import Flags, resolve
    from auditor.store.database import engine_of, open_database

    engine_of(open_database(db_url)).dispose()  # the schema is created before the clock starts
    flags = Flags(db=db_url, rekor_url=info["url"], rekor_keys=(Path(info["log_key"]),),
                  keys=tuple(info["keys"]), statements=info["statements"],
                  rate=info["rate"] or 1e9)
    settings = resolve(flags, {})
    if info.get("worker_from") is not None:  # --worker-from: where the worker pays
        defaults = RekorV1Source.__init__.__kwdefaults__ or {}
        RekorV1Source.__init__.__kwdefaults__ = {**defaults, "worker_from": info["worker_from"]}
    rss_before = _peak_rss_mb()
    started = datetime.now(UTC)
    cpu, wall = _cpu_seconds(), time.perf_counter()
    workers = _cpu_seconds(resource.RUSAGE_CHILDREN)
    workers_own = worker_sizes()
    with Auditor(settings) as auditor:
        result = auditor.crawl()
    cpu, wall = _cpu_seconds() - cpu, time.perf_counter() - wall
    workers = _cpu_seconds(resource.RUSAGE_CHILDREN) - workers
    crawl = result.crawl
    assert crawl is not None
    if not (crawl.complete and crawl.new == crawl.verified == info["entries"]):
        raise SystemExit(f"wrong crawl: {crawl.to_json()}")
    first, last = stored_times(db_url)
    out.send(CrawlResult(crawl.new, crawl.verified, crawl.requests, cpu, workers, wall,
                         _peak_rss_mb(), rss_before, max(workers_own, default=0.0),
                         (first - started).total_seconds(),
                         (crawl.new - 1) / max((last - first).total_seconds(), 1e-6)))


def stored_times(db_url: str) -> tuple[datetime, datetime]:
    """When the crawl stored its first entry and its last: each verification row is stamped
    as it is stored (SQLite gives the stamps back without their zone, which is UTC)."""
    from sqlalchemy import func, select

    from auditor.store.database import engine_of, open_database
    from auditor.store.models import Verification

    engine = engine_of(open_database(db_url))
    try:
        with engine.connect() as connection:
            first, last = connection.execute(select(func.min(Verification.verified_at),
                                                    func.max(Verification.verified_at))).one()
    finally:
        engine.dispose()
    return tuple(at if at.tzinfo else at.replace(tzinfo=UTC)  # type: ignore[return-value]
                 for at in (first, last))


# --- PostgreSQL's own CPU ----------------------------------------------------------------------


def _clock_ticks(pid: int, *, children: bool) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # proc(5): utime, stime, cutime, cstime are fields 14-17 (here 11-14: after the name).
    own = int(fields[11]) + int(fields[12])
    return own + (int(fields[13]) + int(fields[14]) if children else 0)


def cluster_cpu_seconds(postmaster: int) -> float:
    """CPU of a PostgreSQL cluster: the postmaster with the backends it reaped, and the live
    processes it started."""
    ticks = _clock_ticks(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rpartition(")")[2].split()[1]) == postmaster:
                ticks += _clock_ticks(int(entry.name), children=False)
        except (OSError, ValueError, IndexError):
            continue  # it ended meanwhile: the postmaster's children times include it
    return ticks / os.sysconf("SC_CLK_TCK")


def _process_cpu_seconds(pid: int) -> float:
    """CPU of one live process (all its threads): the log server shares the machine's cores
    with the crawl, so what it takes bounds the crawl's wall rate."""
    return _clock_ticks(pid, children=False) / os.sysconf("SC_CLK_TCK")


@dataclass
class Database:
    url: str
    #: The postmaster's pid when the cluster is ours, for its CPU time.
    postmaster: int | None


@contextmanager
def postgres_database(given: str | None) -> Iterator[Database]:
    if given:
        yield Database(given, None)
        return
    from tests.postgres import start_cluster

    cluster = start_cluster()
    try:
        pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
        yield Database(cluster.create_database(), pid)
    finally:
        cluster.stop()


# --- orchestration -----------------------------------------------------------------------------


def bench(entries: int, backends: list[str], postgres_url: str | None,
          bound: float, worker_from: int | None = None, repeat: int = 1,
          latency: float = 0.0, rate: float | None = None,
          http_statements: bool = False) -> dict[str, list[CrawlResult]]:
    """Crawls of a log of `entries`, `repeat` times into each backend: the results by backend."""
    context = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as temporary:
        work = Path(temporary)
        stop = context.Event()
        server, here = started(context, serve_log, entries, temporary, latency,
                               http_statements, stop)
        try:
            info = {**answer(here, "the log server"), "entries": entries,
                    "worker_from": worker_from, "rate": rate}
            assert server.pid is not None
            print(f"\n{entries:,} entries: log built in {info['build_seconds']:.1f} s "
                  "(not timed)")
            # Backends alternate from one repetition to the next, so that a slower hour of
            # the shared machine weighs on each alike.
            results: dict[str, list[CrawlResult]] = {backend: [] for backend in backends}
            for run in range(repeat):
                for backend in backends:
                    with _database(backend, work / f"run-{run}", postgres_url) as database:
                        db_cpu = cluster_cpu_seconds(database.postmaster) \
                            if database.postmaster else None
                        log_cpu = _process_cpu_seconds(server.pid)
                        result: CrawlResult = in_process(context, crawl_log, info,
                                                          database.url)
                        log_cpu = _process_cpu_seconds(server.pid) - log_cpu
                        if db_cpu is not None and database.postmaster:
                            db_cpu = cluster_cpu_seconds(database.postmaster) - db_cpu
                    _report(backend, result, db_cpu, log_cpu, bound, rate)
                    results[backend].append(result)
        finally:
            stop.set()
            server.join(timeout=30)
    return results


@contextmanager
def _database(backend: str, work: Path, postgres_url: str | None) -> Iterator[Database]:
    if backend == "sqlite":
        work.mkdir(exist_ok=True)
        yield Database(f"sqlite:///{work / 'bench.db'}", None)
    else:
        with postgres_database(postgres_url) as database:
            yield database


def _report(backend: str, result: CrawlResult, db_cpu: float | None, log_cpu: float,
            bound: float, rate: float | None) -> None:
    per_cpu = result.new / result.cpu_seconds
    wall = result.new / result.wall_seconds
    server = f", PostgreSQL server {db_cpu:.2f} CPU-s" if db_cpu is not None else ""
    print(f"  {backend:>10}: {per_cpu:,.0f} entries per CPU-second of the auditor "
          f"({result.cpu_seconds:.2f} CPU-s, {result.worker_cpu_seconds:.2f} of it in the worker"
          f"{server}) = {per_cpu / bound:.1%} of the bound; "
          f"{wall:,.0f} entries/s wall ({result.wall_seconds:.2f} s); peak RSS "
          f"{result.peak_rss_mb:.0f} MB ({result.rss_before_mb:.0f} MB before the crawl; the "
          f"worker's own {result.worker_own_mb:.0f} MB); "
          f"{result.requests} requests; the log server used {log_cpu:.2f} CPU-s; the first "
          f"entry stored after {result.first_stored_seconds:.2f} s, then "
          f"{result.stored_rate:,.0f} entries/s")
    if rate:
        from auditor.source.rekor_client import RETRIEVE_LIMIT

        print(f"  {'':>10}  at {rate:g} requests/s at most {rate * RETRIEVE_LIMIT:,.0f} entries/s "
              f"come in (10 per retrieve): the crawl reached {wall / (rate * RETRIEVE_LIMIT):.0%}"
              " of that")


def _row(entries: int, backend: str, results: list[CrawlResult], bound: float) -> str:
    """The table's row: each figure the median of the runs, with their range when several."""
    def figure(values: list[float], form: str) -> str:
        middle = format(statistics.median(values), form)
        return middle if len(values) == 1 else \
            f"{middle} ({format(min(values), form)}-{format(max(values), form)})"
    per_cpu = [r.new / r.cpu_seconds for r in results]
    return (f"| {entries:,} | {backend} | {figure(per_cpu, ',.0f')} | "
            f"{statistics.median(per_cpu) / bound:.2f} | "
            f"{figure([r.cpu_seconds for r in results], '.1f')} s | "
            f"{figure([r.new / r.wall_seconds for r in results], ',.0f')} | "
            f"{figure([r.peak_rss_mb for r in results], '.0f')} MB | "
            f"{figure([r.first_stored_seconds for r in results], '.2f')} s | "
            f"{figure([r.stored_rate for r in results], ',.0f')} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, nargs="+", default=[2_000, 20_000])
    parser.add_argument("--backends", nargs="+", choices=("sqlite", "postgresql"),
                        default=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default=None,
                        help="an empty PostgreSQL database (default: a throwaway cluster)")
    parser.add_argument("--worker-from", type=int, default=None,
                        help="entries from which a crawl verifies in a worker process "
                             "(default: the auditor's WORKER_FROM)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="crawls per size and database, alternating between the databases "
                             "(the table shows medians and ranges)")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds the log waits before every answer (a distant log)")
    parser.add_argument("--rate", type=float, default=None,
                        help="the crawl's requests per second (default: no limit)")
    parser.add_argument("--http-statements", action="store_true",
                        help="statements over HTTP from the log's server, not a directory")
    args = parser.parse_args(argv)
    if args.latency < 0 or (args.rate is not None and not args.rate > 0):
        parser.error("--latency takes 0 or more seconds, --rate a positive rate")
    if args.repeat < 1 or min(args.entries) < 1:
        parser.error("--repeat and --entries take 1 or more")
    if args.repeat > 1 and args.postgres_url:
        parser.error("--repeat needs a throwaway cluster per crawl: leave out --postgres-url")

    verify_rate = openssl_verify_rate()
    bound = verify_rate / MINIMUM_VERIFICATIONS
    print(f"openssl speed ecdsap256: {verify_rate:,.0f} verify/s on one core; at "
          f"{MINIMUM_VERIFICATIONS} verifications per entry the bound is {bound:,.0f} "
          "entries per CPU-second")
    results = {entries: bench(entries, args.backends, args.postgres_url, bound,
                              args.worker_from, args.repeat, args.latency, args.rate,
                              args.http_statements)
               for entries in args.entries}
    print("\n| entries | database | entries / CPU-s | of the bound | auditor CPU | "
          "entries/s wall | peak RSS | first stored after | entries/s from then |\n"
          "|---|---|---|---|---|---|---|---|---|")
    print("\n".join(_row(entries, backend, by_backend[backend], bound)
                    for entries, by_backend in results.items() for backend in args.backends))
    if len(results) > 1:
        for backend in args.backends:
            print(_rss_growth(backend, {entries: by_backend[backend]
                                        for entries, by_backend in results.items()}))
    return 0


def _rss_growth(backend: str, results: dict[int, list[CrawlResult]]) -> str:
    """How the crawl's peak RSS (the median of the runs) grows from the smallest log measured
    to the largest: "RSS flat in the number of entries" is issue 13's goal."""
    smallest, largest = min(results), max(results)
    low, high = (statistics.median(r.peak_rss_mb for r in results[n]) for n in (smallest, largest))
    per_thousand = (high - low) / (largest - smallest) * 1000
    return (f"peak RSS, {backend}: {low:.1f} MB at {smallest:,} entries, {high:.1f} MB at "
            f"{largest:,}: {high - low:+.1f} MB, {per_thousand:+.3f} MB per 1,000 entries more")


if __name__ == "__main__":
    sys.exit(main())
