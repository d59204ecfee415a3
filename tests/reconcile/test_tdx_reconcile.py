"""stage0 on Intel TDX in reconciliation: FirmwareAttachment.tdx_measurement against the MRTD
of a TDX ROM and of a TD quote; an attachment for another platform neither matches nor
mismatches.

The ROM is a TDVF image built by the test (tests/measure/synthetic_artifacts.py, Oak's stage0
TDX layout); its MRTD is computed by auditor.measure.tdx, which tests/measure/test_tdx.py holds
to a literal transcription of the TDX ABI's extension rules. The endorsement is logged by a C2SP
tlog-proof (tests/receipts.py). The SEV-SNP side is Oak's real release (evidence and its
Rekor-logged stage0 endorsement, tests/data/PROVENANCE.md).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from auditor.measure.tdx import measure_tdx
from auditor.oak.proto import digest_pb2
from auditor.oak.proto.attestation import attachment_pb2, evidence_pb2
from tests.cli_runner import RunAudit
from tests.measure.synthetic_artifacts import (
    TdvfSpec,
    build_firmware,
    build_td_quote,
    build_tdvf,
)
from tests.oakdata import RELEASE
from tests.receipts import (
    Publisher,
    TiledLog,
    c2sp_tlog,
    endorsements_message,
    reference_values,
    write_config,
)

PUBLISHER = Publisher()
LOG = TiledLog()
ROM = build_tdvf()
MRTD = measure_tdx(ROM).mrtd


def tdx_attachment(mrtd: bytes = MRTD, rom: bytes | None = ROM) -> bytes:
    attachment = attachment_pb2.FirmwareAttachment(
        tdx_measurement=digest_pb2.HexDigest(sha2_384=mrtd.hex()))
    if rom is not None:
        attachment.binary.sha2_256 = hashlib.sha256(rom).hexdigest()
    return attachment.SerializeToString()


def setup(audit: RunAudit, tmp_path: Path, attachment: bytes) -> Path:
    """Import a stage0 endorsement of `attachment`, logged by a C2SP tlog-proof; the config."""
    signed = PUBLISHER.endorse("stage0", attachment, inline=True)
    signed.c2sp_tlog_proof = LOG.proof(signed.statement)
    values = tmp_path / "reference_values.textproto"
    tlog = f"tlog {{ any {{}} {c2sp_tlog(LOG.policy)} }}"
    values.write_text(reference_values(PUBLISHER.pem, tlog, component="stage0"))
    config = write_config(tmp_path, key_sources=[values])
    message = tmp_path / "endorsements.binarypb"
    message.write_bytes(endorsements_message(signed))
    result = audit("import", str(message), "--config", str(config))
    assert result.exit_code == 0, result.stderr
    return config


def stage0(audit: RunAudit, config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = audit("reconcile", *args, "--config", str(config), "--json")
    assert "Traceback" not in result.stderr
    (finding,) = [f for f in json.loads(result.stdout)["findings"] if f["component"] == "stage0"]
    return result.exit_code, finding


def rom_file(tmp_path: Path, rom: bytes) -> str:
    path = tmp_path / "stage0_bin_tdx"
    path.write_bytes(rom)
    return str(path)


def tdx_evidence(tmp_path: Path, mrtd: bytes) -> str:
    """The real release evidence, as a TD would report it: TDX platform, a TD quote."""
    evidence = evidence_pb2.Evidence.FromString((RELEASE / "evidence.binarypb").read_bytes())
    evidence.root_layer.platform = evidence_pb2.INTEL_TDX
    evidence.root_layer.remote_attestation_report = build_td_quote(mrtd)
    path = tmp_path / "tdx-evidence.binarypb"
    path.write_bytes(evidence.SerializeToString())
    return str(path)


def test_a_tdx_rom_matches_its_endorsed_mrtd(audit: RunAudit, tmp_path: Path,
                                             db_url: str) -> None:
    config = setup(audit, tmp_path, tdx_attachment())
    code, finding = stage0(audit, config, "--stage0", rom_file(tmp_path, ROM))
    assert code == 0 and finding["rule"] == "MATCH"
    assert finding["detail"] == "the MRTD from the ROM equals the endorsed TDX measurement"
    assert finding["evidence"]["how"] == {"platform": "tdx"}
    assert finding["evidence"]["local"]["tdx_mrtd"] == MRTD.hex()


@pytest.mark.parametrize(
    ("attachment", "phrase"),
    [
        (tdx_attachment(), "the ROM's sha256 differs from the endorsed binary digest"),
        (tdx_attachment(rom=None), "differs from the endorsed TDX measurement"),
    ],
    ids=["with-rom-digest", "mrtd-only"],
)
def test_another_tdx_rom_mismatches(audit: RunAudit, tmp_path: Path, db_url: str,
                                    attachment: bytes, phrase: str) -> None:
    config = setup(audit, tmp_path, attachment)
    other = build_tdvf(TdvfSpec(seed=12))
    code, finding = stage0(audit, config, "--stage0", rom_file(tmp_path, other))
    assert code == 1 and finding["rule"] == "DIGEST_MISMATCH"
    assert phrase in finding["detail"]


def test_a_td_quote_matches_or_mismatches_the_endorsed_mrtd(audit: RunAudit, tmp_path: Path,
                                                            db_url: str) -> None:
    config = setup(audit, tmp_path, tdx_attachment())
    _, finding = stage0(audit, config, "--evidence", tdx_evidence(tmp_path, MRTD))
    assert finding["rule"] == "MATCH"
    assert finding["detail"] == "the MRTD from the TD quote equals the endorsed TDX measurement"
    _, finding = stage0(audit, config, "--evidence", tdx_evidence(tmp_path, bytes(range(48))))
    assert finding["rule"] == "DIGEST_MISMATCH"
    assert "the MRTD from the TD quote (000102" in finding["detail"]


def test_snp_values_against_a_tdx_only_attachment_are_not_endorsed_not_mismatched(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    config = setup(audit, tmp_path, tdx_attachment())
    for args in (("--evidence", str(RELEASE / "evidence.binarypb")),
                 ("--stage0", rom_file(tmp_path, build_firmware()))):
        code, finding = stage0(audit, config, *args)
        assert code == 1 and finding["rule"] == "NOT_ENDORSED", finding
        assert "vCPU counts" not in finding["detail"]


def test_a_tdx_rom_against_the_real_snp_endorsement_is_not_endorsed(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    assert audit("import", str(RELEASE / "endorsements.binarypb")).exit_code == 0
    result = audit("reconcile", "--stage0", rom_file(tmp_path, ROM), "--json")
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["rule"] == "NOT_ENDORSED" and finding["evidence"]["considered"] == 1
