"""Sigstore bundles: a real Rekor v2 bundle, and v0.1-v0.3 bundles built from real v1 entries."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from auditor.source.bundle import parse_bundle
from auditor.store import models
from auditor.store.database import open_database
from auditor.verify.bundle import verify_bundle
from auditor.verify.entry import EndorsementMaterial
from auditor.verify.trust import keyring_from_trusted_root
from tests.bundles import TiledLog, b64, bundle, hashedrekord_v002, tlog_entry
from tests.cli_runner import RunAudit
from tests.oakdata import DATA, REKOR_KEY, RELEASE

V2_BUNDLE = DATA / "sigstore/staging-rekor-v2.txt.sigstore.json"
V2_ARTIFACT = DATA / "sigstore/staging-rekor-v2.txt"
STAGING_ROOT = DATA / "sigstore/staging_trusted_root.json"
KERNEL = RELEASE / "components/kernel"


def bundle_from_rekor_entry(directory: Path, version: str) -> dict[str, Any]:
    """A bundle carrying the real Rekor v1 entry of an Oak endorsement (field for field)."""
    ((_, entry),) = json.loads((directory / "logentry.json").read_bytes()).items()
    statement = (directory / "endorsement.json").read_bytes()
    # v0.1 bundles may carry only the promise; v0.2 and later need the proof.
    item = tlog_entry(entry, "rekord", "0.0.1", with_proof=version != "0.1")
    return bundle(version, [item], "messageSignature", {
        "messageDigest": {"algorithm": "SHA2_256",
                          "digest": b64(hashlib.sha256(statement).digest())},
        "signature": b64((directory / "endorsement.json.sig").read_bytes()),
    })


def run_json(audit: RunAudit, *args: str) -> tuple[int, dict[str, Any]]:
    result = audit("verify-entry", *args, "--json")
    assert result.exit_code in (0, 1), result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, document


def outcomes(document: dict[str, Any]) -> dict[str, bool | None]:
    return {c["name"]: c["ok"] for c in document["checks"]}


def test_real_rekor_v2_bundle_verifies(audit: RunAudit) -> None:
    code, document = run_json(audit, str(V2_BUNDLE), "--trusted-root", str(STAGING_ROOT),
                              "--artifact", str(V2_ARTIFACT))
    assert code == 0 and document["ok"] is True
    result = outcomes(document)
    for name in ("log_id", "inclusion_proof", "checkpoint_signature", "checkpoint_matches_proof",
                 "body", "body_signature", "artifact_hash", "endorsement_signature"):
        assert result[name] is True, name
    assert result["set"] is None  # Rekor v2 signs no entry timestamp
    assert document["entry"]["rekor_version"] == 2
    assert document["entry"]["kind"] == "hashedrekord"
    assert document["entry"]["api_version"] == "0.0.2"


def test_the_verdict_says_why_a_check_was_skipped_when_an_artifact_was_given(
        audit: RunAudit) -> None:
    # The artifact is a plain file: "not checked: the statement (no --artifact)" blamed a flag
    # that was given.
    result = audit("verify-entry", str(V2_BUNDLE), "--trusted-root", str(STAGING_ROOT),
                   "--artifact", str(V2_ARTIFACT))
    assert result.exit_code == 0, result.stderr
    verdict = result.stderr.strip().splitlines()[-1]
    assert "no --artifact" not in verdict
    assert verdict.endswith("not checked: the signer (no endorser key pinned: --key); "
                            "statement (the artifact is not an in-toto statement)")


def test_rekor_v2_bundle_under_the_production_root_is_not_trusted(audit: RunAudit) -> None:
    code, document = run_json(audit, str(V2_BUNDLE))
    assert code == 1
    failed = {n for n, ok in outcomes(document).items() if ok is False}
    assert failed == {"log_id", "checkpoint_signature"}


def test_rekor_v2_bundle_for_another_artifact_fails(audit: RunAudit, tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_bytes(V2_ARTIFACT.read_bytes() + b"!")
    code, document = run_json(audit, str(V2_BUNDLE), "--trusted-root", str(STAGING_ROOT),
                              "--artifact", str(other))
    assert code == 1
    assert {n for n, ok in outcomes(document).items() if ok is False} == {
        "artifact_hash", "endorsement_signature"}


@pytest.mark.parametrize("version", ["0.1", "0.2", "0.3"])
def test_bundles_of_every_media_type_verify(audit: RunAudit, tmp_path: Path,
                                            version: str) -> None:
    path = tmp_path / "kernel.sigstore.json"
    path.write_text(json.dumps(bundle_from_rekor_entry(KERNEL, version)))
    code, document = run_json(
        audit, str(path), "--rekor-key", str(REKOR_KEY), "--artifact",
        str(KERNEL / "endorsement.json"), "--endorser-key", str(KERNEL / "endorser_public_key.pem"),
        "--subject", str(KERNEL / "subject.bin"))
    result = outcomes(document)
    assert result["leaf_hash"] is None  # bundles carry no UUID
    assert result["set"] is True and result["body"] is True and result["subject"] is True
    if version == "0.1":
        # A promise alone is not a proof of inclusion.
        assert code == 1
        assert {n for n, ok in result.items() if ok is False} == {"inclusion_proof",
                                                                  "checkpoint_signature"}
    else:
        assert code == 0, document


def test_bundle_whose_entry_is_for_a_different_artifact_fails(audit: RunAudit,
                                                              tmp_path: Path) -> None:
    document = bundle_from_rekor_entry(KERNEL, "0.3")
    document["messageSignature"]["messageDigest"]["digest"] = b64(hashlib.sha256(b"x").digest())
    path = tmp_path / "b.json"
    path.write_text(json.dumps(document))
    code, document = run_json(audit, str(path), "--rekor-key", str(REKOR_KEY))
    assert code == 1
    body = next(c for c in document["checks"] if c["name"] == "body")
    assert body["ok"] is False and "different artifact" in body["detail"]


def test_bundle_without_log_entry_fails_the_log_checks(audit: RunAudit, tmp_path: Path) -> None:
    document = bundle_from_rekor_entry(KERNEL, "0.3")
    document["verificationMaterial"]["tlogEntries"] = []
    path = tmp_path / "b.json"
    path.write_text(json.dumps(document))
    code, document = run_json(audit, str(path), "--rekor-key", str(REKOR_KEY),
                              "--artifact", str(KERNEL / "endorsement.json"),
                              "--endorser-key", str(KERNEL / "endorser_public_key.pem"))
    assert code == 1
    result = outcomes(document)
    assert result["inclusion_proof"] is False and result["set"] is False
    assert result["endorser_key"] is True and result["endorsement_signature"] is True


@pytest.mark.parametrize("content", [
    b"", b"{", b"[]", b'{"mediaType": "application/vnd.dev.sigstore.bundle+json;version=9", '
    b'"verificationMaterial": {}}',
    b'{"abc": {"body": 1}}', b'{"' + b"a" * 64 + b'": {"body": "!!!", "integratedTime": 1}}',
    # A media type that is not a string (a list or object cannot even be looked up).
    b'{"mediaType": ["application/vnd.dev.sigstore.bundle.v0.3+json"], '
    b'"verificationMaterial": {}}',
    b'{"mediaType": {}, "verificationMaterial": {}}',
])
def test_malformed_documents_exit_2_with_one_line(audit: RunAudit, tmp_path: Path,
                                                  content: bytes) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = audit("verify-entry", str(path), "--rekor-key", str(REKOR_KEY))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_unreadable_inputs_exit_2(audit: RunAudit, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    assert audit("verify-entry", str(missing)).exit_code == 2
    bad_key = tmp_path / "key.pem"
    bad_key.write_text("not a key")
    result = audit("verify-entry", str(KERNEL / "logentry.json"), "--rekor-key", str(bad_key))
    assert result.exit_code == 2 and "key.pem" in result.stderr
    for spec in ("kernel=", ""):  # read as the directory '.' before
        result = audit("verify-entry", str(KERNEL / "logentry.json"), "--key", spec)
        assert result.exit_code == 2 and "expected [COMPONENT=]PEM_FILE" in result.stderr
    result = audit("verify-entry", str(KERNEL / "logentry.json"), "--at", "yesterday")
    assert result.exit_code == 2 and "--at" in result.stderr
    # An offset past Python's first instant (OverflowError, exit 70 once).
    result = audit("verify-entry", str(KERNEL / "logentry.json"), "--at",
                   "0001-01-01T00:00:00+01:00")
    assert result.exit_code == 2 and "--at" in result.stderr


def test_human_output_and_exit_codes(audit: RunAudit) -> None:
    """The verdict line (stderr, for humans) says what was verified and what was not."""
    key = str(KERNEL / "endorser_public_key.pem")
    good = audit("verify-entry", str(KERNEL / "logentry.json"), "--artifact",
                 str(KERNEL / "endorsement.json"), "--key", key)
    assert good.exit_code == 0 and "all applicable checks pass" in good.stderr
    assert good.stdout == ""
    unpinned = audit("verify-entry", str(KERNEL / "logentry.json"), "--artifact",
                     str(KERNEL / "endorsement.json"))
    assert unpinned.exit_code == 0 and "all applicable" not in unpinned.stderr
    assert "not checked: the signer (no endorser key pinned: --key)" in unpinned.stderr
    bare = audit("verify-entry", str(KERNEL / "logentry.json"), "--endorser-key", key)
    assert bare.exit_code == 0 and "not checked: the statement (no --artifact)" in bare.stderr
    late = audit("verify-entry", str(KERNEL / "logentry.json"), "--artifact",
                 str(KERNEL / "endorsement.json"), "--at", "2030-01-01T00:00:00Z")
    assert late.exit_code == 1 and "NOT verified: validity" in late.stderr


@pytest.mark.parametrize("spelling", ["+{}", " {}\n", "{}.0", "{:_}"])
def test_an_int64_is_read_in_its_protobuf_json_form_only(audit: RunAudit, tmp_path: Path,
                                                         spelling: str) -> None:
    """int() reads '+7', ' 7\\n', '7_000' and other scripts' digits as numbers; protobuf JSON
    writes an int64 as ASCII decimal and nothing else."""
    document = bundle_from_rekor_entry(KERNEL, "0.3")
    (entry,) = document["verificationMaterial"]["tlogEntries"]
    entry["logIndex"] = spelling.format(int(entry["logIndex"]))
    path = tmp_path / "b.json"
    path.write_text(json.dumps(document))
    result = audit("verify-entry", str(path), "--rekor-key", str(REKOR_KEY))
    assert result.exit_code == 2, result.stderr
    assert "logIndex: " in result.stderr and "is not a decimal integer" in result.stderr


def test_an_int64_in_other_digits_is_refused(audit: RunAudit, tmp_path: Path) -> None:
    document = bundle_from_rekor_entry(KERNEL, "0.3")
    (entry,) = document["verificationMaterial"]["tlogEntries"]
    entry["logIndex"] = "".join(chr(0x660 + int(d)) for d in str(entry["logIndex"]))
    path = tmp_path / "b.json"
    path.write_text(json.dumps(document))
    result = audit("verify-entry", str(path), "--rekor-key", str(REKOR_KEY))
    assert result.exit_code == 2 and "is not a decimal integer" in result.stderr


def test_an_integrated_time_no_promise_signs_is_not_a_time_to_judge_validity_at(
        audit: RunAudit, tmp_path: Path) -> None:
    """Without its inclusion promise a bundle's integratedTime is signed by nothing (the proof
    covers the body only): moved into an expired endorsement's validity window, it passed."""
    document = bundle_from_rekor_entry(KERNEL, "0.3")
    (entry,) = document["verificationMaterial"]["tlogEntries"]
    del entry["inclusionPromise"]
    entry["integratedTime"] = "4102444800"  # 2100-01-01: long after the statement expired
    path = tmp_path / "b.json"
    path.write_text(json.dumps(document))
    artifact = ("--artifact", str(KERNEL / "endorsement.json"))
    code, result = run_json(audit, str(path), "--rekor-key", str(REKOR_KEY), *artifact)
    validity = next(c for c in result["checks"] if c["name"] == "validity")
    assert validity["ok"] is None and "signed entry timestamp" in validity["detail"]
    # Judged at a time the caller names, as ever.
    code, result = run_json(audit, str(path), "--rekor-key", str(REKOR_KEY), *artifact,
                            "--at", "2100-01-01T00:00:00Z")
    assert code == 1 and outcomes(result)["validity"] is False


