"""Reconciliation under receipt policies: Oak's TLogReferenceValues and the auditor's own.

An endorsement of a system image, signed by a publisher key that Oak reference values pin
under a `tlog { skip | all | any ... }` policy, carries a C2SP tlog-proof and/or a PES
confirmation (made with the real algorithms, tests/receipts.py). Reconciling the image says
MATCH when the policy is met, and otherwise which policy failed and which receipt is missing or
invalid. The Rekor cases use the real release system image endorsement and its genuine
rekor.sigstore.dev entry (tests/data/PROVENANCE.md), reconciled against the real evidence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.findings import RuleId, invalid_rule
from auditor.oak.messages import read_endorsements
from auditor.report.validate import validate_report
from auditor.verify.check_names import RECEIPT_CHECKS
from testlog.synthetic import Endorser
from tests.cli_runner import RunAudit
from tests.oakdata import OAK, RELEASE
from tests.receipts import (
    Pes,
    Publisher,
    Signed,
    TiledLog,
    c2sp_tlog,
    endorsements_message,
    pes_tlog,
    reference_values,
    spki_der,
    text_key,
    write_config,
)

PUBLISHER = Publisher()
LOG = TiledLog()
PES = Pes()
IMAGE = b"an Oak Containers system image"
C2SP = c2sp_tlog(LOG.policy)
PES_KEYS = pes_tlog(PES.pem)
ALL = f"tlog {{ all {{}} {C2SP} {PES_KEYS} }}"
ANY = f"tlog {{ any {{}} {C2SP} {PES_KEYS} }}"


def endorsed(carried: tuple[str, ...]) -> Signed:
    signed = PUBLISHER.endorse("system_image", IMAGE)
    if "c2sp" in carried:
        signed.c2sp_tlog_proof = LOG.proof(signed.statement)
    if "pes" in carried or "pes-broken" in carried:
        entry_id = "entries/0001" if "pes" in carried else "entries/0002"
        signed.pes_confirmation = PES.confirm(signed, PUBLISHER.pem, entry_id)
        if "pes-broken" in carried:  # signed for another entry id than it names
            signed.pes_confirmation = signed.pes_confirmation.replace(b"entries/0002",
                                                                      b"entries/0001")
    return signed


def reconcile(audit: RunAudit, tmp_path: Path, tlog: str, carried: tuple[str, ...],
              extra: str = "") -> tuple[int, dict[str, Any]]:
    """Import the endorsement under `tlog`, then reconcile the image; its one finding."""
    values = tmp_path / "reference_values.textproto"
    values.write_text(reference_values(PUBLISHER.pem, tlog))
    (tmp_path / "policy").write_text(LOG.policy)
    config = write_config(tmp_path, key_sources=[values], extra=extra)
    message = tmp_path / "endorsements.binarypb"
    message.write_bytes(endorsements_message(endorsed(carried)))
    imported = audit("import", str(message), "--config", str(config))
    assert imported.exit_code in (0, 1), imported.stderr
    (tmp_path / "image.bin").write_bytes(IMAGE)
    manifest = tmp_path / "release.toml"
    manifest.write_text('name = "r"\n[components.system_image]\nartifact = "image.bin"\n')
    result = audit("reconcile", str(manifest), "--config", str(config), "--json")
    assert "Traceback" not in result.stderr
    (finding,) = json.loads(result.stdout)["findings"]
    return result.exit_code, finding


AUDITOR_ALL = '[components.system_image]\ntlog = "all"\ntlog_policy = "policy"\n'


@pytest.mark.parametrize(
    ("tlog", "carried", "extra", "rule", "phrases"),
    [
        # skip: nothing is required; not logged is informational.
        ("tlog { skip {} }", (), "", "NOT_LOGGED_ALLOWED",
         ["was never logged, which receipt policy tlog skip (Oak reference values "]),
        ("tlog { skip {} }", ("c2sp",), "", "NOT_LOGGED_ALLOWED", []),
        (f"tlog {{ skip {{}} {C2SP} }}", ("c2sp",), "", "MATCH", []),
        # all: each populated receipt.
        (ALL, ("c2sp", "pes"), "", "MATCH", []),
        (ALL, ("c2sp",), "", "TLOG_POLICY_UNMET",
         ["(logged by C2SP tlog-proof): receipt policy tlog all of c2sp, pes (Oak reference "
          "values ", "is not met: no PES confirmation"]),
        (ALL, (), "", "ENDORSED_NOT_LOGGED",
         ["never logged in the transparency log: receipt policy tlog all of c2sp, pes",
          "is not met: no C2SP tlog-proof; no PES confirmation"]),
        ("tlog { all {} }", (), "", "NOT_LOGGED_ALLOWED", []),  # none populated: skip
        # any: one suffices.
        (ANY, ("pes",), "", "MATCH", []),
        (ANY, ("c2sp",), "", "MATCH", []),
        (ANY, (), "", "ENDORSED_NOT_LOGGED",
         ["receipt policy tlog any of c2sp, pes", "no C2SP tlog-proof; no PES confirmation"]),
        ("tlog { any {} }", (), "", "ENDORSED_NOT_LOGGED",
         ["tlog any of no receipt (Oak reference values", "populates no receipt"]),
        # A receipt that does not verify is never waved through, whatever the policy.
        (ANY, ("c2sp", "pes-broken"), "", "ENTRY_INVALID", ["failed: pes_confirmation"]),
        # The auditor demands more than the publisher: all of a Rekor entry and a tlog-proof.
        ("tlog { skip {} }", ("c2sp",), AUDITOR_ALL, "TLOG_POLICY_UNMET",
         ["receipt policy tlog all of rekor, c2sp (config ", "auditor.toml: components."
          "system_image) is not met: no Rekor entry"]),
        ("tlog { skip {} }", ("c2sp",), AUDITOR_ALL + 'receipts = ["c2sp"]\n', "MATCH", []),
    ],
    ids=["skip", "skip-unverified", "skip-logged", "all", "all-missing-pes", "all-missing-both",
         "all-none-populated", "any-pes", "any-c2sp", "any-missing", "any-none-populated",
         "any-broken-receipt", "auditor-all", "auditor-all-c2sp"],
)
def test_strategy(audit: RunAudit, tmp_path: Path, db_url: str, tlog: str,
                  carried: tuple[str, ...], extra: str, rule: str,
                  phrases: list[str]) -> None:
    code, finding = reconcile(audit, tmp_path, tlog, carried, extra)
    assert finding["rule"] == rule, finding["detail"]
    for phrase in phrases:
        assert phrase in finding["detail"]
    assert code == (0 if finding["severity"] == "info" else 1)
    if rule in ("TLOG_POLICY_UNMET", "ENDORSED_NOT_LOGGED"):
        lacking = finding["evidence"]["receipt_policy"]["receipts"]
        assert set(lacking) <= {"rekor", "c2sp", "pes"}
        assert all(state == "missing" for state in lacking.values())


# --- Oak's Rekor key set, on the real release ----------------------------------------------

SYSTEM_IMAGE_PEM = (RELEASE / "components" / "system_image" / "endorser_public_key.pem"
                    ).read_bytes()
REKOR_DER = spki_der((OAK / "rekor_public_key.pem").read_bytes())
# The release system image entry was integrated in June 2025.
AFTER_INTEGRATION = 1767225600


@pytest.mark.parametrize(
    ("tlog", "rule", "phrase"),
    [
        (f"tlog {{ all {{}} rekor {{ {text_key(REKOR_DER)} }} }}", "MATCH", "sha256 equals"),
        (f"rekor {{ verify {{ {text_key(REKOR_DER)} }} }}", "MATCH", "sha256 equals"),
        (f"tlog {{ all {{}} rekor {{ {text_key(spki_der(Endorser('log').public_pem))} }} }}",
         "TLOG_POLICY_UNMET", "the Rekor entry is in log c0d23d6a"),
        # Oak's verifier finds no key in an empty set: it verifies no Rekor entry (it was any).
        ("tlog { all {} rekor {} }", "TLOG_POLICY_UNMET", "(it holds no key: no log can meet it)"),
        (f"tlog {{ all {{}} rekor {{ {text_key(REKOR_DER)} signed_timestamp {{ "
         f"not_before_absolute {{ seconds: {AFTER_INTEGRATION} }} }} }} }}",
         "TLOG_POLICY_UNMET", "before the policy's signed-timestamp floor 2026-01-01"),
    ],
    ids=["rekor-key-set", "deprecated-rekor-field", "another-log", "empty-rekor-key-set",
         "signed-timestamp-floor"],
)
def test_oaks_rekor_key_set_on_the_real_release(audit: RunAudit, tmp_path: Path, db_url: str,
                                                tlog: str, rule: str, phrase: str) -> None:
    values = tmp_path / "reference_values.textproto"
    values.write_text(reference_values(SYSTEM_IMAGE_PEM, tlog))
    config = write_config(tmp_path, key_sources=[values])
    assert audit("import", str(RELEASE / "endorsements.binarypb"), "--config",
                 str(config)).exit_code == 0
    result = audit("reconcile", "--evidence", str(RELEASE / "evidence.binarypb"),
                   "--config", str(config), "--json")
    (finding,) = [f for f in json.loads(result.stdout)["findings"]
                  if f["component"] == "system_image"]
    assert finding["rule"] == rule and phrase in finding["detail"]


# --- the whole store, in a recorded run ------------------------------------------------------


def test_a_run_judges_unaccounted_endorsements_by_their_policy_and_reports_receipts(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    values = tmp_path / "reference_values.textproto"
    values.write_text(reference_values(PUBLISHER.pem, ALL))
    message = tmp_path / "endorsements.binarypb"
    only_c2sp = endorsed(("c2sp",))
    message.write_bytes(endorsements_message(only_c2sp))
    config = write_config(tmp_path, key_sources=[values],
                          extra=f'import = ["{message}"]\n')
    reports = tmp_path / "reports"
    result = audit("run", "--config", str(config), "--offline", "--json",
                   "--report-dir", str(reports))
    assert result.exit_code == 1, result.stderr
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["rule"] == "TLOG_POLICY_UNMET" and finding["severity"] == "medium"
    assert finding["evidence"]["receipt_policy"] == {
        "policy": f"tlog all of c2sp, pes (Oak reference values {values})",
        "receipts": {"pes": "missing"}}
    assert finding["evidence"]["receipts"] == ["c2sp"]
    document = json.loads((reports / "audit-report.json").read_text())
    validate_report(document)
    (endorsement,) = document["endorsements"]
    assert endorsement["logged"] is True and endorsement["receipts"] == ["c2sp"]
    assert [c["name"] for c in endorsement["checks"]][-3:] == [
        "tlog_proof", "tlog_checkpoint", "witness_quorum"]
    markdown = (reports / "audit-report.md").read_text()
    assert "logged by C2SP tlog\\-proof" in markdown
    assert "logged by C2SP tlog-proof" in (reports / "audit-report.html").read_text()
    # The component query's table names how it was logged, as the reports do.
    table = audit("component", endorsement["component"], "--config", str(config))
    assert table.exit_code == 0, table.stderr
    assert "│ by C2SP tlog-proof" in table.stderr and "not logged" not in table.stderr


def test_the_real_staging_set_is_not_logged_as_its_reference_values_allow(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    # Oak's staging reference values say `tlog { skip {} }`: without a policy of the auditor's
    # own (the shipped demo config sets one), never logged is informational.
    staging = OAK / "oak-containers-milan-staging"
    config = write_config(tmp_path, key_sources=[staging / "reference_values.binarypb"])
    assert audit("import", str(staging / "endorsements.binarypb"), "--config",
                 str(config)).exit_code == 0
    result = audit("reconcile", "--evidence", str(staging / "evidence.binarypb"), "--config",
                   str(config), "--json")
    rules = {f["component"]: f["rule"] for f in json.loads(result.stdout)["findings"]}
    assert {rules[c] for c in ("stage0", "kernel", "init_ram_fs", "system_image")} == {
        "NOT_LOGGED_ALLOWED"}
    assert [e.component for e in read_endorsements(
        (staging / "endorsements.binarypb").read_bytes()) if e.rekor_log_entry] == []


@pytest.mark.parametrize("check", RECEIPT_CHECKS)
def test_a_failed_receipt_check_is_an_invalid_entry_logged_or_not(check: str) -> None:
    for logged in (True, False):
        assert invalid_rule([check], logged) is RuleId.ENTRY_INVALID
        assert invalid_rule([check, "endorser_key"], logged) is RuleId.WRONG_KEY
