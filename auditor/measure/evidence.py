"""What a running Oak VM says it booted: the measurements in an Oak `Evidence` message.

Three sources, all checked against endorsements elsewhere:

- the AMD SEV-SNP attestation report's MEASUREMENT, the launch digest of stage0 and the initial
  vCPU state (what a FirmwareAttachment predicts per vCPU count), or on Intel TDX the TD
  quote's MRTD (what its `tdx_measurement` predicts);
- the `Stage0Measurements` event: what stage0 measured before starting the kernel (kernel image
  and setup data, initrd, memory map, ACPI tables, command line);
- the `SystemLayerData` event logged by Oak Containers' stage1: the system image digest.

Events are located by the type URL of their `google.protobuf.Any` payload, not by their tag
(`Stage0`, `stage1`): the type URL is what determines how the bytes are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import any_pb2
from google.protobuf import message as _message

from auditor.errors import InputError
from auditor.measure.tdx import quote_mrtd
from auditor.oak.messages import parse_binary_message, parse_message
from auditor.oak.proto.attestation import eventlog_pb2, evidence_pb2, verification_pb2

M = TypeVar("M", bound=_message.Message)

# AMD SEV-SNP ABI specification (56860), Table 23 "ATTESTATION_REPORT Structure": the report is
# 0x4A0 bytes and MEASUREMENT is the 48 bytes at offset 0x90.
SNP_REPORT_SIZE = 0x4A0
SNP_MEASUREMENT_OFFSET = 0x90
SNP_MEASUREMENT_SIZE = 48

SHA256_SIZE = 32
_TYPE_URL_PREFIX = "type.googleapis.com/"


@dataclass(frozen=True)
class Stage0Observation:
    """The `Stage0Measurements` event of the event log (SHA-256 digests)."""

    kernel_measurement: bytes
    setup_data_digest: bytes
    ram_disk_digest: bytes
    kernel_cmdline: str
    memory_map_digest: bytes
    acpi_digest: bytes

    def to_json(self) -> dict[str, str]:
        return {
            "kernel_measurement": self.kernel_measurement.hex(),
            "setup_data_digest": self.setup_data_digest.hex(),
            "ram_disk_digest": self.ram_disk_digest.hex(),
            "kernel_cmdline": self.kernel_cmdline,
            "memory_map_digest": self.memory_map_digest.hex(),
            "acpi_digest": self.acpi_digest.hex(),
        }


@dataclass(frozen=True)
class ObservedEvidence:
    """The boot measurements an Oak VM attested to."""

    #: MEASUREMENT of the SNP report (48 bytes); None when the evidence carries no SNP report.
    snp_measurement: bytes | None
    stage0: Stage0Observation
    #: SHA-256 of the Oak Containers system image; None when no SystemLayerData event exists.
    system_image: bytes | None
    #: MRTD of the TD quote (48 bytes) when the platform is Intel TDX; None otherwise.
    tdx_mrtd: bytes | None = None

    @property
    def snp_measurement_is_zero(self) -> bool:
        """True for an all-zero MEASUREMENT: a fake (non-TEE) report that proves nothing."""
        return self.snp_measurement is not None and not any(self.snp_measurement)

    def to_json(self) -> dict[str, Any]:
        """The `audit measure evidence` JSON contract (`tdx_mrtd` only for TDX evidence)."""
        document: dict[str, Any] = {
            "snp_measurement": _hex_or_none(self.snp_measurement),
            "stage0": self.stage0.to_json(),
            "system_image": _hex_or_none(self.system_image),
        }
        if self.tdx_mrtd is not None:
            document["tdx_mrtd"] = self.tdx_mrtd.hex()
        return document


def read_evidence(data: bytes) -> ObservedEvidence:
    """Read an `oak.attestation.v1.Evidence` message (binary or text format)."""
    evidence = parse_message(data, evidence_pb2.Evidence)
    if evidence.root_layer.platform not in evidence_pb2.TeePlatform.values():
        # proto3 keeps an enum value it does not know: it was read as SEV-SNP fake hardware,
        # and a report of the right size gave a measurement from a platform nobody named.
        raise InputError(f"evidence names TEE platform {evidence.root_layer.platform}, which "
                         "this auditor does not know (known: "
                         f"{', '.join(evidence_pb2.TeePlatform.keys())})")
    events = _decode_events(evidence.event_log)
    stage0 = _only(events, eventlog_pb2.Stage0Measurements, required=True)
    assert stage0 is not None  # required=True
    system = _only(events, verification_pb2.SystemLayerData, required=False)
    return ObservedEvidence(
        snp_measurement=_snp_measurement(evidence.root_layer),
        stage0=_stage0(stage0),
        system_image=_system_image(system) if system is not None else None,
        tdx_mrtd=_tdx_mrtd(evidence.root_layer),
    )


def _tdx_mrtd(root: evidence_pb2.RootLayerEvidence) -> bytes | None:
    # On TDX, remote_attestation_report holds the TD quote (Oak's oak_tdx_quote reads it).
    if root.platform != evidence_pb2.INTEL_TDX or not root.remote_attestation_report:
        return None
    return quote_mrtd(root.remote_attestation_report)


def _snp_measurement(root: evidence_pb2.RootLayerEvidence) -> bytes | None:
    report = root.remote_attestation_report
    if not report or root.platform == evidence_pb2.INTEL_TDX:
        # A TDX quote has no SNP MEASUREMENT; reading offset 0x90 of it would be garbage.
        return None
    if len(report) != SNP_REPORT_SIZE:
        # Fake hardware (platform NONE or unspecified) is read as an SEV-SNP report too (an
        # all-zero one is UNDECIDABLE_DIGEST), but only one of that size: any 0xC0 bytes gave
        # a "measurement" read from a report of no known layout.
        platform = ("SEV-SNP" if root.platform == evidence_pb2.AMD_SEV_SNP
                    else f"{evidence_pb2.TeePlatform.Name(root.platform)} (read as SEV-SNP)")
        raise InputError(f"{platform} attestation report is {len(report)} bytes, expected "
                         f"{SNP_REPORT_SIZE}")
    return report[SNP_MEASUREMENT_OFFSET:SNP_MEASUREMENT_OFFSET + SNP_MEASUREMENT_SIZE]


def _decode_events(log: eventlog_pb2.EventLog) -> list[any_pb2.Any]:
    # The events are kept serialized in the log because the DICE chain signs their exact bytes.
    return [
        parse_binary_message(encoded, eventlog_pb2.Event).event for encoded in log.encoded_events
    ]


def _only(events: list[any_pb2.Any], message_cls: type[M], *, required: bool) -> M | None:
    name = message_cls.DESCRIPTOR.full_name
    matches = [event for event in events if event.type_url == _TYPE_URL_PREFIX + name]
    if len(matches) > 1:
        raise InputError(f"evidence event log has {len(matches)} {name} events, expected one")
    if not matches:
        if required:
            raise InputError(f"evidence event log has no {name} event")
        return None
    return parse_binary_message(matches[0].value, message_cls)


def _stage0(event: eventlog_pb2.Stage0Measurements) -> Stage0Observation:
    return Stage0Observation(
        kernel_measurement=_sha256(event.kernel_measurement, "kernel_measurement"),
        setup_data_digest=_sha256(event.setup_data_digest, "setup_data_digest"),
        ram_disk_digest=_sha256(event.ram_disk_digest, "ram_disk_digest"),
        kernel_cmdline=event.kernel_cmdline,
        memory_map_digest=_sha256(event.memory_map_digest, "memory_map_digest"),
        acpi_digest=_sha256(event.acpi_digest, "acpi_digest"),
    )


def _system_image(event: verification_pb2.SystemLayerData) -> bytes:
    return _sha256(event.system_image.sha2_256, "SystemLayerData system_image sha2_256")


def _sha256(value: bytes, what: str) -> bytes:
    if len(value) != SHA256_SIZE:
        raise InputError(f"evidence {what} is {len(value)} bytes, not a SHA-256 digest")
    return value


def _hex_or_none(value: bytes | None) -> str | None:
    return value.hex() if value is not None else None
