#!/usr/bin/env python3
"""SIGKILL `audit crawl` (or `audit import`) at random moments, then check the store.

    .venv/bin/python scripts/soak_kill.py --db sqlite:////tmp/soak.db --iterations 30
    .venv/bin/python scripts/soak_kill.py --db postgresql+psycopg://... --command import

Serves a local log (testlog) with --entries synthetic endorsements, kills the command after a
random delay each iteration, and checks after each kill what no crash may leave: an entry
without its verification, a verification without its check results, an entry stored twice.
Then runs the command uninterrupted and compares the store with one a single uninterrupted
run made in a database of its own. Too slow for the test suite; run it after changing how a
batch is stored. Prints one line per iteration and exits 1 on the first broken invariant.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testlog is not installed

from sqlalchemy import create_engine, text

from testlog import Endorser, RekorLog, serve
from testlog.synthetic import add_endorsements

CHECKS = {
    "entries without a verification": "SELECT count(*) FROM entries e WHERE NOT EXISTS "
    "(SELECT 1 FROM verifications v WHERE v.entry_pk = e.id)",
    "verifications without check results": "SELECT count(*) FROM verifications v WHERE NOT "
    "EXISTS (SELECT 1 FROM check_results c WHERE c.verification_pk = v.id)",
    "entries stored twice": "SELECT count(*) FROM (SELECT 1 FROM entries GROUP BY log_pk, "
    "leaf_hash HAVING count(*) > 1) twice",
}
COUNTED = ("entries", "endorsements", "verifications", "check_results", "checkpoints")


def store_state(url: str) -> dict[str, int] | None:
    """Counts and broken invariants; None before the schema exists."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(connection.dialect.get_table_names(connection))
            if "entries" not in tables:
                return None
            state = {name: connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                     for name in COUNTED}
            state |= {name: connection.execute(text(query)).scalar_one()
                      for name, query in CHECKS.items()}
            return state
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="an empty throwaway database URL")
    parser.add_argument("--reference-db", help="an empty database for the uninterrupted run "
                        "(default: a SQLite file in a temporary directory)")
    parser.add_argument("--command", choices=("crawl", "import"), default="crawl")
    parser.add_argument("--entries", type=int, default=3000)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--max-delay", type=float, default=6.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    log = RekorLog()
    endorsers = [Endorser(name) for name in ("stage0", "kernel", "init_ram_fs")]
    (work / "statements").mkdir()
    for endorsement in add_endorsements(log, endorsers, args.entries):
        (work / "statements" / f"sha2-256:{endorsement.statement_sha256}").write_bytes(
            endorsement.statement)
    (work / "log.pem").write_bytes(log.signer.public_pem)
    keys = []
    for endorser in endorsers:
        (work / f"{endorser.name}.pem").write_bytes(endorser.public_pem)
        keys += ["--key", f"{endorser.name}={work / f'{endorser.name}.pem'}"]
    with serve(log) as server:
        if args.command == "import":  # the log's own answers, one entry per file
            (work / "entries").mkdir()
            for index in range(log.size):
                url = f"{server.url}/api/v1/log/entries?logIndex={index}"
                with urllib.request.urlopen(url, timeout=10) as answer:
                    raw = answer.read()
                (work / "entries" / f"{index:06d}.json").write_bytes(raw)
            what = ["import", *sorted(map(str, (work / "entries").iterdir()))]
        else:
            what = ["crawl", "--rekor-url", server.url, "--statements",
                    str(work / "statements"), "--rate", "1000"]
        argv = [sys.executable, "-m", "auditor", *what, *keys, "--rekor-key",
                str(work / "log.pem")]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        reference = args.reference_db or f"sqlite:///{work / 'reference.db'}"
        subprocess.run([*argv, "--db", reference], env=env, capture_output=True, check=False)
        expected = store_state(reference)
        for iteration in range(1, args.iterations + 1):
            process = subprocess.Popen([*argv, "--db", args.db], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(random.uniform(0.3, args.max_delay))
            process.kill()
            process.wait()
            state = store_state(args.db)
            broken = {k: v for k, v in (state or {}).items() if k in CHECKS and v}
            print(iteration, "BROKEN" if broken else "ok", state, flush=True)
            if broken:
                return 1
        final = subprocess.run([*argv, "--db", args.db], env=env, capture_output=True,
                               text=True, check=False)
        state = store_state(args.db)
        print("uninterrupted:", final.returncode, final.stderr.strip().splitlines()[-1:])
        same = state is not None and expected is not None and all(
            state[name] == expected[name] for name in ("entries", "endorsements", "checkpoints"))
        print("as one uninterrupted run" if same else "DIFFERS", state, expected)
        return 0 if same and final.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
