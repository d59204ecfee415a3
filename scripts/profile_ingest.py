#!/usr/bin/env python3
"""Profile one `audit crawl` of a local Rekor v1 log (scripts/bench_ingest.py's) with cProfile.

The log is served from its own process, as in the benchmark; the crawl runs here under cProfile
with no retrieve request in flight ahead (cProfile sees one thread only, so the HTTP calls are
made on the profiled one). Prints the top functions by own time and by cumulative time, and
writes the pstats file for a closer look (`python -m pstats FILE`).

    python scripts/profile_ingest.py [--entries 20000] [--db URL] [--top 30] [--out FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing as mp
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import serve_log
from bench_processes import answer, started


def profile_crawl(info: dict[str, object], db_url: str, out: Path, top: int) -> None:
    from auditor.crawl import rekor_v1
    from auditor.service import Auditor
    from auditor.settings import Flags, resolve
    from auditor.store.database import engine_of, open_database

    engine_of(open_database(db_url)).dispose()
    # Every call on this thread, so that cProfile sees the requests and the verifications too
    # (no retrieve ahead, no verification worker).
    defaults = rekor_v1.RekorV1Source.__init__.__kwdefaults__ or {}
    rekor_v1.RekorV1Source.__init__.__kwdefaults__ = {**defaults, "ahead": 0,
                                                      "worker_from": sys.maxsize}
    flags = Flags(db=db_url, rekor_url=str(info["url"]), rekor_keys=(Path(str(info["log_key"])),),
                  keys=tuple(info["keys"]), statements=str(info["statements"]),  # type: ignore
                  rate=1e9)
    settings = resolve(flags, {})
    # Wall time: a CPU-time timer is a system call per event and distorts the profile; the
    # waits (the log server's answers, SQLite's fsync) show as socket reads and commits.
    profiler = cProfile.Profile()
    started = time.perf_counter()
    with Auditor(settings) as auditor:
        profiler.enable()
        result = auditor.crawl()
        profiler.disable()
    wall = time.perf_counter() - started
    crawl = result.crawl
    assert crawl is not None and crawl.complete, crawl
    profiler.dump_stats(out)
    print(f"{crawl.new:,} entries in {wall:.2f} s under cProfile; {crawl.requests} requests")
    for order in ("tottime", "cumulative"):
        print(f"\n--- by {order} ---")
        pstats.Stats(str(out)).sort_stats(order).print_stats(top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--db", default=None, help="default: a new SQLite file")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("ingest.prof"))
    args = parser.parse_args()
    context = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="profile-ingest-") as temporary:
        stop = context.Event()
        server, here = started(context, serve_log, args.entries, temporary, 0.0, False, stop)
        try:
            info = answer(here, "the log server")
            profile_crawl(info, args.db or f"sqlite:///{temporary}/profile.db", args.out,
                          args.top)
        finally:
            stop.set()
            server.join(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
