"""A crawlable local log of endorsements, and a snapshot of what a crawl stored."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from auditor.crawl.interface import CrawlJob
from auditor.crawl.rekor_v1 import RekorV1Source
from auditor.keyset import KeySet
from auditor.source.rekor_client import RekorClient
from auditor.source.statements import DirectoryStore
from auditor.store import models
from auditor.store.database import open_database
from auditor.verify.keys import load_public_key
from auditor.verify.trust import LogKeyring, load_keyring
from testlog import Endorser, RekorLog, RunningServer
from testlog.synthetic import Endorsement

#: Entries in the crawled log: enough for several retrieve batches per crawler.
ENTRIES = 45


@dataclass
class CrawlSetup:
    """A local log of endorsements by pinned keys, with its statements and key files."""

    log: RekorLog
    server: RunningServer
    endorsers: list[Endorser]
    endorsements: list[Endorsement]
    directory: Path

    @property
    def statements(self) -> Path:
        return self.directory / "statements"

    @property
    def log_key(self) -> Path:
        return self.directory / "log.pem"

    def flags(self) -> list[str]:
        """`audit crawl` options for this log and every endorser's key."""
        flags = ["--rekor-url", self.server.url, "--rekor-key", str(self.log_key),
                 "--statements", str(self.statements), "--rate", "1000"]
        for endorser in self.endorsers:
            flags += ["--key", f"{endorser.name}={self.directory / f'{endorser.name}.pem'}"]
        return flags

    def keyring(self) -> LogKeyring:
        return load_keyring([self.log_key], None)

    def crawler(self, url: str) -> tuple[RekorV1Source, CrawlJob]:
        """A crawler with its own engine and HTTP client, as a separate process would have."""
        keyset = KeySet()
        for endorser in self.endorsers:
            keyset.add(endorser.name, load_public_key(endorser.public_pem), "test")
        client = RekorClient(self.server.url, requests_per_second=1000)
        job = CrawlJob(open_database(url), keyset, DirectoryStore(self.statements))
        return RekorV1Source(client, self.keyring()), job


def contents(url: str) -> dict[str, Any]:
    """What a crawl stored, by natural keys.

    Not compared: surrogate ids, times, and documents carrying signatures the log makes per
    response (ECDSA signatures differ each time: the raw entries and checkpoint notes).
    """
    with open_database(url)() as session:
        trees = dict(session.execute(select(models.Shard.id, models.Shard.tree_id)).all())
        leaves = dict(session.execute(select(models.Entry.id, models.Entry.leaf_hash)).all())
        checkpoints = session.execute(select(models.StoredCheckpoint.shard_pk,
                                             models.StoredCheckpoint.size,
                                             models.StoredCheckpoint.root_hash)).all()
        entries = session.execute(select(
            models.Entry.leaf_hash, models.Entry.uuid, models.Entry.log_index,
            models.Entry.tree_id, models.Entry.shard_index)).all()
        endorsements = session.execute(select(
            models.Endorsement.dedup_key, models.Endorsement.component,
            models.Endorsement.statement_sha256, models.Endorsement.entry_pk)).all()
        verifications = session.execute(select(
            models.Verification.entry_pk, models.Verification.ok,
            func.count(models.CheckResult.id)).join(models.CheckResult)
            .group_by(models.Verification.id)).all()
        return {
            "shards": sorted(session.execute(select(models.Shard.tree_id,
                                                    models.Shard.frozen)).all()),
            "checkpoints": sorted((trees[shard], size, root) for shard, size, root in checkpoints),
            "entries": sorted(entries),
            "endorsements": sorted((key, component, sha, leaves.get(entry) if entry else None)
                                   for key, component, sha, entry in endorsements),
            "verifications": sorted((leaves.get(entry) if entry else None, ok, checks)
                                    for entry, ok, checks in verifications),
        }