def _without_promise(integrated_time: str) -> dict[str, Any]:
    document = bundle_from_rekor_entry(KERNEL, "0.3")
    (entry,) = document["verificationMaterial"]["tlogEntries"]
    del entry["inclusionPromise"]
    entry["integratedTime"] = integrated_time
    return document


def test_a_bundle_without_its_promise_shows_its_index_and_time_as_unsigned(
        audit: RunAudit, tmp_path: Path) -> None:
    """Only the signed entry timestamp signs a Rekor v1 logIndex and integratedTime: without
    it they were shown beside the verified facts as if the log had signed them."""
    path = tmp_path / "b.json"
    path.write_text(json.dumps(_without_promise("1")))
    code, result = run_json(audit, str(path), "--rekor-key", str(REKOR_KEY))
    assert code == 0 and result["entry"]["unsigned"] == ["log_index", "integrated_time"]
    assert result["entry"]["integrated_time"] == 1  # what the bundle says, marked unsigned
    text = audit("verify-entry", str(path), "--rekor-key", str(REKOR_KEY)).stderr
    assert f"log index {result['entry']['log_index']} (unsigned)" in text
    signed = tmp_path / "signed.json"
    signed.write_text(json.dumps(bundle_from_rekor_entry(KERNEL, "0.3")))
    code, result = run_json(audit, str(signed), "--rekor-key", str(REKOR_KEY))
    assert code == 0 and "unsigned" not in result["entry"]


