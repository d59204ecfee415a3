#!/usr/bin/env python3
"""Serve a local Rekor v1 log with synthetic Oak-style endorsements, for demos.

    .venv/bin/python scripts/testlog_serve.py --entries 1000 --keys 3 --shards 2

Prints the API base URL and where the log key, the endorser keys and the statements were
written (pass those to ``audit crawl --rekor-url URL --rekor-key PEM --key NAME=PEM
--statements DIR``). Stops on Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testlog is not installed

from testlog import Endorser, RekorLog, add_endorsements, serve

COMPONENTS = ("stage0", "kernel", "kernel_cmd_line", "init_ram_fs", "system_image")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100, help="synthetic entries to log")
    parser.add_argument("--keys", type=int, default=3, help="endorser keys (1-5)")
    parser.add_argument("--shards", type=int, default=1, help="split the entries over shards")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--out", type=Path, help="where to write keys and statements")
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
    for shard in range(args.shards):
        if shard:
            log.rotate()
        batch = add_endorsements(log, endorsers, min(per_shard, args.entries - logged))
        logged += len(batch)
        for endorsement in batch:
            name = f"sha2-256:{endorsement.statement_sha256}"
            (out / "statements" / name).write_bytes(endorsement.statement)

    log_key = out / "rekor_public_key.pem"
    log_key.write_bytes(log.signer.public_pem)
    for endorser in endorsers:
        (out / "endorsers" / f"{endorser.name}.pem").write_bytes(endorser.public_pem)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with serve(log, args.host, args.port) as server:
        print(f"url: {server.url}", flush=True)
        print(f"log key: {log_key}", flush=True)
        print(f"endorser keys: {out / 'endorsers'}", flush=True)
        print(f"statements: {out / 'statements'}", flush=True)
        print(f"entries: {log.size} in {len(log.shards)} shard(s); Ctrl-C stops", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
