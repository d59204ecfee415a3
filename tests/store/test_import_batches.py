"""`audit import` of a large directory: verified and stored a batch per transaction (a last
batch smaller than the others), every item counted once, nothing new the second time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor import importer
from auditor.importer import import_paths
from auditor.keyset import KeySet
from auditor.store.database import open_database
from auditor.verify.keys import load_public_key
from auditor.verify.trust import load_keyring
from testlog import Endorser, ManualClock, RekorLog
from testlog.api import RekorApi
from testlog.faults import ContentFaults
from testlog.synthetic import add_endorsements
from tests.store.test_import import row_counts

ENTRIES = 25


def entry_directory(tmp_path: Path) -> tuple[Path, KeySet, Path]:
    """A directory of Rekor entry documents (`<n>/logentry.json`), their keys, the log key."""
    log = RekorLog(clock=ManualClock())
    endorsers = [Endorser("stage0"), Endorser("kernel")]
    api = RekorApi(log, ContentFaults())
    root = tmp_path / "entries"
    for n, endorsement in enumerate(add_endorsements(log, endorsers, ENTRIES)):
        (root / f"{n:03}").mkdir(parents=True)
        document = api.entry_by_uuid(endorsement.entry.uuid)
        (root / f"{n:03}" / "logentry.json").write_text(json.dumps(document))
    keyset = KeySet()
    for endorser in endorsers:
        keyset.add(endorser.name, load_public_key(endorser.public_pem), "test")
    (tmp_path / "log.pem").write_bytes(log.signer.public_pem)
    return root, keyset, tmp_path / "log.pem"


@pytest.mark.parametrize("batch", [7, importer.IMPORT_BATCH])
def test_a_directory_imports_in_batches_and_adds_nothing_the_second_time(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    root, keyset, log_key = entry_directory(tmp_path)
    keyring = load_keyring([log_key], None)
    monkeypatch.setattr(importer, "IMPORT_BATCH", batch)
    report = import_paths(open_database(db_url), [root], keyring, keyset)
    assert not report.errors and report.new == ENTRIES == len(report.imported)
    assert all(item.verification.ok for item in report.imported)
    assert {item.component for item in report.imported} == {"stage0", "kernel"}
    counts = row_counts(db_url)
    # Bare entries: no statement travels with them, so no endorsement row.
    assert counts["entries"] == counts["verifications"] == ENTRIES
    assert counts["endorsements"] == 0
    again = import_paths(open_database(db_url), [root], keyring, keyset)
    assert again.new == 0 and len(again.imported) == ENTRIES
    assert row_counts(db_url) == counts
