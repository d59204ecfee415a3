"""stage0: the ROM's SHA-256 and its SEV-SNP launch digest for each vCPU count.

Oak publishes, per vCPU count, the launch digest a verifier will see in the SNP report's
MEASUREMENT (FirmwareAttachment.configs). The digest chain is: the ROM as NORMAL pages, the
SEV metadata sections, the boot vCPU's VMSA, then one AP VMSA per extra vCPU. Everything before
the AP VMSAs is shared, so every requested count comes out of a single pass: the digest after
k vCPUs is read off the chain as it grows, and the ROM pages are hashed once for both modes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from auditor.errors import InputError
from auditor.measure.artifact import read_artifact
from auditor.measure.firmware import MAX_IMAGE_SIZE, FirmwareLayout, parse_firmware
from auditor.measure.interface import JsonValue
from auditor.measure.launch_digest import LaunchDigest
from auditor.measure.vmm import Vmm, add_sections
from auditor.measure.vmsa import (
    BOOT_RESET_ADDRESS,
    DEFAULT_VCPU_SIG,
    MAX_VCPUS,
    OAK_PROFILE,
    VcpuProfile,
    qemu_profile,
    vmsa_page,
)
from auditor.numbers import is_integer

# The counts Oak publishes in FirmwareAttachment.configs.
DEFAULT_VCPU_COUNTS = (1, 2, 4, 8, 16, 32, 64)


class Stage0Mode(StrEnum):
    """`oak`: Oak's own VMM, the values Oak publishes. `qemu`: QEMU with vCPU signature 0x600."""

    OAK = "oak"
    QEMU = "qemu"


#: What `audit measure stage0 --mode` accepts: one mode, or `both` (every mode, the default).
MODE_CHOICES: Mapping[str, tuple[Stage0Mode, ...]] = {
    **{mode.value: (mode,) for mode in Stage0Mode}, "both": tuple(Stage0Mode)}


_MODE_VMM: Mapping[Stage0Mode, tuple[Vmm, VcpuProfile]] = {
    Stage0Mode.OAK: (Vmm.OAK, OAK_PROFILE),
    Stage0Mode.QEMU: (Vmm.QEMU, qemu_profile(DEFAULT_VCPU_SIG, sev_features=1)),
}


@dataclass(frozen=True)
class Stage0Measurement:
    sha256: bytes
    launch_digests: Mapping[Stage0Mode, Mapping[int, bytes]]  # mode → vCPU count → SHA-384

    def to_json(self) -> dict[str, JsonValue]:
        digests: dict[str, JsonValue] = {
            mode.value: {str(count): ld.hex() for count, ld in per_count.items()}
            for mode, per_count in self.launch_digests.items()
        }
        return {"sha256": self.sha256.hex(), "launch_digests": digests}


def measure_stage0_file(
    path: Path,
    vcpu_counts: Iterable[int] = DEFAULT_VCPU_COUNTS,
    modes: Iterable[Stage0Mode] = tuple(Stage0Mode),
) -> Stage0Measurement:
    return measure_stage0(read_artifact(path, "stage0 ROM", MAX_IMAGE_SIZE), vcpu_counts, modes)


def measure_stage0(
    rom: bytes,
    vcpu_counts: Iterable[int] = DEFAULT_VCPU_COUNTS,
    modes: Iterable[Stage0Mode] = tuple(Stage0Mode),
) -> Stage0Measurement:
    counts = _checked_counts(vcpu_counts)
    layout = parse_firmware(rom)
    rom_pages = LaunchDigest()
    rom_pages.add_normal_pages(layout.gpa, rom)
    launch_digests = {
        mode: _digests_per_count(rom_pages.copy(), layout, mode, counts)
        for mode in dict.fromkeys(modes)
    }
    return Stage0Measurement(hashlib.sha256(rom).digest(), launch_digests)


def _digests_per_count(
    digest: LaunchDigest, layout: FirmwareLayout, mode: Stage0Mode, counts: Sequence[int]
) -> dict[int, bytes]:
    vmm, profile = _MODE_VMM[mode]
    add_sections(digest, layout, vmm)
    digest.add_vmsa_page(vmsa_page(profile, BOOT_RESET_ADDRESS))
    ap_vmsa = vmsa_page(profile, layout.ap_reset_address)
    result: dict[int, bytes] = {}
    vcpus = 1
    for count in counts:
        while vcpus < count:
            digest.add_vmsa_page(ap_vmsa)
            vcpus += 1
        result[count] = digest.value
    return result


def _checked_counts(vcpu_counts: Iterable[int]) -> list[int]:
    counts = sorted(set(vcpu_counts))
    if not counts:
        raise InputError("no vCPU count given")
    if counts[0] < 1:
        raise InputError(f"vCPU count {counts[0]} is not a positive number")
    if counts[-1] > MAX_VCPUS:
        raise InputError(f"vCPU count {counts[-1]} is more than a VM can have ({MAX_VCPUS})")
    return counts


def parse_vcpu_counts(text: str) -> list[int]:
    """`"1,2,4"` → [1, 2, 4], for the CLI's --vcpus (each count in plain decimal digits:
    `1_0` is refused, not taken as 10)."""
    parts = [part.strip() for part in text.split(",")]
    if not all(map(is_integer, parts)):
        raise InputError(f"--vcpus {text[:40]!r} is not a comma-separated list of numbers "
                         "(decimal digits)")
    return _checked_counts(int(part) for part in parts)
