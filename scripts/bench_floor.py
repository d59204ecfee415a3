#!/usr/bin/env python3
"""Benchmark: the least CPU an ingested Rekor v1 entry can cost here, in C, against the two
signature verifications that bound it (issue 13's "0.5 of the bound" goal).

A crawl (scripts/bench_ingest.py's log, into SQLite) stores N entries; then, on exactly those
entries and rows, with no Python per row beyond the loop that feeds C:

- **signatures**: each entry's endorsement signature verified twice with `cryptography` (an
  entry needs two ECDSA P-256 verifications: its signed entry timestamp and the endorser's);
- **parsing**: the log's answer for each entry (`json.loads`), its body (base64, `json.loads`);
- **hashing**: its Merkle leaf and inclusion path, and its statement read from its file and
  hashed;
- **rows**: the rows a crawl stores per entry (entry, endorsement, verification and its check
  results), re-inserted into a fresh copy of the schema by `sqlite3`'s `executemany` directly
  (prepared statements, no SQLAlchemy, no conflict handling), in transactions of 500 entries as
  a crawl commits them, with the auditor's pragmas.

"0.5 of the bound" leaves an entry as much CPU beyond its signatures as the signatures take.
The script prints each part per entry, and what of that room the rest of this floor leaves for
everything else a crawl does (the HTTP exchange, the checks' Python, findings).

    python scripts/bench_floor.py [--entries 5000]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_crawl import build_log, timed_crawl
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from auditor.store.database import engine_of, open_database
from testlog import serve

#: What a crawl stores per entry, parents first (the copy keeps every column, ids included).
TABLES = ("entries", "endorsements", "verifications", "check_results")
STORE_BATCH = 500


def cpu(work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


def stored_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as connection:
        return {table: connection.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
                for table in TABLES}


def copy_parents(source: Path, target: Path) -> None:
    """The rows the entries' own rows refer to (the log, its shard, the checkpoints: a few,
    shared by every entry), copied untimed."""
    with sqlite3.connect(target) as connection:
        connection.execute("ATTACH DATABASE ? AS crawled", (str(source),))
        parents = {row[2] for table in TABLES
                   for row in connection.execute(f"PRAGMA foreign_key_list({table})")}
        for table in ("logs", "shards", "checkpoints"):  # parents first
            if table in parents - set(TABLES):
                connection.execute(f"INSERT INTO {table} SELECT * FROM crawled.{table}")
        missing = parents - set(TABLES) - {"logs", "shards", "checkpoints"}
        assert not missing, f"rows of {missing} are not copied"


def insert_rows(path: Path, rows: dict[str, list[tuple[Any, ...]]]) -> float:
    """CPU seconds to insert `rows` into the schema at `path`, 500 entries a commit."""
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("busy_timeout=30000", "journal_mode=WAL", "foreign_keys=ON"):
        connection.execute(f"PRAGMA {pragma}")
    # The rows of each batch of entries: children follow their parents' ids.
    entry_ids = [row[0] for row in rows["entries"]]
    batches = [set(entry_ids[start:start + STORE_BATCH])
               for start in range(0, len(entry_ids), STORE_BATCH)]
    columns = {table: len(rows[table][0]) for table in TABLES}
    statements = {table: f"INSERT INTO {table} VALUES ({', '.join('?' * columns[table])})"
                  for table in TABLES}
    entry_of = _parent_entries(connection, rows)
    per_batch = [{table: [row for row in rows[table] if entry_of[table](row) in batch]
                  for table in TABLES} for batch in batches]

    def insert() -> None:
        for batch in per_batch:
            connection.execute("BEGIN")
            for table in TABLES:
                connection.executemany(statements[table], batch[table])
            connection.execute("COMMIT")
    seconds = cpu(insert)
    counts = [connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES]
    assert counts == [len(rows[t]) for t in TABLES], counts
    connection.close()
    return seconds


def _parent_entries(connection: sqlite3.Connection, rows: dict[str, list[tuple[Any, ...]]]
                    ) -> dict[str, Callable[..., int]]:
    """For each table, a row's entry id (through the columns the schema names)."""
    names = {table: [c[1] for c in connection.execute(f"PRAGMA table_info({table})")]
             for table in TABLES}
    at = {table: {name: n for n, name in enumerate(names[table])} for table in TABLES}
    verification_entry = {row[0]: row[at["verifications"]["entry_pk"]]
                          for row in rows["verifications"]}
    return {
        "entries": lambda row: row[0],
        "endorsements": lambda row: row[at["endorsements"]["entry_pk"]],
        "verifications": lambda row: row[at["verifications"]["entry_pk"]],
        "check_results": lambda row: verification_entry[row[at["check_results"]
                                                            ["verification_pk"]]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=5_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as temporary:
        work = Path(temporary)
        bench = build_log(args.entries, work)
        crawled = work / "crawled.db"
        sessions = open_database(f"sqlite:///{crawled}")
        with serve(bench.log) as server:
            summary, _ = timed_crawl(bench, server.url, sessions)
        engine_of(sessions).dispose()
        assert summary.new == args.entries, summary.to_json()
        rows = stored_rows(crawled)
        engine_of(open_database(f"sqlite:///{work / 'floor.db'}")).dispose()
        copy_parents(crawled, work / "floor.db")
        row_seconds = insert_rows(work / "floor.db", rows)

        keys = {e.name: load_pem_public_key(e.public_pem) for e in bench.endorsers}
        signed = [(keys[e.endorser.name], e.signature, e.statement) for e in bench.endorsements]

        def verify_twice() -> None:
            for key, signature, statement in signed:
                assert isinstance(key, ec.EllipticCurvePublicKey)
                for _ in range(2):
                    key.verify(signature, statement, ec.ECDSA(hashes.SHA256()))
        signature_seconds = cpu(verify_twice)

        with sqlite3.connect(crawled) as connection:
            raws = [raw for (raw,) in connection.execute("SELECT raw FROM entries")]

        def parse() -> None:
            for raw in raws:
                for entry in json.loads(raw).values():
                    json.loads(base64.b64decode(entry["body"]))
        parse_seconds = cpu(parse)

        documents = [next(iter(json.loads(raw).values())) for raw in raws]
        proofs = [(base64.b64decode(d["body"]),
                   [bytes.fromhex(h) for h in d["verification"]["inclusionProof"]["hashes"]])
                  for d in documents]
        files = [str(bench.statements / f"sha2-256:{e.statement_sha256}")
                 for e in bench.endorsements]

        def hash_and_read() -> None:
            # The leaf and the path to the root (order aside: the cost is the same), the
            # statement read from its file and hashed.
            for (body, path), name in zip(proofs, files, strict=True):
                node = hashlib.sha256(b"\0" + body).digest()
                for sibling in path:
                    node = hashlib.sha256(b"\1" + node + sibling).digest()
                with open(name, "rb") as statement:
                    hashlib.sha256(statement.read()).digest()
        hash_seconds = cpu(hash_and_read)

    n = args.entries
    per = {name: seconds / n * 1e6 for name, seconds in (
        ("two signature verifications", signature_seconds), ("parsing", parse_seconds),
        ("proof hashes, statement file", hash_seconds),
        ("rows (sqlite3, no Python per row)", row_seconds))}
    rows_per_entry = sum(len(rows[t]) for t in TABLES) / n
    for name, micros in per.items():
        print(f"{name:>36}: {micros:7.1f} us per entry")
    room = per["two signature verifications"]
    rest = sum(per.values()) - room
    print(f"{rows_per_entry:.0f} rows per entry. At 0.5 of the bound an entry may cost "
          f"{2 * room:.1f} us: {room:.1f} us beside its signatures, of which the rest of this "
          f"floor takes {rest:.1f} us, leaving {room - rest:.1f} us for everything else; the "
          f"floor alone is {room / (room + rest):.2f} of the bound.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
