"""`audit import` keeps every receipt of an Oak `Endorsements` message and verifies each.

The real release kernel endorsement (its statement, signature and genuine rekor.sigstore.dev
entry, tests/data/PROVENANCE.md) travels here with a C2SP tlog-proof from a local tiled log and
a PES confirmation, both made with the real algorithms (tests/receipts.py). Every receipt is
stored byte-exact; every check is stored and reported; a broken receipt fails its named check.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from auditor.oak.messages import read_endorsements
from auditor.store import models
from auditor.store.database import open_database
from testlog.synthetic import Endorser
from testlog.tlog_proof import Cosigner
from tests.cli_runner import RunAudit
from tests.oakdata import RELEASE
from tests.receipts import Pes, Signed, TiledLog, endorsements_message

KERNEL = next(e for e in read_endorsements((RELEASE / "endorsements.binarypb").read_bytes())
              if e.component == "kernel")
KERNEL_PEM = (RELEASE / "components" / "kernel" / "endorser_public_key.pem").read_bytes()
LOG = TiledLog()
PES = Pes()
RECEIPT_CHECKS = ("tlog_proof", "tlog_checkpoint", "witness_quorum", "pes_confirmation")


def kernel_with_receipts(**changes: bytes | None) -> Signed:
    signed = Signed.of(KERNEL)
    signed.c2sp_tlog_proof = LOG.proof(signed.statement)
    signed.pes_confirmation = PES.confirm(signed, KERNEL_PEM)
    for name, value in changes.items():
        setattr(signed, name, value)
    return signed


def config(tmp_path: Path, policy: str = LOG.policy) -> Path:
    """The shipped release keys, and the tlog-policy and PES key of the kernel's receipts."""
    (tmp_path / "kernel.tlog-policy").write_text(policy)
    (tmp_path / "pes.pem").write_bytes(PES.pem)
    path = tmp_path / "auditor.toml"
    path.write_text('[components.kernel]\ntlog_policy = "kernel.tlog-policy"\n'
                    'pes_keys = ["pes.pem"]\n')
    return path


def import_message(audit: RunAudit, tmp_path: Path, *endorsed: Signed,
                   policy: str = LOG.policy) -> tuple[int, dict[str, Any], str]:
    message = tmp_path / "endorsements.binarypb"
    message.write_bytes(endorsements_message(*endorsed))
    result = audit("import", str(message), "--config", str(config(tmp_path, policy)), "--json")
    assert "Traceback" not in result.stderr
    return result.exit_code, json.loads(result.stdout), result.stderr


def stored_receipts(db_url: str) -> list[tuple[str, bytes]]:
    with open_database(db_url)() as session:
        rows = session.execute(select(models.Receipt.kind, models.Receipt.raw)
                               .order_by(models.Receipt.id))
        return [(kind, raw) for kind, raw in rows]


def checks_of(item: dict[str, Any]) -> dict[str, bool | None]:
    return {check["name"]: check["ok"] for check in item["checks"]}


