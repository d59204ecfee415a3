"""A 10,000-entry local log serves every entry, in batches of ten, quickly and correctly."""

from __future__ import annotations

import time

import pytest
import requests
from rekor_checks import entry_failures

from testlog import Endorser, ManualClock, RekorLog, add_endorsements, serve


@pytest.mark.slow
def test_ten_thousand_entries_over_two_shards() -> None:
    log = RekorLog(clock=ManualClock())
    endorsers = [Endorser(name) for name in ("stage0", "kernel", "init_ram_fs")]
    add_endorsements(log, endorsers, 4_000)
    log.rotate()
    add_endorsements(log, endorsers, 6_000)
    key = log.signer.private_key.public_key()
    seen: set[int] = set()
    with serve(log) as server, requests.Session() as session:
        started = time.perf_counter()
        for start in range(0, 10_000, 10):
            response = session.post(
                f"{server.url}/api/v1/log/entries/retrieve",
                json={"logIndexes": list(range(start, start + 10))},
                timeout=10,
            )
            for document in response.json():
                ((_, entry),) = document.items()
                seen.add(entry["logIndex"])
                if entry["logIndex"] % 997 == 0:
                    assert entry_failures(document, key) == []
        elapsed = time.perf_counter() - started
        assert server.requests.total == 1_000
    assert seen == set(range(10_000))
    assert elapsed < 20, f"1,000 batches took {elapsed:.1f}s"
