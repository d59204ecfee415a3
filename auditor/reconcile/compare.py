"""Does one endorsement vouch for one local measurement? Match, mismatch, or undecidable.

stage0 matches per vCPU count (and says which, and in which VMM mode) on SEV-SNP, and by MRTD
on Intel TDX; kernel setup data matches either VMM variant (and says which); the cmdline is
matched against the endorsed regex with Oak's semantics; other components compare digest sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from auditor.components import Kind
from auditor.errors import InputError
from auditor.measure.cmdline import MAX_CMDLINE_BYTES, cmdline_matches
from auditor.measure.tdx import compare_mrtd
from auditor.oak.messages import (
    FirmwareMeasurements,
    parse_firmware_attachment,
    parse_kernel_attachment,
)
from auditor.reconcile.local import LocalValue
from auditor.store.views import EndorsementView, inline_subject_matches
from auditor.verify.statement import DigestComparison, compare_digests


class Outcome(StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    UNDECIDABLE = "undecidable"
    #: The endorsement speaks of another platform (an SEV-SNP-only stage0 attachment and a TDX
    #: measurement, or the reverse): it neither vouches for nor contradicts the value.
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Comparison:
    outcome: Outcome
    detail: str
    #: What matched, e.g. {"vcpus": 1, "mode": "oak"} or {"setup_variant": "oak_vmm"}.
    how: dict[str, Any] = field(default_factory=dict)


def _attachment_missing(endorsed: EndorsementView) -> Comparison | None:
    if endorsed.subject is None:
        return Comparison(Outcome.UNDECIDABLE, "the endorsement's inline subject (the "
                          "attachment naming the measurements) is not available")
    if not inline_subject_matches(endorsed):
        return Comparison(Outcome.UNDECIDABLE, "the inline subject does not hash to the "
                          "statement's subject digest")
    return None


def _stage0(local: LocalValue, endorsed: EndorsementView) -> Comparison:
    missing = _attachment_missing(endorsed)
    if missing:
        return missing
    assert endorsed.subject is not None
    firmware = parse_firmware_attachment(endorsed.subject)
    # attachment.proto: a FirmwareAttachment is for SEV-SNP (configs), Intel TDX
    # (tdx_measurement) or both; only the platforms both sides have are compared.
    compared = []
    if firmware.launch_digests and (local.snp_measurement is not None or local.launch_digests):
        compared.append(_snp)
    if firmware.tdx_measurement is not None and local.tdx_mrtd is not None:
        compared.append(_tdx)
    if not compared:
        return Comparison(Outcome.NOT_APPLICABLE, f"the endorsement is for {_platforms(firmware)}"
                          f" only; the local value is not")
    if firmware.rom_sha256 and local.sha256 and firmware.rom_sha256 != local.sha256.hex():
        return Comparison(Outcome.MISMATCH, "the ROM's sha256 differs from the endorsed binary "
                          "digest")
    outcomes = [platform(local, firmware) for platform in compared]
    for worst in (Outcome.MISMATCH, Outcome.UNDECIDABLE):
        if found := next((c for c in outcomes if c.outcome is worst), None):
            return found
    return outcomes[0]


def _platforms(firmware: FirmwareMeasurements) -> str:
    names = ["SEV-SNP"] if firmware.launch_digests else []
    return " and ".join(names + (["Intel TDX"] if firmware.tdx_measurement else []))


def _tdx(local: LocalValue, firmware: FirmwareMeasurements) -> Comparison:
    assert firmware.tdx_measurement is not None and local.tdx_mrtd is not None
    # A ROM's value is recomputed (and carries the ROM's sha256); a quote's is observed.
    source = "the ROM" if local.sha256 is not None else "the TD quote"
    check = compare_mrtd(firmware.tdx_measurement, local.tdx_mrtd, observed_from=source)
    outcome = {True: Outcome.MATCH, False: Outcome.MISMATCH, None: Outcome.UNDECIDABLE}[check.ok]
    return Comparison(outcome, check.detail, {"platform": "tdx"})


def _snp(local: LocalValue, firmware: FirmwareMeasurements) -> Comparison:
    if local.snp_measurement is not None:
        if not any(local.snp_measurement):
            return Comparison(Outcome.UNDECIDABLE, "the SNP report's MEASUREMENT is all zeros "
                              "(evidence from fake or test hardware): nothing to compare")
        for vcpus, digest in firmware.launch_digests.items():
            if local.snp_measurement.hex() == digest:
                return Comparison(Outcome.MATCH, f"the reported launch digest is the endorsed "
                                  f"{vcpus}-vCPU value", {"vcpus": vcpus})
        return Comparison(Outcome.MISMATCH, "the reported launch digest is none of the endorsed "
                          f"values (vCPU counts {sorted(firmware.launch_digests)})")
    matches = [(vcpus, mode) for (mode, vcpus), digest in local.launch_digests.items()
               if firmware.launch_digests.get(vcpus) == digest.hex()]
    if matches:
        vcpus, mode = min(matches)
        counts = sorted({v for v, _ in matches})
        return Comparison(Outcome.MATCH, f"launch digest matches for vCPU counts {counts} "
                          f"({mode} mode)", {"vcpus": counts, "mode": mode})
    return Comparison(Outcome.MISMATCH, "no recomputed launch digest (oak or qemu mode, any "
                      "vCPU count) equals an endorsed one")


def _kernel(local: LocalValue, endorsed: EndorsementView) -> Comparison:
    missing = _attachment_missing(endorsed)
    if missing:
        return missing
    assert endorsed.subject is not None and local.kernel_measurement is not None
    kernel = parse_kernel_attachment(endorsed.subject)
    if local.kernel_measurement.hex() != kernel.image_sha256:
        return Comparison(Outcome.MISMATCH, "kernel_measurement differs from the endorsed "
                          "image digest")
    variants = [v for v, d in local.setup_digests.items() if d.hex() == kernel.setup_data_sha256]
    if not variants:
        return Comparison(Outcome.MISMATCH, "the kernel image matches but setup_data_digest "
                          f"matches neither VMM variant ({', '.join(sorted(local.setup_digests))})")
    return Comparison(Outcome.MATCH, f"kernel image and setup data match (setup variant "
                      f"{variants[0]})", {"setup_variant": variants[0]})


def _cmdline(local: LocalValue, endorsed: EndorsementView) -> Comparison:
    missing = _attachment_missing(endorsed)
    if missing:
        return missing
    assert endorsed.subject is not None and local.cmdline is not None
    try:
        # Strictly: Oak's verifier takes the regex as a Rust str, so bytes that are not UTF-8
        # endorse no command line (repaired with U+FFFD, they could match one).
        regex = endorsed.subject.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"the endorsed regex is not UTF-8 (byte {error.start})") from None
    too_long = len(local.cmdline.encode()) >= MAX_CMDLINE_BYTES
    if cmdline_matches(regex, local.cmdline):
        if too_long:
            return Comparison(Outcome.MISMATCH, f"the cmdline matches the endorsed regex but is "
                              f"{len(local.cmdline.encode())} bytes (limit "
                              f"{MAX_CMDLINE_BYTES})")
        return Comparison(Outcome.MATCH, "the cmdline matches the endorsed regex")
    return Comparison(Outcome.MISMATCH, "the cmdline does not match the endorsed regex")


def _file(local: LocalValue, endorsed: EndorsementView) -> Comparison:
    assert local.sha256 is not None
    outcome = compare_digests({"sha256": local.sha256.hex()}, endorsed.subject_digests)
    if outcome is DigestComparison.MATCH:
        return Comparison(Outcome.MATCH, "sha256 equals the statement's subject digest")
    if outcome is DigestComparison.MISMATCH:
        return Comparison(Outcome.MISMATCH, "sha256 differs from the statement's subject digest")
    return Comparison(Outcome.UNDECIDABLE, f"digests are {outcome.value}: the statement's "
                      f"subject has {sorted(endorsed.subject_digests)}, we computed sha256")


_COMPARE = {Kind.STAGE0: _stage0, Kind.KERNEL: _kernel, Kind.CMDLINE: _cmdline,
            Kind.FILE: _file}


def compare(local: LocalValue, endorsed: EndorsementView) -> Comparison:
    if endorsed.statement_format != "oak-endorsement-v1":
        return Comparison(Outcome.UNDECIDABLE, f"statement format {endorsed.statement_format}: "
                          "not interpreted")
    try:
        return _COMPARE[local.kind](local, endorsed)
    except InputError as error:
        return Comparison(Outcome.UNDECIDABLE, f"the inline subject does not parse: {error}")
