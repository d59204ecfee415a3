"""A Rekor v1 crawl stores a batch per transaction: one retrieve first, then twice as many
entries each time up to STORE_BATCH, each batch stored whole or not at all (what another
connection sees when the next batch starts is exactly the batches before it)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from auditor.crawl import rekor_v1
from auditor.crawl.interface import CrawlJob, CrawlRequest
from auditor.crawl.rekor_v1 import RekorV1Source
from auditor.keyset import KeySet
from auditor.source.rekor_client import RekorClient
from auditor.source.statements import DirectoryStore
from auditor.store import models
from auditor.store.database import open_database
from auditor.verify.keys import load_public_key
from auditor.verify.trust import load_keyring
from testlog import Endorser, RekorLog, RunningServer
from testlog.synthetic import add_endorsements
from tests.crawl.world import save_statements

ENTRIES = 450


def test_a_crawl_stores_growing_batches_each_whole(rekor_log: RekorLog,
                                                   rekor_server: RunningServer,
                                                   endorsers: list[Endorser], tmp_path: Path,
                                                   db_url: str) -> None:
    endorsements = add_endorsements(rekor_log, endorsers, ENTRIES)
    statements = tmp_path / "statements"
    save_statements(statements, endorsements)
    (tmp_path / "log.pem").write_bytes(rekor_log.signer.public_pem)
    keyset = KeySet()
    for endorser in endorsers:
        keyset.add(endorser.name, load_public_key(endorser.public_pem), "test")
    observer = open_database(db_url)
    seen: list[tuple[int, int]] = []

    def progress(stage: str, done: int, _total: int) -> None:
        if stage == "fetching entries":
            with observer() as session:  # another connection: only committed batches
                stored = session.scalar(select(func.count()).select_from(models.Entry)) or 0
            seen.append((done, stored))

    with RekorClient(rekor_server.url, requests_per_second=1000) as client:
        source = RekorV1Source(client, load_keyring([tmp_path / "log.pem"], None))
        summary = source.crawl(CrawlJob(open_database(db_url), keyset,
                                        DirectoryStore(statements), CrawlRequest(),
                                        progress))
    assert summary.complete and summary.new == summary.verified == ENTRIES
    # Batches of 10, 20, 40, 80, 160, ... up to STORE_BATCH: the last one holds the rest.
    starts, size = [0], 10
    while starts[-1] + size < ENTRIES:
        starts.append(starts[-1] + size)
        size = min(2 * size, rekor_v1.STORE_BATCH)
    assert rekor_v1.STORE_BATCH >= 160 and starts == [0, 10, 30, 70, 150, 310]
    assert seen == [(start, start) for start in starts]
