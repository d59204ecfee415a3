"""QEMU+OVMF: the SEV-SNP launch digest of an OVMF image, with optional measured direct boot.

With `kernel-hashes=on`, QEMU writes a table of the kernel, initrd and command-line SHA-256
digests into the page OVMF reserves for it (the SNP_KERNEL_HASHES metadata section), and that
page is measured as a NORMAL page, so the launch digest covers all three. This reproduces
virtee's sev-snp-measure `--mode snp` (the field's reference), with streamed file hashing and
the strict firmware parser. Firmware without that section (Oak's stage0) cannot do this: stage0
measures the kernel, initrd and command line into its own event log instead.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

from sevsnpmeasure.vcpu_types import CPU_SIGS

from auditor.errors import InputError
from auditor.measure.artifact import read_artifact, sha256_file
from auditor.measure.firmware import (
    MAX_IMAGE_SIZE,
    PAGE_SIZE,
    FirmwareLayout,
    SectionType,
    parse_firmware,
)
from auditor.measure.initrd import MAX_INITRD_SIZE
from auditor.measure.interface import JsonValue
from auditor.measure.kernel import measure_kernel_file
from auditor.measure.launch_digest import LaunchDigest
from auditor.measure.vmm import Vmm, add_sections
from auditor.measure.vmsa import (
    BOOT_RESET_ADDRESS,
    MAX_VCPUS,
    SNP_ACTIVE,
    VcpuProfile,
    ec2_profile,
    gce_profile,
    qemu_profile,
    vmsa_page,
)

LAUNCH_VMMS = (Vmm.QEMU, Vmm.GCE, Vmm.EC2)

# QEMU target/i386/sev.c: SevHashTable = header GUID ‖ u16 length ‖ 3 × (GUID ‖ u16 len ‖ hash),
# in the order cmdline, initrd, kernel, zero-padded to a multiple of 16 (PaddedSevHashTable).
_TABLE_HEADER_GUID = uuid.UUID("9438d606-4f22-4cc9-b479-a793d411fd21")
_CMDLINE_GUID = uuid.UUID("97d02dd8-bd20-4c94-aa78-e7714d36ab2a")
_INITRD_GUID = uuid.UUID("44baf731-3a2f-4bd7-9af1-41e29169781d")
_KERNEL_GUID = uuid.UUID("4de79437-abd2-427f-b835-d5b172d2045b")
_ENTRY_SIZE = 16 + 2 + 32
_TABLE_SIZE = 16 + 2 + 3 * _ENTRY_SIZE
_PADDED_TABLE_SIZE = (_TABLE_SIZE + 15) & ~15


@dataclass(frozen=True)
class DirectBoot:
    """The files QEMU hashes into the kernel-hashes table (`-kernel/-initrd/-append`)."""

    kernel: Path
    initrd: Path | None = None
    append: str | None = None


@dataclass(frozen=True)
class LaunchConfig:
    vcpus: int = 1
    vmm_type: Vmm = Vmm.QEMU
    vcpu_sig: int | None = None  # CPUID(1).EAX; QEMU only (GCE and EC2 fix it at 0x600)
    guest_features: int = 0x1  # SEV_FEATURES of the VMSA; 0x1 = SNP active
    direct_boot: DirectBoot | None = None


@dataclass(frozen=True)
class LaunchMeasurement:
    launch_digest: bytes
    vmm_type: Vmm
    vcpus: int

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "launch_digest": self.launch_digest.hex(),
            "mode": self.vmm_type.value,
            "vcpus": self.vcpus,
        }


def vcpu_sig_for(vcpu_type: str | None, vcpu_sig: int | None) -> int | None:
    """The vCPU signature from a QEMU CPU model name (`EPYC-Milan`) or an explicit value."""
    if vcpu_type is not None and vcpu_sig is not None:
        raise InputError("give either --vcpu-type or --vcpu-sig, not both")
    if vcpu_type is None:
        return vcpu_sig
    try:
        sig: int = CPU_SIGS[vcpu_type]
    except KeyError:
        raise InputError(f"unknown vCPU type {vcpu_type!r}; known: {', '.join(CPU_SIGS)}") from None
    return sig


def measure_launch_file(ovmf: Path, config: LaunchConfig) -> LaunchMeasurement:
    return measure_launch(read_artifact(ovmf, "OVMF image", MAX_IMAGE_SIZE), config)


def measure_launch(image: bytes, config: LaunchConfig) -> LaunchMeasurement:
    profile = _profile(config)
    layout = parse_firmware(image)
    hashes_page = _kernel_hashes_page(layout, config.direct_boot)
    digest = LaunchDigest()
    digest.add_normal_pages(layout.gpa, image)
    add_sections(digest, layout, config.vmm_type, hashes_page)
    digest.add_vmsa_page(vmsa_page(profile, BOOT_RESET_ADDRESS))
    ap_vmsa = vmsa_page(profile, layout.ap_reset_address)
    for _ in range(config.vcpus - 1):
        digest.add_vmsa_page(ap_vmsa)
    return LaunchMeasurement(digest.value, config.vmm_type, config.vcpus)


def _profile(config: LaunchConfig) -> VcpuProfile:
    if not 1 <= config.vcpus <= MAX_VCPUS:
        raise InputError(f"--vcpus {config.vcpus} is not a vCPU count from 1 to {MAX_VCPUS}")
    if config.vmm_type not in LAUNCH_VMMS:
        raise InputError(f"VMM type {config.vmm_type} is not one of qemu, gce, ec2")
    if not 0 <= config.guest_features < 1 << 64:
        raise InputError(f"--guest-features {config.guest_features:#x} does not fit in 64 bits")
    if not config.guest_features & SNP_ACTIVE:
        # The VMSA a VM is launched with has the bit whatever was asked for: a digest without it
        # is one no SNP guest reports.
        raise InputError(
            f"--guest-features {config.guest_features:#x} lacks SNPActive (bit 0), which every "
            f"SEV-SNP guest's VMSA has (KVM sets it): give {config.guest_features | SNP_ACTIVE:#x}"
        )
    if config.vmm_type is not Vmm.QEMU:
        if config.vcpu_sig is not None:
            raise InputError(
                f"--vcpu-type/--vcpu-sig apply to --vmm-type qemu only ({config.vmm_type} "
                "starts every vCPU with signature 0x600)"
            )
        if config.vmm_type is Vmm.GCE:
            return gce_profile(config.guest_features)
        return ec2_profile(config.guest_features)
    if config.vcpu_sig is None:
        raise InputError("--vmm-type qemu needs --vcpu-type or --vcpu-sig (e.g. EPYC-Milan)")
    if not 0 <= config.vcpu_sig < 1 << 32:
        raise InputError(f"--vcpu-sig {config.vcpu_sig:#x} does not fit in 32 bits")
    return qemu_profile(config.vcpu_sig, config.guest_features)


def _kernel_hashes_page(layout: FirmwareLayout, boot: DirectBoot | None) -> bytes | None:
    if boot is None:
        return None
    sections = [s for s in layout.sections if s.section_type is SectionType.SNP_KERNEL_HASHES]
    if not sections:
        raise InputError(
            "this firmware has no SNP_KERNEL_HASHES section, so the launch digest cannot cover "
            "--kernel/--initrd/--append; firmware like Oak's stage0 measures the kernel, initrd "
            "and command line into its event log instead (see `audit measure kernel`, "
            "`initrd`, `cmdline`)"
        )
    if layout.hash_table_gpa is None:
        raise InputError("firmware has an SNP_KERNEL_HASHES section but no SEV hash table entry")
    if any(s.size != PAGE_SIZE for s in sections):
        raise InputError("firmware's SNP_KERNEL_HASHES section is not exactly one 4 KiB page")
    size = layout.hash_table_size
    if size is None or size < _PADDED_TABLE_SIZE:
        # QEMU refuses to launch such firmware ("hashes table area is invalid"): no digest.
        raise InputError(
            f"firmware's SEV hash table entry declares {'no size' if size is None else size}, "
            f"less than QEMU's {_PADDED_TABLE_SIZE}-byte table: QEMU refuses to launch it "
            "with a kernel"
        )
    offset = layout.hash_table_gpa % PAGE_SIZE
    if offset + _PADDED_TABLE_SIZE > PAGE_SIZE:
        raise InputError(
            f"SEV hash table at GPA {layout.hash_table_gpa:#x} does not fit in its page"
        )
    table = _hash_table(boot)
    return bytes(offset) + table + bytes(PAGE_SIZE - offset - len(table))


def _hash_table(boot: DirectBoot) -> bytes:
    # QEMU hashes the whole file (setup and kernel); measured as a bzImage, so that one cut
    # short or no kernel at all (an empty file, a FIFO without a writer) is refused, not hashed.
    kernel = measure_kernel_file(boot.kernel).sha256
    # An absent initrd is hashed as empty here (unlike stage0's 32 zero bytes).
    initrd = (sha256_file(boot.initrd, "initrd", MAX_INITRD_SIZE) if boot.initrd
              else hashlib.sha256().digest())
    # QEMU hashes -append as the C string it was given: its bytes, UTF-8 or not (an argument
    # that is not UTF-8 holds its bytes as lone surrogates, PEP 383; encoding it strictly was
    # an internal error).
    append = (boot.append or "").encode("utf-8", "surrogateescape")
    cmdline = hashlib.sha256(append + b"\0").digest()
    table = _TABLE_HEADER_GUID.bytes_le + struct.pack("<H", _TABLE_SIZE)
    for guid, digest in ((_CMDLINE_GUID, cmdline), (_INITRD_GUID, initrd), (_KERNEL_GUID, kernel)):
        table += guid.bytes_le + struct.pack("<H", _ENTRY_SIZE) + digest
    return table + bytes(_PADDED_TABLE_SIZE - _TABLE_SIZE)
