"""`audit import`: real Oak data verified and stored, idempotently, per component."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from auditor.store import models, tables
from auditor.store.database import make_engine, open_database
from tests.cli_runner import RunAudit
from tests.oakdata import DATA, RELEASE, RELEASE_COMPONENTS, SINGLE, STAGING

TABLES = (tables.logs, tables.shards, tables.checkpoints, tables.entries, tables.endorsements,
          tables.verifications, tables.check_results, tables.component_keys)


def row_counts(url: str) -> dict[str, int]:
    with open_database(url)() as session:
        return {t.name: session.scalar(select(func.count()).select_from(t)) or 0
                for t in TABLES}


def entries_json(audit: RunAudit, *args: str) -> list[dict[str, object]]:
    result = audit("entries", "--json", *args)
    assert result.exit_code == 0, result.stderr
    entries: list[dict[str, object]] = json.loads(result.stdout)["entries"]
    return entries


def test_release_endorsements_store_five_components_all_passing(audit: RunAudit,
                                                                 db_url: str) -> None:
    result = audit("import", str(RELEASE / "endorsements.binarypb"))
    assert result.exit_code == 0, result.stderr
    entries = entries_json(audit)
    assert sorted(e["component"] for e in entries) == sorted(RELEASE_COMPONENTS)  # type: ignore[type-var]
    for entry in entries:
        assert entry["ok"] is True and entry["logged"] is True
        outcomes = {c["name"]: c["ok"] for c in entry["checks"]}  # type: ignore[attr-defined]
        assert all(ok is not False for ok in outcomes.values())
        # Everything applies except an inline subject where the subject is the file itself.
        not_applicable = {n for n, ok in outcomes.items() if ok is None}
        assert not_applicable <= {"subject"}
        assert (not_applicable == set()) == (entry["component"] not in ("init_ram_fs",
                                                                        "system_image"))
    counts = row_counts(db_url)
    assert counts["entries"] == 5 and counts["endorsements"] == 5
    assert counts["shards"] == 1  # every release entry is in tree 1193050959916656506


def test_importing_the_same_data_twice_adds_nothing(audit: RunAudit, db_url: str) -> None:
    assert audit("import", str(RELEASE / "endorsements.binarypb")).exit_code == 0
    before = row_counts(db_url)
    # Same message as text, and the same endorsements exploded per component.
    for again in (RELEASE / "endorsements.binarypb", RELEASE / "endorsements.textproto"):
        result = audit("import", str(again))
        assert result.exit_code == 0 and "0 new" in result.stderr
    assert row_counts(db_url) == before


def test_component_directories_keep_component_names(audit: RunAudit, db_url: str) -> None:
    result = audit("import", str(RELEASE / "components"))
    assert result.exit_code == 0, result.stderr
    assert sorted(e["component"] for e in entries_json(audit)) == sorted(RELEASE_COMPONENTS)  # type: ignore[type-var]
    kernel = entries_json(audit, "--component", "kernel")
    assert len(kernel) == 1 and kernel[0]["subject_name"] == "oak_containers_kernel"


def test_staging_set_is_stored_as_not_logged(audit: RunAudit, db_url: str) -> None:
    # Staging is signed by the development key that its own reference values pin.
    result = audit("import", str(STAGING / "endorsements.textproto"),
                   "--keys", str(STAGING / "reference_values.binarypb"))
    assert result.exit_code == 0, result.stderr
    entries = entries_json(audit)
    assert sorted(e["component"] for e in entries) == sorted(RELEASE_COMPONENTS)  # type: ignore[type-var]
    for entry in entries:
        assert entry["logged"] is False and entry["ok"] is True
        outcomes = {c["name"]: c["ok"] for c in entry["checks"]}  # type: ignore[attr-defined]
        # Staging's reference values skip the cmdline: no key is pinned for it.
        pinned = entry["component"] != "kernel_cmd_line"
        assert outcomes["endorser_key"] is (True if pinned else None)
        assert outcomes["endorsement_signature"] is (True if pinned else None)
        assert outcomes["inclusion_proof"] is None
    assert row_counts(db_url)["entries"] == 0


def test_staging_under_release_keys_fails_the_endorser_key(audit: RunAudit, db_url: str) -> None:
    result = audit("import", str(STAGING / "endorsements.binarypb"))
    assert result.exit_code == 1
    for entry in entries_json(audit):
        failed = [c["name"] for c in entry["checks"] if c["ok"] is False]  # type: ignore[attr-defined]
        assert failed == ["endorser_key"]


def test_bare_entry_is_attributed_to_the_component_whose_key_signed_it(audit: RunAudit,
                                                                       db_url: str) -> None:
    result = audit("import", str(RELEASE / "components/stage0/logentry.json"))
    assert result.exit_code == 0, result.stderr
    (entry,) = entries_json(audit)
    assert entry["logged"] is True and entry["ok"] is True
    # Stored under it, and listed so (entries showed component null, and --component
    # stage0 did not list it).
    assert entry["component"] == "stage0"
    assert entries_json(audit, "--component", "stage0") == [entry]


def test_malformed_file_is_reported_and_the_batch_goes_on(audit: RunAudit,
                                                         tmp_path: Path, db_url: str) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"abc": ')
    truncated = tmp_path / "endorsements.binarypb"
    truncated.write_bytes((RELEASE / "endorsements.binarypb").read_bytes()[:1000])
    result = audit("import", str(broken), str(truncated), str(SINGLE / "logentry.json"))
    assert result.exit_code == 1
    assert str(broken) in result.stderr and str(truncated) in result.stderr
    assert "Traceback" not in result.stderr
    assert len(entries_json(audit)) == 1


def test_directory_import_finds_everything_once(audit: RunAudit, tmp_path: Path,
                                                db_url: str) -> None:
    tree = tmp_path / "oak"
    shutil.copytree(RELEASE, tree / "release")
    shutil.copytree(SINGLE, tree / "single")
    result = audit("import", str(tree))
    assert result.exit_code == 0, result.stderr
    # Five components (message and exploded directories hold the same endorsements) + 1.
    assert len(entries_json(audit)) == 6


def test_out_of_date_schema_is_refused(audit: RunAudit, db_url: str) -> None:
    assert audit("import", str(SINGLE / "logentry.json")).exit_code == 0
    with make_engine(db_url).begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    result = audit("entries")
    assert result.exit_code == 2
    assert "audit db upgrade" in result.stderr


def test_db_upgrade_creates_and_is_idempotent(audit: RunAudit, db_url: str) -> None:
    first = audit("db", "upgrade")
    assert first.exit_code == 0 and "was empty" in first.stderr
    second = audit("db", "upgrade")
    assert second.exit_code == 0 and "backed up" not in second.stderr


def test_sigstore_bundle_imports_with_its_trusted_root(audit: RunAudit, db_url: str) -> None:
    bundle = DATA / "sigstore/staging-rekor-v2.txt.sigstore.json"
    root = DATA / "sigstore/staging_trusted_root.json"
    result = audit("import", str(bundle), "--trusted-root", str(root))
    assert result.exit_code == 0, result.stderr
    (entry,) = entries_json(audit)
    assert entry["logged"] is True and entry["kind"] == "hashedrekord"
    with open_database(db_url)() as session:
        (stored,) = session.scalars(select(models.Entry))
        assert stored.rekor_version == 2 and stored.raw_format == "sigstore-bundle"
        assert stored.raw == bundle.read_bytes()
    # Under the production root the Rekor v2 staging log is not trusted: the checks say so.
    again = audit("import", str(bundle))
    assert again.exit_code == 1 and "0 new" in again.stderr
    assert "log_id, checkpoint_signature" in again.stderr


def test_required_claims_of_the_component_are_enforced(audit: RunAudit, tmp_path: Path,
                                                       db_url: str) -> None:
    kernel = RELEASE / "components/kernel"
    statement_claims = [c["type"] for c in json.loads(
        (kernel / "endorsement.json").read_text())["predicate"]["claims"]]
    keys = tmp_path / "keys.toml"
    pem = (kernel / "endorser_public_key.pem").read_text()
    for claims, expected in ((statement_claims[:1], 0), (["https://example.invalid/claim"], 1)):
        keys.write_text(f'[components.kernel]\nkeys = ["""\n{pem}"""]\n'
                        f"required_claims = {json.dumps(claims)}\n")
        result = audit("import", "--keys", str(keys), "--json", str(kernel))
        assert result.exit_code == expected, result.stderr
        (item,) = json.loads(result.stdout)["imported"]
        statement = next(c for c in item["checks"] if c["name"] == "statement")
        assert statement["ok"] is (expected == 0)
        if expected:
            assert "lacks required claim(s) https://example.invalid/claim" in statement["detail"]


def test_a_required_claim_that_is_not_text_is_refused_not_stored(audit: RunAudit,
                                                                 tmp_path: Path,
                                                                 db_url: str) -> None:
    """A claim type from Oak reference values (a protobuf string) or a TOML key file may hold
    U+0000; named in the statement check's detail, it stopped the import at PostgreSQL."""
    from tests.receipts import spki_der, text_key

    kernel = RELEASE / "components/kernel"
    pem = (kernel / "endorser_public_key.pem").read_bytes()
    oak = tmp_path / "reference_values.textproto"
    oak.write_text("oak_containers { kernel_layer { kernel { endorsement { endorser { "
                   f"{text_key(spki_der(pem))} }} required_claims {{ claim_types: "
                   '"https://example.invalid/\\000claim" } tlog { skip {} } } } } }')
    toml = tmp_path / "keys.toml"
    toml.write_text(f'[components.kernel]\nkeys = ["""\n{pem.decode()}"""]\n'
                    'required_claims = ["https://example.invalid/\\u0000claim"]\n')
    for keys in (oak, toml):
        result = audit("import", "--keys", str(keys), str(kernel))
        assert result.exit_code == 2, result.stderr
        assert "required claim of kernel 'https://example.invalid/\\x00claim' holds U+0000" \
            in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert row_counts(db_url)["endorsements"] == 0


