"""The main job end to end against the local test log.

Publish synthetic components signed by per-component keys, build the matching artifacts, and
`audit run` reports only MATCH; then tamper one artifact, log an unexpected endorsement and fork
the log, and the next run exits 1 with exactly those findings.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditor.measure.kernel import SetupVariant, measure_kernel
from auditor.measure.stage0 import Stage0Mode, measure_stage0
from auditor.oak.proto.attestation import attachment_pb2
from testlog import Endorser, RekorLog, RunningServer
from testlog.synthetic import Endorsement, endorse
from tests.cli_runner import RunAudit
from tests.measure.synthetic_artifacts import build_bzimage, build_firmware

COMPONENTS = ("stage0", "kernel", "kernel_cmd_line", "init_ram_fs", "system_image")
CMDLINE = "console=ttyS0 panic=-1 quiet"


@dataclass
class Release:
    directory: Path
    artifacts: dict[str, Path]
    subjects: dict[str, bytes]


def firmware_attachment(rom: bytes) -> bytes:
    measured = measure_stage0(rom, (1, 2, 4), (Stage0Mode.OAK,))
    attachment = attachment_pb2.FirmwareAttachment()
    for vcpus, digest in measured.launch_digests[Stage0Mode.OAK].items():
        attachment.configs[vcpus].sha2_384 = digest.hex()
    attachment.binary.sha2_256 = hashlib.sha256(rom).hexdigest()
    return attachment.SerializeToString()


def kernel_attachment(bzimage: Path) -> bytes:
    with bzimage.open("rb") as handle:
        measured = measure_kernel(handle)
    attachment = attachment_pb2.KernelAttachment()
    attachment.image.sha2_256 = measured.kernel_measurement.hex()
    attachment.setup_data.sha2_256 = measured.setup_data_digest[SetupVariant.OAK_VMM].hex()
    return attachment.SerializeToString()


def build_release(directory: Path) -> Release:
    directory.mkdir()
    rng = random.Random(7)
    artifacts = {
        "stage0": directory / "stage0_bin",
        "kernel": directory / "bzImage",
        "init_ram_fs": directory / "initrd.cpio",
        "system_image": directory / "system.img",
    }
    artifacts["stage0"].write_bytes(build_firmware())
    artifacts["kernel"].write_bytes(build_bzimage())
    artifacts["init_ram_fs"].write_bytes(rng.randbytes(200_000))
    artifacts["system_image"].write_bytes(rng.randbytes(300_000))
    subjects = {
        "stage0": firmware_attachment(artifacts["stage0"].read_bytes()),
        "kernel": kernel_attachment(artifacts["kernel"]),
        "kernel_cmd_line": b"^console=ttyS0 panic=-1 quiet$",
        "init_ram_fs": artifacts["init_ram_fs"].read_bytes(),
        "system_image": artifacts["system_image"].read_bytes(),
    }
    return Release(directory, artifacts, subjects)


@dataclass
class Deployment:
    log: RekorLog
    server: RunningServer
    endorsers: dict[str, Endorser]
    release: Release
    statements: Path
    config: Path

    def publish(self, component: str, subject: bytes) -> Endorsement:
        endorsement = endorse(self.log, self.endorsers[component], subject)
        self.store(endorsement, subject)
        return endorsement

    def store(self, endorsement: Endorsement, subject: bytes) -> None:
        for content in (endorsement.statement, subject):
            name = f"sha2-256:{hashlib.sha256(content).hexdigest()}"
            (self.statements / name).write_bytes(content)


@pytest.fixture
def deployment(rekor_log: RekorLog, rekor_server: RunningServer, tmp_path: Path) -> Deployment:
    endorsers = {name: Endorser(name) for name in COMPONENTS}
    release = build_release(tmp_path / "release")
    statements = tmp_path / "statements"
    statements.mkdir()
    (tmp_path / "log.pem").write_bytes(rekor_log.signer.public_pem)
    manifest = tmp_path / "release.toml"
    manifest.write_text(
        'name = "synthetic-1"\n'
        + "".join(f'[components.{c}]\nartifact = "{p}"\n'
                  for c, p in release.artifacts.items())
        + f'[components.kernel_cmd_line]\ncmdline = "{CMDLINE}"\n')
    config = tmp_path / "auditor.toml"
    config.write_text(
        f'[log]\nurl = "{rekor_server.url}"\nrekor_keys = ["log.pem"]\n'
        "requests_per_second = 1000\n"
        '[statements]\nsource = "statements"\n'
        + "".join(f'[components.{name}]\nkeys = ["""\n{e.public_pem.decode()}"""]\n'
                  for name, e in endorsers.items())
        + '[[releases]]\nname = "synthetic-1"\nmanifest = "release.toml"\n'
        '[reports]\nformats = ["json", "md", "html", "sarif", "csv", "jsonl"]\n')
    world = Deployment(rekor_log, rekor_server, endorsers, release, statements, config)
    for component in COMPONENTS:
        world.publish(component, release.subjects[component])
    # A stranger's entry last: the fork below replaces it.
    endorse(rekor_log, Endorser("stranger"), b"someone else's build")
    return world


def run(audit: RunAudit, deployment: Deployment, out: Path) -> tuple[int, dict[str, Any]]:
    result = audit("run", "--config", str(deployment.config), "--report-dir", str(out),
                   "--json")
    assert "Traceback" not in result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, summary


def problems(summary: dict[str, Any]) -> list[tuple[str, str | None]]:
    return sorted((f["rule"], f["component"]) for f in summary["findings"]
                  if f["severity"] != "info")


def test_clean_release_matches_then_tamper_unexpected_and_fork_are_found(
        audit: RunAudit, deployment: Deployment, tmp_path: Path, db_url: str) -> None:
    code, summary = run(audit, deployment, tmp_path / "reports-1")
    assert code == 0, problems(summary)
    assert summary["crawl"]["new"] == len(COMPONENTS)
    matches = {f["component"]: f for f in summary["findings"] if f["rule"] == "MATCH"}
    assert sorted(matches) == sorted(COMPONENTS)
    assert "1-vCPU" not in matches["stage0"]["detail"] and "[1, 2, 4]" in matches["stage0"][
        "detail"]
    assert matches["kernel"]["evidence"]["how"] == {"setup_variant": "oak_vmm"}
    assert problems(summary) == []
    reports = sorted(p.name for p in (tmp_path / "reports-1").iterdir())
    assert reports == sorted(f"audit-report.{f}" for f in
                             ("json", "md", "html", "sarif", "csv", "jsonl"))

    # Tamper one artifact.
    initrd = deployment.release.artifacts["init_ram_fs"]
    initrd.write_bytes(initrd.read_bytes() + b"\0")
    # Fork the log: the split view replaces its last entry with an endorsement nobody expected.
    other_kernel = tmp_path / "other-bzImage"
    other_kernel.write_bytes(build_bzimage(seed=99))
    unexpected_subject = kernel_attachment(other_kernel)
    unexpected = endorse(RekorLog(clock=deployment.log.clock), deployment.endorsers["kernel"],
                         unexpected_subject)
    deployment.store(unexpected, unexpected_subject)
    deployment.log.fork(replacements=[unexpected.entry.body])
    deployment.server.faults.serve_fork = True

    code, summary = run(audit, deployment, tmp_path / "reports-2")
    assert code == 1
    assert problems(summary) == [("DIGEST_MISMATCH", "init_ram_fs"),
                                 ("LOG_INCONSISTENT", None),
                                 ("UNEXPECTED_ENDORSEMENT", "kernel")]
    report = json.loads((tmp_path / "reports-2" / "audit-report.json").read_text())
    statuses = {c["component"]: c["status"] for c in report["releases"][0]["components"]}
    assert statuses["init_ram_fs"] == "mismatch" and statuses["stage0"] == "match"


def test_an_endorsed_regex_that_backtracks_in_python_does_not_stop_the_run(
        audit: RunAudit, deployment: Deployment, tmp_path: Path, db_url: str) -> None:
    """Python's `re` backtracks: `^(.|.|.|.)*X$` takes 4^28 steps on the 28-byte command line
    (4^n on an n-byte one), where Oak's Rust regex is linear. Under a compromised cmdline key, such
    an endorsement stopped every run at its reconcile; RE2 matches it, linear as Rust's engine."""
    import signal

    deployment.publish("kernel_cmd_line", b"^(.|.|.|.)*X$")

    def hung(_signum: int, _frame: object) -> None:
        raise TimeoutError("the run is still matching the endorsed regex")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:
        code, summary = run(audit, deployment, tmp_path / "reports")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert code == 1, summary
    cmdline_findings = [(f["rule"], f["detail"]) for f in summary["findings"]
                        if f["component"] == "kernel_cmd_line"]
    # The genuine endorsement still matches; the hostile one matches nothing released.
    assert ("MATCH", "the cmdline matches the endorsed regex") in cmdline_findings
    assert [rule for rule, _ in cmdline_findings].count("UNEXPECTED_ENDORSEMENT") == 1


@pytest.mark.parametrize("regex", [b"^console=ttyS0 panic=-1 quiet\xff?$",
                                   b"^console=ttyS0(?= panic=-1 quiet$)"],
                         ids=["not_utf8", "lookahead"])
def test_an_endorsed_regex_oak_cannot_read_endorses_no_cmdline(
        audit: RunAudit, deployment: Deployment, tmp_path: Path, db_url: str,
        regex: bytes) -> None:
    """Oak's verifier takes the regex as a Rust str, and Rust's `regex` has no lookaround: such
    an endorsement endorses nothing. Before, bytes that are not UTF-8 were repaired with U+FFFD
    (`quiet\\xff?$` became `quiet\\ufffd?$`), a lookahead was Python's: both matched the release."""
    deployment.publish("kernel_cmd_line", regex)
    code, summary = run(audit, deployment, tmp_path / "reports")
    assert code == 1, summary
    assert problems(summary) == [("UNEXPECTED_ENDORSEMENT", "kernel_cmd_line")]