def test_import_keeps_every_receipt_byte_exact_and_verifies_each(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    signed = kernel_with_receipts()
    code, document, _ = import_message(audit, tmp_path, signed)
    assert code == 0, document
    (item,) = document["imported"]
    checks = checks_of(item)
    # The Rekor entry's checks, then the statement's, then the two other receipts'.
    assert list(checks)[-4:] == list(RECEIPT_CHECKS)
    assert all(checks[name] is True for name in RECEIPT_CHECKS)
    assert checks["inclusion_proof"] is True and checks["set"] is True
    assert stored_receipts(db_url) == [("rekor", KERNEL.rekor_log_entry),
                                       ("c2sp", signed.c2sp_tlog_proof),
                                       ("pes", signed.pes_confirmation)]
    # Stored and reported like the other checks.
    component = json.loads(audit("component", "kernel", "--json").stdout)
    (endorsement,) = component["endorsements"]
    assert {c["name"]: c["ok"] for c in endorsement["checks"]} == checks
    assert endorsement["receipts"] == ["rekor", "c2sp", "pes"]
    # Idempotent: the same message again adds nothing.
    code, document, _ = import_message(audit, tmp_path, signed)
    assert code == 0 and document["new"] == 0 and len(stored_receipts(db_url)) == 3


def test_a_copy_with_other_receipts_is_kept_beside_the_first(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    only_c2sp = kernel_with_receipts(pes_confirmation=None, rekor_log_entry=None)
    only_pes = kernel_with_receipts(c2sp_tlog_proof=None, rekor_log_entry=None)
    assert import_message(audit, tmp_path, only_c2sp)[0] == 0
    assert import_message(audit, tmp_path, only_pes)[0] == 0
    assert [kind for kind, _ in stored_receipts(db_url)] == ["c2sp", "pes"]
    entries = json.loads(audit("entries", "--json").stdout)["entries"]
    assert len(entries) == 2
    for entry in entries:
        # No Rekor entry, but a receipt that verifies: logged.
        assert entry["logged"] is True and entry["ok"] is True
        assert entry["uuid"] is None


def _replace(data: bytes | None, old: bytes, new: bytes) -> bytes:
    assert data is not None and data.count(old) == 1
    return data.replace(old, new)


def _tamper(name: str) -> tuple[dict[str, bytes | None], str]:
    """A change to the kernel's receipts, and the policy the import verifies them under."""
    signed = kernel_with_receipts()
    proof = signed.c2sp_tlog_proof
    assert proof is not None
    lines = proof.split(b"\n")
    if name == "index":
        return {"c2sp_tlog_proof": _replace(proof, b"index 3\n", b"index 2\n")}, LOG.policy
    if name == "checkpoint_signature":
        log_line = next(line for line in lines if line.startswith("— tessera".encode()))
        return {"c2sp_tlog_proof": _replace(proof, log_line, log_line[:-6] + b"AAAAA=")}, \
            LOG.policy
    if name == "missing_cosignature":
        witness_line = next(line for line in lines if line.startswith("— witness".encode()))
        return {"c2sp_tlog_proof": _replace(proof, witness_line + b"\n", b"")}, LOG.policy
    if name == "wrong_witness_key":
        return {}, LOG.policy.replace(LOG.witness.vkey, Cosigner(LOG.witness.name).vkey)
    if name == "extra_by_unpinned_key":
        extra = LOG.proof(signed.statement, extra_for=Endorser("stranger"))
        return {"c2sp_tlog_proof": extra}, LOG.policy
    if name == "pes_entry_id":
        return {"pes_confirmation": _replace(signed.pes_confirmation, b'"entries/0001"',
                                             b'"entries/0002"')}, LOG.policy
    assert name == "pes_for_another_key"
    other = Endorser("other").public_pem
    return {"pes_confirmation": PES.confirm(signed, other)}, LOG.policy


@pytest.mark.parametrize(("tampering", "check"), [
    ("index", "tlog_proof"),
    ("checkpoint_signature", "tlog_checkpoint"),
    ("missing_cosignature", "witness_quorum"),
    ("wrong_witness_key", "witness_quorum"),
    ("extra_by_unpinned_key", "tlog_proof"),
    ("pes_entry_id", "pes_confirmation"),
    ("pes_for_another_key", "pes_confirmation"),
])
def test_a_broken_receipt_fails_its_check_on_import_and_in_the_run(
        audit: RunAudit, tmp_path: Path, db_url: str, tampering: str, check: str) -> None:
    changes, policy = _tamper(tampering)
    code, document, stderr = import_message(audit, tmp_path, kernel_with_receipts(**changes),
                                            policy=policy)
    assert code == 1
    (item,) = document["imported"]
    assert [name for name, ok in checks_of(item).items() if ok is False] == [check]
    assert f"failed checks in {tmp_path / 'endorsements.binarypb'}#kernel: {check}" in stderr
    # Every receipt is kept, the broken one too.
    assert len(stored_receipts(db_url)) == 3
    # A broken receipt is an invalid entry, though the Rekor entry verifies.
    result = audit("run", "--config", str(tmp_path / "auditor.toml"), "--offline", "--json")
    (finding,) = [f for f in json.loads(result.stdout)["findings"] if f["component"] == "kernel"]
    assert finding["rule"] == "ENTRY_INVALID" and finding["evidence"]["failed_checks"] == [check]


def test_a_known_witness_bad_cosignature_is_a_broken_receipt(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    """The policy's witness's line with a flipped signature bit: signed-note says reject the
    note. It was ignored, and with a second witness meeting the quorum the receipt verified."""
    proof = kernel_with_receipts().c2sp_tlog_proof
    assert proof is not None
    line = next(x for x in proof.split(b"\n") if x.startswith("— witness".encode()))
    name, encoded = line.rsplit(b" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[-1] ^= 1
    tampered = _replace(proof, line, name + b" " + base64.b64encode(bytes(blob)))
    second = Cosigner("witness.example/w2")
    tampered += second.line(tampered.split(b"\n\n", 1)[1].split(b"\n\n")[0] + b"\n",
                            1767225601).encode()
    either = LOG.policy.replace("quorum w1\n", f"witness w2 {second.vkey}\ngroup G any w1 w2\n"
                                "quorum G\n")
    code, document, _ = import_message(audit, tmp_path,
                                       kernel_with_receipts(c2sp_tlog_proof=tampered),
                                       policy=either)
    assert code == 1
    (item,) = document["imported"]
    details = {c["name"]: c["detail"] for c in item["checks"]}
    assert [n for n, ok in checks_of(item).items() if ok is False] == [
        "tlog_checkpoint", "witness_quorum"]
    assert "witness w1: bad cosignature by witness.example/w1" in details["tlog_checkpoint"]
    result = audit("run", "--config", str(tmp_path / "auditor.toml"), "--offline", "--json")
    (finding,) = [f for f in json.loads(result.stdout)["findings"] if f["component"] == "kernel"]
    assert finding["rule"] == "ENTRY_INVALID"


def test_receipts_without_configured_trust_are_kept_and_skipped(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    message = tmp_path / "endorsements.binarypb"
    message.write_bytes(endorsements_message(kernel_with_receipts()))
    result = audit("import", str(message), "--json")  # the shipped keys, no receipt trust
    assert result.exit_code == 0, result.stderr
    (item,) = json.loads(result.stdout)["imported"]
    checks = {c["name"]: c for c in item["checks"]}
    assert [checks[name]["ok"] for name in RECEIPT_CHECKS] == [None] * 4
    assert "no tlog-policy is configured" in checks["tlog_proof"]["detail"]
    assert "no PES key is configured" in checks["pes_confirmation"]["detail"]
    assert len(stored_receipts(db_url)) == 3


def test_a_malformed_receipt_is_a_failed_check_not_an_import_error(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    code, document, _ = import_message(
        audit, tmp_path, kernel_with_receipts(c2sp_tlog_proof=b"c2sp.org/tlog-proof@v1\nnope\n",
                                              pes_confirmation=b"[1, 2]"))
    assert code == 1 and not document["errors"]
    checks = {c["name"]: c for c in document["imported"][0]["checks"]}
    assert checks["tlog_proof"]["ok"] is False
    assert checks["tlog_proof"]["detail"].startswith("malformed tlog-proof: ")
    assert checks["pes_confirmation"]["ok"] is False
    assert "not a JSON object" in checks["pes_confirmation"]["detail"]


def test_a_pes_key_that_is_not_a_key_is_a_config_error(audit: RunAudit, tmp_path: Path,
                                                       db_url: str) -> None:
    message = tmp_path / "endorsements.binarypb"
    message.write_bytes(endorsements_message(kernel_with_receipts()))
    broken = tmp_path / "broken.toml"
    broken.write_text('[components.kernel]\npes_keys = ["missing.pem"]\n')
    result = audit("import", str(message), "--config", str(broken))
    assert result.exit_code == 2 and "missing.pem: cannot read" in result.stderr
    broken.write_text('[components.kernel]\ntlog = "most"\n')
    result = audit("import", str(message), "--config", str(broken))
    assert result.exit_code == 2
    assert "components.kernel.tlog 'most': choose one of skip, all, any" in result.stderr
    (tmp_path / "p").write_text("quorum w1\n")
    broken.write_text('[components.kernel]\ntlog_policy = "p"\n')
    result = audit("import", str(message), "--config", str(broken))
    assert result.exit_code == 2
    assert "components.kernel.tlog_policy: " in result.stderr and "policy line 1" in result.stderr


def test_a_broken_tlog_proof_fails_without_a_policy_too(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    """Whether the entry is the statement and reaches the checkpoint's root needs no policy;
    a proof of another leaf was 'skipped: no tlog-policy', and the endorsement stored clean."""
    proof = LOG.proof(KERNEL.statement).replace(b"\nindex 3\n", b"\nindex 2\n")
    message = tmp_path / "endorsements.binarypb"
    message.write_bytes(endorsements_message(kernel_with_receipts(c2sp_tlog_proof=proof)))
    result = audit("import", str(message), "--json")  # the shipped keys, no receipt trust
    assert result.exit_code == 1, result.stderr
    (item,) = json.loads(result.stdout)["imported"]
    checks = {c["name"]: c for c in item["checks"]}
    assert checks["tlog_proof"]["ok"] is False
    assert "inclusion proof does not verify" in checks["tlog_proof"]["detail"]
    assert checks["tlog_checkpoint"]["ok"] is None and checks["witness_quorum"]["ok"] is None