def test_a_fifo_or_an_oversized_file_in_an_import_is_reported_not_waited_on(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    """`tar` restores FIFOs: a component's logentry.json that is one must not block the import
    forever (nothing will write to it), and a file past the document bound is refused unread."""
    import os
    import signal

    from auditor.local_files import MAX_DOCUMENT_SIZE

    tree = tmp_path / "oak"
    shutil.copytree(RELEASE / "components", tree / "components")
    fifo = tree / "components" / "kernel" / "logentry.json"
    fifo.unlink()
    os.mkfifo(fifo)
    huge = tmp_path / "huge.sigstore.json"
    with huge.open("wb") as sparse:
        sparse.truncate(MAX_DOCUMENT_SIZE + 1)

    def hung(_signum: int, _frame: object) -> None:
        raise TimeoutError("the import blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        result = audit("import", str(tree), str(huge))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert result.exit_code == 1, result.stderr
    assert f"{fifo}: not valid JSON" in result.stderr
    assert f"{huge}: larger than {MAX_DOCUMENT_SIZE} bytes" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(entries_json(audit)) == len(RELEASE_COMPONENTS) - 1


def test_names_that_are_not_utf8_are_stored_and_shown_escaped(audit: RunAudit, tmp_path: Path,
                                                               db_url: str) -> None:
    """A tar archive restores any bytes as a name: Python sees the undecodable ones as
    surrogates, which neither database nor a UTF-8 output holds (the whole import was exit
    70). The names are stored and shown with those bytes escaped."""
    import os

    tree = os.fsencode(tmp_path / "oak")
    shutil.copytree(RELEASE / "components" / "kernel",
                    os.fsdecode(tree + b"/components/kern\xffel"))
    (Path(os.fsdecode(tree)) / os.fsdecode(b"bad\xfe.sigstore.json")).write_text("{")
    result = audit("import", "--json", os.fsdecode(tree))
    assert result.exit_code == 1, result.stderr
    document = json.loads(result.stdout)
    (item,) = document["imported"]
    assert item["component"] == "kern\\xffel" and item["source"].endswith("/kern\\xffel")
    (error,) = document["errors"]
    assert error["path"].endswith("/bad\\xfe.sigstore.json")
    assert error["reason"].startswith(error["path"] + ": not valid JSON")
    assert [e["component"] for e in entries_json(audit)] == ["kern\\xffel"]


def test_a_tree_nested_a_thousand_deep_is_walked(audit: RunAudit, tmp_path: Path,
                                                 db_url: str) -> None:
    """An archive nests directories as deep as it likes: the walk was recursive, and 1,100
    levels ended the import with RecursionError (exit 70)."""
    levels = [tmp_path / "tree"]
    for _ in range(1100):
        levels.append(levels[-1] / "d")
    try:
        for level in levels:
            level.mkdir()  # one at a time: os.makedirs recurses per missing level
        shutil.copytree(RELEASE / "components" / "kernel", levels[-1] / "components" / "kernel")
        shutil.copy(SINGLE / "logentry.json", levels[-1] / "logentry.json")
        result = audit("import", str(levels[0]))
        assert result.exit_code == 0, result.stderr
        assert sorted(str(e["component"]) for e in entries_json(audit)) == ["None", "kernel"]
    finally:
        # Bottom up: shutil.rmtree (and pytest's cleanup of old temporary directories with
        # it) recurses per level too.
        shutil.rmtree(levels[-1] / "components", ignore_errors=True)
        (levels[-1] / "logentry.json").unlink(missing_ok=True)
        for level in reversed(levels):
            if level.exists():
                level.rmdir()


def test_an_empty_signature_file_is_checked_not_replaced_by_the_logged_one(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    """An empty (truncated, lost) `endorsement.json.sig` was passed over for the signature in
    the log entry, and the endorsement stored as verified; so was `verify-entry --signature`."""
    kernel = tmp_path / "components" / "kernel"
    shutil.copytree(RELEASE / "components/kernel", kernel)
    (kernel / "endorsement.json.sig").write_bytes(b"")
    result = audit("import", str(kernel))
    assert result.exit_code == 1 and "endorsement_signature" in result.stderr
    (entry,) = entries_json(audit)
    assert entry["ok"] is False
    result = audit("verify-entry", str(kernel / "logentry.json"), "--artifact",
                   str(kernel / "endorsement.json"), "--signature",
                   str(kernel / "endorsement.json.sig"))
    assert result.exit_code == 1 and "NOT verified: endorsement_signature" in result.stderr


@pytest.mark.parametrize(("name", "content"), [
    ("endorsements.textproto", b"\n# nothing\n"),  # text of no field: an empty message
    ("endorsements.binarypb", b"\x0b\x0b"),  # vertical tabs: UTF-8, read as empty text
    ("endorsements.binarypb", b"\x42\x00"),  # a platform Variant and no endorsement
])
def test_an_endorsements_message_without_endorsements_is_reported(
        audit: RunAudit, tmp_path: Path, db_url: str, name: str, content: bytes) -> None:
    """It was "imported 0 items", exit 0: a file of vertical tabs read as a clean import."""
    empty = tmp_path / name
    empty.write_bytes(content)
    result = audit("import", str(empty), str(SINGLE / "logentry.json"))
    assert result.exit_code == 1
    assert f"{empty}: an Endorsements message holding no endorsement" in result.stderr
    assert "1 item, 1 new, 0 with failed checks, 1 unreadable" in result.stderr


def test_a_stored_entry_whose_proofs_failed_is_mended_by_a_copy_that_verifies(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    """An entry imported with a broken SET, then as served: the import said it verifies,
    and the store kept the failure."""
    ((uuid, entry),) = json.loads((SINGLE / "logentry.json").read_bytes()).items()
    entry["verification"]["signedEntryTimestamp"] = "MAYCAQECAQE="  # a DER signature (1, 1)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({uuid: entry}))
    assert audit("import", str(broken)).exit_code == 1
    result = audit("import", str(SINGLE / "logentry.json"))
    assert result.exit_code == 0 and "1 new" in result.stderr
    (stored,) = entries_json(audit)
    assert stored["ok"] is True
    # Mended once: the same copy again adds nothing; a broken copy does not undo it.
    assert "0 new" in audit("import", str(SINGLE / "logentry.json")).stderr
    assert audit("import", str(broken)).exit_code == 1
    assert [e["ok"] for e in entries_json(audit)] == [True]


def test_a_malformed_rekor_entry_in_a_message_loses_only_its_endorsement(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    """One component's Rekor entry that is no entry made the whole Endorsements message
    unreadable: the other four endorsements of the release were not imported."""
    from auditor.oak.proto.attestation import endorsement_pb2

    message = endorsement_pb2.Endorsements.FromString(
        (RELEASE / "endorsements.binarypb").read_bytes())
    message.oak_containers.kernel_layer.kernel.rekor_log_entry = b'{"abc": 1}'
    path = tmp_path / "endorsements.binarypb"
    path.write_bytes(message.SerializeToString())
    result = audit("import", str(path))
    assert result.exit_code == 1
    assert f"{path}#kernel: 'abc' is not a 64- or 80-hex Rekor entry UUID" in result.stderr
    # The others import (the kernel's too, from the message's Variant copy of it).
    assert "imported 5 items, 5 new, 0 with failed checks, 1 unreadable" in result.stderr
    assert {e["component"] for e in entries_json(audit)} == set(RELEASE_COMPONENTS)


def test_entries_limit_counts_items_not_their_verifications(audit: RunAudit, tmp_path: Path,
                                                            db_url: str) -> None:
    # Two entries, each verified twice (a broken copy, then the mended one). `--limit 2` took
    # the newest two verification rows, both of one entry, and listed one entry.
    for name in ("kernel", "stage0"):
        served = RELEASE / "components" / name / "logentry.json"
        ((uuid, entry),) = json.loads(served.read_bytes()).items()
        entry["verification"]["signedEntryTimestamp"] = "MAYCAQECAQE="
        broken = tmp_path / f"{name}.json"
        broken.write_text(json.dumps({uuid: entry}))
        assert audit("import", str(broken)).exit_code == 1
        assert audit("import", str(served)).exit_code == 0
    everything = entries_json(audit, "--limit", "0")
    assert len(everything) == 2 and all(e["ok"] for e in everything)
    assert entries_json(audit, "--limit", "2") == everything
    assert entries_json(audit, "--limit", "1") == everything[:1]
