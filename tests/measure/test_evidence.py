"""auditor.measure.evidence: real Oak evidence against the endorsements of the same release.

The expected values are never copied from our own output: they come from the endorsement
files shipped beside the evidence (the statements' subject digests and the inline attachments),
read with independent code paths (json, hashlib, the attachment parsers).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from google.protobuf import any_pb2
from synthetic_artifacts import build_td_quote

from auditor.errors import InputError
from auditor.measure.evidence import SNP_MEASUREMENT_OFFSET, read_evidence
from auditor.oak.messages import parse_firmware_attachment, parse_kernel_attachment
from auditor.oak.proto.attestation import eventlog_pb2, evidence_pb2

DATA = Path(__file__).resolve().parents[1] / "data" / "oak"
SETS = ["oak-containers-milan-release", "oak-containers-milan-staging"]


def _subject_sha256(components: Path, component: str) -> str:
    statement = json.loads((components / component / "endorsement.json").read_bytes())
    digest: str = statement["subject"][0]["digest"]["sha256"]
    return digest


def _real_evidence(name: str = SETS[0]) -> evidence_pb2.Evidence:
    evidence = evidence_pb2.Evidence()
    evidence.ParseFromString((DATA / name / "evidence.binarypb").read_bytes())
    return evidence


@pytest.mark.parametrize("name", SETS)
def test_binary_and_text_evidence_agree(name: str) -> None:
    binary = read_evidence((DATA / name / "evidence.binarypb").read_bytes())
    text = read_evidence((DATA / name / "evidence.textproto").read_bytes())
    assert binary == text


@pytest.mark.parametrize("name", SETS)
def test_evidence_reproduces_the_endorsed_measurements(name: str) -> None:
    # DOMAIN.md §8 says not every real set reconciles; both sets shipped here do, on every value.
    components = DATA / name / "components"
    firmware = parse_firmware_attachment((components / "stage0" / "subject.bin").read_bytes())
    kernel = parse_kernel_attachment((components / "kernel" / "subject.bin").read_bytes())

    observed = read_evidence((DATA / name / "evidence.binarypb").read_bytes()).to_json()

    # The VMs booted with one vCPU: the report's MEASUREMENT is the endorsed 1-vCPU digest.
    assert observed["snp_measurement"] == firmware.launch_digests[1]
    assert observed["stage0"]["kernel_measurement"] == kernel.image_sha256
    assert observed["stage0"]["setup_data_digest"] == kernel.setup_data_sha256
    assert observed["stage0"]["ram_disk_digest"] == _subject_sha256(components, "init_ram_fs")
    assert observed["system_image"] == _subject_sha256(components, "system_image")


@pytest.mark.parametrize("name", SETS)
def test_booted_cmdline_matches_the_endorsed_regex(name: str) -> None:
    regex = (DATA / name / "components" / "kernel_cmd_line" / "subject.bin").read_text()
    observed = read_evidence((DATA / name / "evidence.binarypb").read_bytes())
    assert re.search(regex, observed.stage0.kernel_cmdline)


def test_snp_measurement_is_read_at_offset_0x90_of_the_report() -> None:
    evidence = _real_evidence()
    report = bytearray(evidence.root_layer.remote_attestation_report)
    report[SNP_MEASUREMENT_OFFSET : SNP_MEASUREMENT_OFFSET + 48] = bytes(range(48))
    evidence.root_layer.remote_attestation_report = bytes(report)

    observed = read_evidence(evidence.SerializeToString())

    assert observed.snp_measurement == bytes(range(48))


def test_json_contract_shape() -> None:
    document = read_evidence((DATA / SETS[0] / "evidence.binarypb").read_bytes()).to_json()

    assert list(document) == ["snp_measurement", "stage0", "system_image"]
    assert list(document["stage0"]) == [
        "kernel_measurement",
        "setup_data_digest",
        "ram_disk_digest",
        "kernel_cmdline",
        "memory_map_digest",
        "acpi_digest",
    ]
    assert json.loads(json.dumps(document)) == document
    hex_values = [document["snp_measurement"], document["system_image"]] + [
        value for key, value in document["stage0"].items() if key != "kernel_cmdline"
    ]
    assert all(re.fullmatch("[0-9a-f]+", value) for value in hex_values)


def test_real_reports_are_not_all_zero() -> None:
    for name in SETS:
        observed = read_evidence((DATA / name / "evidence.binarypb").read_bytes())
        assert observed.snp_measurement_is_zero is False


def test_fake_hardware_all_zero_report_is_noted() -> None:
    evidence = _real_evidence()
    evidence.root_layer.platform = evidence_pb2.TEE_PLATFORM_NONE
    evidence.root_layer.remote_attestation_report = bytes(0x4A0)

    observed = read_evidence(evidence.SerializeToString())

    assert observed.snp_measurement == bytes(48)
    assert observed.snp_measurement_is_zero is True
    assert observed.to_json()["snp_measurement"] == "00" * 48


def test_no_report_gives_no_measurement() -> None:
    evidence = _real_evidence()
    evidence.root_layer.ClearField("remote_attestation_report")

    observed = read_evidence(evidence.SerializeToString())

    assert observed.snp_measurement is None
    assert observed.to_json()["snp_measurement"] is None
    assert observed.snp_measurement_is_zero is False


def test_a_tdx_report_has_no_snp_measurement_but_the_quotes_mrtd() -> None:
    evidence = _real_evidence()
    evidence.root_layer.platform = evidence_pb2.INTEL_TDX
    mrtd = bytes(range(48))
    evidence.root_layer.remote_attestation_report = build_td_quote(mrtd)
    observed = read_evidence(evidence.SerializeToString())
    assert observed.snp_measurement is None
    assert observed.tdx_mrtd == mrtd
    assert observed.to_json()["tdx_mrtd"] == mrtd.hex()


def test_on_tdx_an_snp_report_is_not_a_td_quote() -> None:
    evidence = _real_evidence()
    evidence.root_layer.platform = evidence_pb2.INTEL_TDX  # the report stays the SNP one
    with pytest.raises(InputError, match="TDX quote version 3 is not read"):
        read_evidence(evidence.SerializeToString())


def test_a_truncated_snp_report_is_an_input_error() -> None:
    evidence = _real_evidence()
    evidence.root_layer.remote_attestation_report = evidence.root_layer.remote_attestation_report[
        :0x100
    ]
    with pytest.raises(InputError, match="SEV-SNP attestation report is 256 bytes"):
        read_evidence(evidence.SerializeToString())


@pytest.mark.parametrize("platform", [evidence_pb2.TEE_PLATFORM_NONE,
                                      evidence_pb2.TEE_PLATFORM_UNSPECIFIED])
def test_a_fake_report_of_another_size_is_an_input_error(platform: int) -> None:
    # It was read at 0x90 as long as it held 0xC0 bytes: a "measurement" of no known layout.
    evidence = _real_evidence()
    evidence.root_layer.platform = platform  # type: ignore[assignment]
    evidence.root_layer.remote_attestation_report = bytes(range(0xC0))
    with pytest.raises(InputError, match=r"^TEE_PLATFORM_\w+ \(read as SEV-SNP\) attestation "
                                         r"report is 192 bytes, expected 1184$"):
        read_evidence(evidence.SerializeToString())


def test_a_platform_this_auditor_does_not_know_is_an_input_error() -> None:
    # proto3 keeps an unknown enum value: platform 77 with an SNP-sized report was read as
    # SEV-SNP fake hardware, a measurement from a platform nobody named.
    evidence = _real_evidence()
    evidence.root_layer.platform = 77  # type: ignore[assignment]
    assert len(evidence.root_layer.remote_attestation_report) == 1184
    with pytest.raises(InputError, match=r"^evidence names TEE platform 77, which this auditor "
                                         r"does not know \(known: .*AMD_SEV_SNP.*\)$"):
        read_evidence(evidence.SerializeToString())


def _replace_events(evidence: evidence_pb2.Evidence, events: list[bytes]) -> bytes:
    evidence.event_log.ClearField("encoded_events")
    evidence.event_log.encoded_events.extend(events)
    return evidence.SerializeToString()


def test_missing_stage0_event_is_an_input_error() -> None:
    evidence = _real_evidence()
    others = list(evidence.event_log.encoded_events[1:])
    with pytest.raises(InputError, match=r"no oak\.attestation\.v1\.Stage0Measurements event"):
        read_evidence(_replace_events(evidence, others))


def test_duplicate_stage0_event_is_an_input_error() -> None:
    evidence = _real_evidence()
    events = list(evidence.event_log.encoded_events)
    with pytest.raises(InputError, match=r"2 oak\.attestation\.v1\.Stage0Measurements events"):
        read_evidence(_replace_events(evidence, [events[0], *events]))


def test_without_system_layer_event_there_is_no_system_image() -> None:
    evidence = _real_evidence()
    events = list(evidence.event_log.encoded_events)
    observed = read_evidence(_replace_events(evidence, [events[0], events[2]]))
    assert observed.system_image is None
    assert observed.to_json()["system_image"] is None


def _stage0_event(measurements: eventlog_pb2.Stage0Measurements) -> bytes:
    payload = any_pb2.Any()
    payload.Pack(measurements)
    return eventlog_pb2.Event(tag="Stage0", event=payload).SerializeToString()


def test_a_short_stage0_digest_is_an_input_error() -> None:
    measurements = eventlog_pb2.Stage0Measurements(
        setup_data_digest=bytes(32),
        kernel_measurement=bytes(31),
        ram_disk_digest=bytes(32),
        memory_map_digest=bytes(32),
        acpi_digest=bytes(32),
    )
    evidence = _real_evidence()
    with pytest.raises(InputError, match="kernel_measurement is 31 bytes"):
        read_evidence(_replace_events(evidence, [_stage0_event(measurements)]))


def test_a_malformed_event_is_an_input_error() -> None:
    evidence = _real_evidence()
    with pytest.raises(InputError, match=r"oak\.attestation\.v1\.Event\b"):
        read_evidence(_replace_events(evidence, [b"\x0a\xff"]))


def test_garbage_is_an_input_error() -> None:
    with pytest.raises(InputError, match="Evidence"):
        read_evidence(b"\x0a\x05\x08")