def test_a_bundle_without_its_promise_stores_no_time_until_the_log_signs_one(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    """The unsigned integratedTime was stored as the entry's and its endorsement's: it ordered
    them, and one dated before `[reconcile] expected_since` was excused from
    UNEXPECTED_ENDORSEMENT (a bundle chose its own excuse). Kept first, it also stood when the
    log's signed copy came, as did the bundle's logIndex. Now no time is stored, the index is
    listed as unsigned, and a copy whose signed entry timestamp verifies mends both."""
    directory = tmp_path / "components" / "kernel"
    directory.mkdir(parents=True)
    for name in ("endorsement.json", "endorsement.json.sig", "subject.bin"):
        (directory / name).write_bytes((KERNEL / name).read_bytes())
    document = _without_promise("1")
    (entry,) = document["verificationMaterial"]["tlogEntries"]
    entry["logIndex"] = str(int(entry["logIndex"]) + 5)  # another virtual index, unsigned
    (directory / "logentry.json").write_text(json.dumps(document))
    config = tmp_path / "auditor.toml"
    pem = (KERNEL / "endorser_public_key.pem").read_text()
    config.write_text(f'[log]\nrekor_keys = ["{REKOR_KEY}"]\n[reconcile]\n'
                      "expected_since = 2000-01-01\n"
                      f'[components.kernel]\nkeys = ["""{pem}"""]\n')
    result = audit("import", str(directory), "--config", str(config), "--json")
    assert result.exit_code == 0, result.stderr
    entries = json.loads(audit("entries", "--json").stdout)["entries"]
    assert [(e["integrated_time"], e["unsigned"]) for e in entries] == [(None, ["log_index"])]
    findings = json.loads(audit("run", "--config", str(config), "--offline", "--json").stdout)
    assert "UNEXPECTED_ENDORSEMENT" in {f["rule"] for f in findings["findings"]}
    # The log's own copy, its signed entry timestamp verified, brings the signed time.
    ((_, real),) = json.loads((KERNEL / "logentry.json").read_bytes()).items()
    (directory / "logentry.json").write_bytes((KERNEL / "logentry.json").read_bytes())
    assert audit("import", str(directory), "--config", str(config)).exit_code == 0
    entries = json.loads(audit("entries", "--json").stdout)["entries"]
    assert [(e["integrated_time"], e["log_index"], e.get("unsigned")) for e in entries] == [
        (real["integratedTime"], real["logIndex"], None)]
    with open_database(db_url)() as session:
        times = session.scalars(select(models.Endorsement.integrated_time)).all()
    assert times == [real["integratedTime"]]


@pytest.mark.parametrize("log_index", ["7", "646"])
def test_a_rekor_v2_log_index_is_the_proven_leaf_index(audit: RunAudit, tmp_path: Path,
                                                       log_index: str) -> None:
    """A Rekor v2 entry's logIndex is signed by nothing but its inclusion proof: one that is
    not the proven leaf's verified, and was reported (and imported) as said."""
    document = json.loads(V2_BUNDLE.read_bytes())
    document["verificationMaterial"]["tlogEntries"][0]["logIndex"] = log_index
    path = tmp_path / "b.json"
    path.write_text(json.dumps(document))
    code, result = run_json(audit, str(path), "--trusted-root", str(STAGING_ROOT),
                            "--artifact", str(V2_ARTIFACT))
    assert code == 1
    assert {n for n, ok in outcomes(result).items() if ok is False} == {"inclusion_proof"}
    proof = next(c for c in result["checks"] if c["name"] == "inclusion_proof")
    assert f"logIndex {log_index} is not the proven leaf index 645" in proof["detail"]


def test_a_rekor_v1_virtual_index_below_the_shard_index_fails(audit: RunAudit,
                                                              tmp_path: Path) -> None:
    document = bundle_from_rekor_entry(KERNEL, "0.3")
    (entry,) = document["verificationMaterial"]["tlogEntries"]
    del entry["inclusionPromise"]  # nothing else signs the virtual index
    entry["logIndex"] = str(int(entry["inclusionProof"]["logIndex"]) - 1)
    path = tmp_path / "b.json"
    path.write_text(json.dumps(document))
    code, result = run_json(audit, str(path), "--rekor-key", str(REKOR_KEY))
    assert code == 1
    assert {n for n, ok in outcomes(result).items() if ok is False} == {"inclusion_proof"}


def test_a_bundle_certificate_that_is_not_the_entry_signers_fails_the_body(
        audit: RunAudit, tmp_path: Path) -> None:
    """The entry logs a bare key; a certificate beside it for another key (or bytes that are
    no certificate) was never compared with it, and the bundle verified."""
    other_certificate = json.loads(V2_BUNDLE.read_bytes())["verificationMaterial"]["certificate"]
    for certificate, said in ((other_certificate, "for another key than the entry's"),
                              ({"rawBytes": "AAAA"}, "not a DER X.509 certificate")):
        document = bundle_from_rekor_entry(KERNEL, "0.3")
        document["verificationMaterial"]["certificate"] = certificate
        path = tmp_path / "b.json"
        path.write_text(json.dumps(document))
        code, result = run_json(audit, str(path), "--rekor-key", str(REKOR_KEY))
        assert code == 1 and {n for n, ok in outcomes(result).items() if ok is False} == {"body"}
        assert said in next(c["detail"] for c in result["checks"] if c["name"] == "body")


def test_a_hostile_declared_kind_is_quoted_cut(audit: RunAudit, tmp_path: Path) -> None:
    document = bundle_from_rekor_entry(KERNEL, "0.3")
    document["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"] = "k" * 1_000_000
    path = tmp_path / "b.json"
    path.write_text(json.dumps(document))
    code, result = run_json(audit, str(path), "--rekor-key", str(REKOR_KEY))
    body = next(c["detail"] for c in result["checks"] if c["name"] == "body")
    assert code == 1 and len(body) < 1200 and "(1,000,000 characters)" in body


def test_a_megabyte_origin_a_log_signed_is_quoted_cut() -> None:
    """A hostile log may sign any origin: checkpoint_matches_proof quoted a megabyte of it."""
    log = TiledLog("log2099-1.rekor.example")
    signer = ec.generate_private_key(ec.SECP256R1())
    signature = signer.sign(b"artifact", ec.ECDSA(hashes.SHA256()))
    index = log.add(hashedrekord_v002(hashlib.sha256(b"artifact").digest(), signature,
                                      signer.public_key()))
    item = log.tlog_entry(index, "hashedrekord")
    note = f"{'o' * 1_000_000}\n{log.tree.size}\n{b64(log.tree.root())}\n"
    item["inclusionProof"]["checkpoint"]["envelope"] = (
        f"{note}\n\u2014 {log.name} {b64(log.log_id[:4] + log.key.sign(note.encode()))}\n")
    document = bundle("0.3", [item], "messageSignature", {
        "messageDigest": {"algorithm": "SHA2_256", "digest": b64(hashlib.sha256(b"artifact")
                                                                 .digest())},
        "signature": b64(signature)})
    keyring = keyring_from_trusted_root(
        json.dumps(log.trusted_root("https://log2099-1.rekor.example")).encode(), source="root")
    (verification,) = verify_bundle(parse_bundle(document, source="b"), keyring,
                                    EndorsementMaterial())
    check = verification.check("checkpoint_matches_proof")
    assert check.ok is False and len(check.detail) < 1000
    assert "(1,000,002 characters)" in check.detail  # quoted


def test_an_artifact_that_never_ends_is_refused(audit: RunAudit) -> None:
    """--artifact /dev/zero (or an endless pipe) was read until memory ran out: exit 70."""
    result = audit("verify-entry", str(KERNEL / "logentry.json"), "--artifact", "/dev/zero")
    assert result.exit_code == 2
    assert "/dev/zero: not a file and more than 67108864 bytes" in result.stderr


def test_a_bundle_in_protobuf_field_names_is_named_as_such(audit: RunAudit,
                                                           tmp_path: Path) -> None:
    # It was refused as "expected a JSON object with exactly one entry UUID key".
    document = json.loads(V2_BUNDLE.read_bytes())
    document["media_type"] = document.pop("mediaType")
    document["verification_material"] = document.pop("verificationMaterial")
    path = tmp_path / "snake.json"
    path.write_text(json.dumps(document))
    result = audit("verify-entry", str(path), "--trusted-root", str(STAGING_ROOT))
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "a Sigstore bundle in protobuf field names (media_type" in result.stderr
