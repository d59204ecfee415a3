"""A signed integratedTime held against the heads the log served (auditor.crawl.signed_time)."""

from __future__ import annotations

import json

from auditor.crawl.signed_time import dated_back
from auditor.source.entry import LogEntry
from auditor.source.rekor_v1 import parse_entry_document
from auditor.store import history as stored_history
from auditor.store import models
from auditor.store.database import open_database
from tests.cli_runner import RunAudit
from tests.oakdata import RELEASE, RELEASE_COMPONENTS


def release_entries() -> list[LogEntry]:
    directories = [RELEASE / "components" / c for c in RELEASE_COMPONENTS]
    return [parse_entry_document(json.loads((d / "logentry.json").read_bytes()), source=str(d))
            for d in directories]


def test_oaks_receipts_are_no_heads_and_date_nothing_back(audit: RunAudit, db_url: str) -> None:
    # Oak's receipts carry checkpoints signed in June 2025 and stored when imported: the
    # kernel's (106,207,495 leaves) is below the stage0 entry's leaf (106,208,040), logged a
    # minute later. Held against the import time, every later entry would look dated back;
    # only a head the log served says what the tree held then.
    assert audit("import", str(RELEASE / "endorsements.binarypb")).exit_code == 0
    entries = [e for e in release_entries() if e.proof is not None]
    sessions = open_database(db_url)
    with sessions() as session:
        [log] = session.query(models.Log).all()
        [shard] = stored_history.shards(session, log)
        assert session.query(models.StoredCheckpoint).count() >= 5
        assert all(dated_back(session, log, e, shard.tree_id) is None for e in entries)
    # Were a receipt's checkpoint a head, a real entry would be dated back.
    with sessions.begin() as session:
        smallest = min(session.query(models.StoredCheckpoint), key=lambda c: c.size)
        stored_history.served_as_head(smallest)
        size = smallest.size
    later = [e for e in entries if e.proof and e.proof.log_index >= size]
    with sessions() as session:
        [log] = session.query(models.Log).all()
        assert later and all(dated_back(session, log, e, shard.tree_id) for e in later)
