"""`audit import` of a large directory: verified and stored a batch per transaction (a last
batch smaller than the others), every item counted once, nothing new the second time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
from tests.cli_runner import RunAudit
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


def test_items_handed_on_as_stored_are_not_kept(db_url: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root, keyset, log_key = entry_directory(tmp_path)
    monkeypatch.setattr(importer, "IMPORT_BATCH", 7)
    batches: list[int] = []
    handed: list[importer.ImportedItem] = []

    def each(item: importer.ImportedItem) -> None:
        handed.append(item)
        batches.append(row_counts(db_url)["entries"])  # stored before it is handed on

    report = import_paths(open_database(db_url), [root], load_keyring([log_key], None), keyset,
                          each=each)
    assert report.imported == [] and report.count == report.new == len(handed) == ENTRIES
    assert batches == [min(7 * (n // 7 + 1), ENTRIES) for n in range(ENTRIES)]
    assert not report.failed


def test_the_json_of_a_large_import_is_written_as_it_goes(audit: RunAudit, tmp_path: Path,
                                                          db_url: str
                                                          ) -> None:
    root, keyset, log_key = entry_directory(tmp_path)
    broken = root / "003" / "logentry.json"  # a tampered signed entry timestamp fails a check
    document = json.loads(broken.read_text())
    entry = next(iter(document.values()))
    entry["integratedTime"] += 1
    broken.write_text(json.dumps(document))
    keys = [flag for name, spec in keyset.components.items() for flag in
            ("--key", f"{name}={_pem(tmp_path, name, spec.keys[0].spki_der)}")]
    result = audit("import", str(root), "--rekor-key", str(log_key), *keys, "--json")
    assert result.exit_code == 1
    parsed = json.loads(result.stdout)
    assert result.stdout == json.dumps(parsed, indent=2) + "\n"  # print_json's text
    assert list(parsed) == ["imported", "errors", "new"] and parsed["new"] == ENTRIES
    assert len(parsed["imported"]) == ENTRIES
    assert [item["ok"] for item in parsed["imported"]].count(False) == 1
    assert f"failed checks in {broken}: " in result.stderr
    assert f"imported {ENTRIES} items, {ENTRIES} new, 1 with failed checks" in result.stderr


def _pem(directory: Path, name: str, spki_der: bytes) -> Path:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_der_public_key,
    )

    path = directory / f"{name}.pem"
    path.write_bytes(load_der_public_key(spki_der).public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return path


@pytest.mark.parametrize("share", [0.0, 0.5], ids=["whole", "split"])
def test_a_large_import_verified_in_a_worker_stores_what_one_in_process_stores(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, share: float) -> None:
    from auditor import verify_ahead
    from tests.crawl.test_verify_ahead import stored

    root, keyset, log_key = entry_directory(tmp_path)
    broken = root / "003" / "logentry.json"  # one item fails a check
    document = json.loads(broken.read_text())
    next(iter(document.values()))["integratedTime"] += 1
    broken.write_text(json.dumps(document))
    keyring = load_keyring([log_key], None)
    monkeypatch.setattr(importer, "IMPORT_BATCH", 4)
    here = f"sqlite:///{tmp_path / 'here.db'}"
    import_paths(open_database(here), [root], keyring, keyset)
    monkeypatch.setattr(verify_ahead, "WORKER_FROM", 1)
    # The worker verifies every whole batch, or each batch's head (the import the tail).
    monkeypatch.setattr(verify_ahead, "SHARE", share)
    in_worker = []
    monkeypatch.setattr(verify_ahead.VerifyAhead, "close", _counting(in_worker))
    report = import_paths(open_database(db_url), [root], keyring, keyset)
    assert in_worker == [7]  # 25 items in batches of 4 (the last one holds 1)
    assert report.count == ENTRIES and [source for source, _ in report.failed] == [str(broken)]
    assert stored(db_url) == stored(here)


def _counting(into: list[int]) -> Any:
    from auditor.verify_ahead import VerifyAhead

    close = VerifyAhead.close

    def counted(self: VerifyAhead[Any, Any]) -> None:
        close(self)
        into.append(self.in_worker)
    return counted
