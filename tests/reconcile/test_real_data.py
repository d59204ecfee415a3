"""Reconciling Oak's real evidence against its real endorsements."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from auditor.measure.evidence import read_evidence
from auditor.oak.messages import parse_firmware_attachment, parse_kernel_attachment
from tests.cli_runner import RunAudit
from tests.oakdata import RELEASE, RELEASE_COMPONENTS, STAGING


def reconcile(audit: RunAudit, *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = audit("reconcile", *args, "--json")
    assert result.exit_code in (0, 1), result.stderr
    findings: list[dict[str, Any]] = json.loads(result.stdout)["findings"]
    return result.exit_code, findings


def by_component(findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["component"]: f for f in findings}


def test_release_evidence_yields_only_match(audit: RunAudit, db_url: str) -> None:
    assert audit("import", str(RELEASE / "endorsements.binarypb")).exit_code == 0
    code, findings = reconcile(audit, "--evidence", str(RELEASE / "evidence.binarypb"))
    assert code == 0
    found = by_component(findings)
    assert {c: found[c]["rule"] for c in RELEASE_COMPONENTS} == dict.fromkeys(
        RELEASE_COMPONENTS, "MATCH")
    # Memory map and ACPI digests are observed but covered by no key: informational only.
    assert {found[c]["rule"] for c in ("memory_map", "acpi")} == {"OBSERVED_UNCOVERED"}
    assert {f["severity"] for f in findings} == {"info"}
    stage0 = found["stage0"]
    assert "1-vCPU" in stage0["detail"] and stage0["evidence"]["how"] == {"vcpus": 1}
    firmware = parse_firmware_attachment(
        (RELEASE / "components/stage0/subject.bin").read_bytes())
    assert stage0["evidence"]["local"]["snp_measurement"] == firmware.launch_digests[1]
    kernel = parse_kernel_attachment((RELEASE / "components/kernel/subject.bin").read_bytes())
    assert found["kernel"]["evidence"]["endorsed"]["kernel_measurement"] == kernel.image_sha256
    assert found["kernel"]["evidence"]["uuid"] == next(iter(json.loads(
        (RELEASE / "components/kernel/logentry.json").read_text())))


def test_staging_evidence_yields_endorsed_not_logged(audit: RunAudit, db_url: str) -> None:
    assert audit("import", str(STAGING / "endorsements.binarypb"),
                 "--keys", str(STAGING / "reference_values.binarypb")).exit_code == 0
    code, findings = reconcile(audit, "--evidence", str(STAGING / "evidence.binarypb"))
    assert code == 1
    found = by_component(findings)
    assert {c: found[c]["rule"] for c in RELEASE_COMPONENTS} == dict.fromkeys(
        RELEASE_COMPONENTS, "ENDORSED_NOT_LOGGED")


def test_without_endorsements_everything_is_not_endorsed(audit: RunAudit, db_url: str) -> None:
    code, findings = reconcile(audit, "--evidence", str(RELEASE / "evidence.binarypb"))
    assert code == 1
    found = by_component(findings)
    assert {found[c]["rule"] for c in RELEASE_COMPONENTS} == {"NOT_ENDORSED"}


def test_one_off_flags_reconcile_only_what_they_are_given(audit: RunAudit,
                                                          tmp_path: Path, db_url: str) -> None:
    assert audit("import", str(RELEASE / "endorsements.binarypb")).exit_code == 0
    # The command line the real release VM booted with.
    evidence_cmdline = read_evidence(
        (RELEASE / "evidence.binarypb").read_bytes()).stage0.kernel_cmdline
    code, findings = reconcile(audit, "--cmdline", evidence_cmdline)
    assert code == 0 and [f["component"] for f in findings] == ["kernel_cmd_line"]
    assert findings[0]["rule"] == "MATCH"
    code, findings = reconcile(audit, "--cmdline", evidence_cmdline + " init=/bin/sh x")
    # Oak's regex allows anything after " -- " only: an extra argument does not match.
    assert code == 1 and findings[0]["rule"] == "CMDLINE_MISMATCH"
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"not the released initrd")
    code, findings = reconcile(audit, "--initrd", str(initrd))
    assert code == 1 and findings[0]["rule"] == "DIGEST_MISMATCH"
    assert findings[0]["evidence"]["local"]["sha256"] == hashlib.sha256(
        initrd.read_bytes()).hexdigest()


@pytest.mark.parametrize("args", [[], ["--kernel", "/nonexistent/bzImage"]])
def test_bad_reconcile_input_exits_2(audit: RunAudit, args: list[str], db_url: str) -> None:
    result = audit("reconcile", *args)
    assert result.exit_code == 2 and result.stderr.startswith("error: ")


def test_a_cmdline_file_that_is_not_utf8_is_refused_not_repaired(audit: RunAudit,
                                                                 tmp_path: Path,
                                                                 db_url: str) -> None:
    """Stage0 records the command line as a protobuf string (UTF-8): a file that is not UTF-8
    holds no command line a VM booted with, and repaired with U+FFFD it could match a regex."""
    (tmp_path / "cmdline.txt").write_bytes(b"console=ttyS0 \xff quiet\n")
    manifest = tmp_path / "release.toml"
    manifest.write_text('name = "r"\n[components.kernel_cmd_line]\nartifact = "cmdline.txt"\n')
    result = audit("reconcile", str(manifest))
    assert result.exit_code == 2, result.stderr
    assert "cmdline.txt is not UTF-8 text (byte 14)" in result.stderr
