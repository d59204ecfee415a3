#!/usr/bin/env python3
"""Benchmark: query latency on a large store (default 1,000,000 entries).

Fills a SQLite database (or --db-url) with N logged endorsements spread over five components,
each with a verification and its 14 check results and a finding per 100 entries, then times the
queries `audit component`, `audit findings --component`, `audit status` and `audit entries`
serve. The same queries on a 10,000-entry store, measured in the same run, are the baseline:
a ratio near 1 means the query does not grow with the store.

    python scripts/bench_queries.py [--entries 1000000] [--db-url URL]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from auditor.report.build import endorsement_item
from auditor.store import models
from auditor.store.database import engine_of, open_database
from auditor.store.queries import latest_records
from auditor.store.views import endorsement_views
from auditor.verify.check_names import CHECK_NAMES

COMPONENTS = ("stage0", "kernel", "kernel_cmd_line", "init_ram_fs", "system_image")
CHUNK = 20_000


def fill(sessions: sessionmaker[Session], count: int) -> None:
    engine = engine_of(sessions)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        log_pk = connection.execute(insert(models.Log).values(log_id="ab" * 32, name="bench")
                                    .returning(models.Log.id)).scalar_one()
    for start in range(0, count, CHUNK):
        stop = min(start + CHUNK, count)
        entries, endorsements, verifications, results, findings = [], [], [], [], []
        for i in range(start, stop):
            pk = i + 1
            component = COMPONENTS[i % len(COMPONENTS)]
            entries.append({"id": pk, "log_pk": log_pk, "leaf_hash": f"{i:064x}",
                            "uuid": f"{7:016x}{i:064x}", "rekor_version": 1, "tree_id": 7,
                            "log_index": i, "shard_index": i, "integrated_time": 1_700_000_000 + i,
                            "kind": "rekord", "api_version": "0.0.1", "signed_digest": f"{i:064x}",
                            "signer_key_sha256": f"{i % 5:064x}", "raw": b"{}" * 100,
                            "raw_format": "rekor-v1"})
            endorsements.append({"id": pk, "dedup_key": f"{component}:{i}",
                                 "component": component, "entry_pk": pk, "statement": b"{}",
                                 "statement_sha256": f"{i:064x}",
                                 "statement_format": "oak-endorsement-v1",
                                 "subject_name": component, "subject_sha256": f"{i:064x}",
                                 "source": "bench", "imported_at": now,
                                 "integrated_time": 1_700_000_000 + i,
                                 "signer_key_sha256": f"{i % 5:064x}"})
            verifications.append({"id": pk, "entry_pk": pk, "endorsement_pk": pk, "ok": True,
                                  "verified_at": now, "tool_version": "bench"})
            results.extend({"verification_pk": pk, "position": n, "name": name, "ok": True,
                            "detail": "ok"} for n, name in enumerate(CHECK_NAMES))
            if i % 100 == 0:
                findings.append({"fingerprint": f"{i:032x}", "rule": "UNEXPECTED_ENDORSEMENT",
                                 "severity": "high", "component": component, "detail": "bench",
                                 "evidence": json.dumps({"log_index": i}), "first_seen": now,
                                 "last_seen": now})
        with engine.begin() as connection:
            for model, rows in ((models.Entry, entries), (models.Endorsement, endorsements),
                                (models.Verification, verifications),
                                (models.CheckResult, results), (models.StoredFinding, findings)):
                if rows:
                    connection.execute(insert(model), rows)
        print(f"  stored {stop:,} entries", end="\r", file=sys.stderr)
    print(file=sys.stderr)


def timed(query: Callable[[], object], repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        query()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def queries(sessions: sessionmaker[Session]) -> dict[str, float]:
    def component() -> None:
        with sessions() as session:
            for value in endorsement_views(session, "kernel", 100):
                endorsement_item(value, {})

    def findings() -> None:
        with sessions() as session:
            list(session.scalars(select(models.StoredFinding)
                                 .where(models.StoredFinding.component == "kernel")
                                 .order_by(models.StoredFinding.last_seen.desc()).limit(100)))

    def status() -> None:
        with sessions() as session:
            for model in (models.Entry, models.Endorsement, models.StoredFinding):
                session.scalar(select(func.count()).select_from(model))

    def entries() -> None:
        with sessions() as session:
            latest_records(session, "kernel", limit=100)

    return {"audit component kernel (newest 100, with checks)": timed(component),
            "audit findings --component kernel (newest 100)": timed(findings),
            "audit status (counts)": timed(status),
            "audit entries --component kernel (newest 100)": timed(entries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for label, count, url in (("baseline", args.baseline, None),
                                  ("large", args.entries, args.db_url)):
            url = url or f"sqlite:///{Path(tmp) / f'{label}.db'}"
            sessions = open_database(url)
            started = time.perf_counter()
            fill(sessions, count)
            print(f"{label}: filled {count:,} entries in {time.perf_counter() - started:.0f} s")
            results[label] = queries(sessions)
        for name, baseline in results["baseline"].items():
            large = results["large"][name]
            print(f"{name}: {large * 1000:.1f} ms at {args.entries:,} entries, "
                  f"{baseline * 1000:.1f} ms at {args.baseline:,} (ratio {large / baseline:.1f}x)")


if __name__ == "__main__":
    main()
