#!/usr/bin/env python3
"""Serve a local Rekor v1 log with synthetic Oak-style endorsements, for demos.

    .venv/bin/python scripts/testlog_serve.py --entries 1000 --keys 3 --shards 2

Prints the API base URL and where the log key, the endorser keys and the statements were
written (pass those to ``audit crawl --rekor-url URL --rekor-key PEM --key NAME=PEM
--statements DIR``). ``--index`` also serves the publisher's own endorsement index in Oak's
layout (``--index-files URL --index-links URL``), publishing every entry with its Rekor receipt
except ``--unpublished`` ones, plus ``--unlogged`` packages the log never saw. Stops on Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testlog is not installed

from testlog import Endorser, PublisherIndex, RekorLog, add_endorsements, serve, serve_index
from testlog.synthetic import Endorsement, endorse

COMPONENTS = ("stage0", "kernel", "kernel_cmd_line", "init_ram_fs", "system_image")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100, help="synthetic entries to log")
    parser.add_argument("--keys", type=int, default=3, help="endorser keys (1-5)")
    parser.add_argument("--shards", type=int, default=1, help="split the entries over shards")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--out", type=Path, help="where to write keys and statements")
    parser.add_argument("--index", action="store_true",
                        help="also serve the publisher's index (files and links)")
    parser.add_argument("--unpublished", type=int, default=0,
                        help="with --index: log this many more endorsements, unpublished")
    parser.add_argument("--unlogged", type=int, default=0,
                        help="with --index: publish this many endorsements the log never saw")
    args = parser.parse_args(argv)
    if not 1 <= args.keys <= len(COMPONENTS) or args.shards < 1 or args.entries < 0:
        parser.error("--keys must be 1-5, --shards at least 1, --entries at least 0")

    out: Path = args.out or Path(tempfile.mkdtemp(prefix="testlog-"))
    (out / "endorsers").mkdir(parents=True, exist_ok=True)
    (out / "statements").mkdir(exist_ok=True)
    log = RekorLog()
    endorsers = [Endorser(name) for name in COMPONENTS[: args.keys]]
    per_shard = -(-args.entries // args.shards) if args.entries else 0
    logged = 0
    endorsements: list[Endorsement] = []
    for shard in range(args.shards):
        if shard:
            log.rotate()
        batch = add_endorsements(log, endorsers, min(per_shard, args.entries - logged))
        logged += len(batch)
        endorsements += batch
        for endorsement in batch:
            name = f"sha2-256:{endorsement.statement_sha256}"
            (out / "statements" / name).write_bytes(endorsement.statement)

    index = PublisherIndex()
    if args.index:
        publish(index, log, endorsements, args.unpublished, args.unlogged)

    log_key = out / "rekor_public_key.pem"
    log_key.write_bytes(log.signer.public_pem)
    for endorser in endorsers:
        (out / "endorsers" / f"{endorser.name}.pem").write_bytes(endorser.public_pem)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with serve(log, args.host, args.port) as server, serve_index(index, args.host) as store:
        print(f"url: {server.url}", flush=True)
        if args.index:
            print(f"index files: {store.files_url}", flush=True)
            print(f"index links: {store.links_url}", flush=True)
        print(f"log key: {log_key}", flush=True)
        print(f"endorser keys: {out / 'endorsers'}", flush=True)
        print(f"statements: {out / 'statements'}", flush=True)
        print(f"entries: {log.size} in {len(log.shards)} shard(s); Ctrl-C stops", flush=True)
        stop.wait()
    return 0


def publish(index: PublisherIndex, log: RekorLog, endorsements: list[Endorsement],
            unpublished: int, unlogged: int) -> None:
    """Publish every logged endorsement with its receipt, then log some endorsements the index
    does not list and publish some the log never saw."""
    for endorsement in endorsements:
        index.publish(endorsement, log=log)
    endorsers = list({e.endorser.name: e.endorser for e in endorsements}.values())
    elsewhere = RekorLog(clock=log.clock)
    for i in range(unpublished):
        endorse(log, endorsers[i % len(endorsers)], f"outside the release {i}".encode())
    for i in range(unlogged):
        index.publish(endorse(elsewhere, endorsers[i % len(endorsers)],
                              f"never logged {i}".encode()))


if __name__ == "__main__":
    sys.exit(main())
