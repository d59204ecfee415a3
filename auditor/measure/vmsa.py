"""The initial VMSA page of a vCPU, as the VMM hands it to SNP_LAUNCH_UPDATE.

Layout: AMD APM vol. 2, table B-4 (VMSA save area); segment registers are
`{u16 selector, u16 attrib, u32 limit, u64 base}`. The initial register values are the VMM's
choice, which is why Oak's VMM, QEMU, GCE and EC2 produce different launch digests for the
same firmware: `VcpuProfile` captures exactly those choices.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from auditor.measure.firmware import PAGE_SIZE

# Boot processor reset vector: real-mode CS.base 0xFFFF0000, IP 0xFFF0 (x86 reset state).
BOOT_RESET_ADDRESS = 0xFFFFFFF0

QEMU_G_PAT = 0x0007040600070406  # PAT MSR power-on value (AMD APM vol. 2 §A.3)
GCE_G_PAT = 0x00070106  # what GCE's (and Oak's) VMM programs instead
DEFAULT_VCPU_SIG = 0x600  # Oak's family 6 / model 0 / stepping 0 signature
#: SEV_FEATURES bit 0, SNPActive: set in every SNP guest's VMSA (KVM ORs it into whatever
#: features the VMM asks for, __sev_guest_init; the hardware runs no SNP VMSA without it).
SNP_ACTIVE = 0x1
#: The most vCPUs a launch is measured for: KVM's KVM_MAX_VCPUS on x86 (4096 since Linux 6.3).
#: Each adds a VMSA page to the digest; a count of two billion measured for hours.
MAX_VCPUS = 4096

_SEGMENT = struct.Struct("<HHIQ")
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")


@dataclass(frozen=True)
class VcpuProfile:
    """The VMM-chosen initial state that differs between VMMs."""

    g_pat: int
    rdx: int  # CPUID(1).EAX, the vCPU signature
    mxcsr: int
    x87_fcw: int
    sev_features: int
    boot_cs_attrib: int = 0x9B
    ap_cs_attrib: int = 0x9B
    ss_attrib: int = 0x93
    tr_attrib: int = 0x8B


def qemu_profile(vcpu_sig: int, sev_features: int = 1) -> VcpuProfile:
    return VcpuProfile(QEMU_G_PAT, vcpu_sig, mxcsr=0x1F80, x87_fcw=0x37F, sev_features=sev_features)


def gce_profile(sev_features: int = 1) -> VcpuProfile:
    # Oak's own VMM sets the same state (Oak snp_measurement vmsa.rs: g_pat 0x70106, no FPU init).
    return VcpuProfile(GCE_G_PAT, DEFAULT_VCPU_SIG, mxcsr=0, x87_fcw=0, sev_features=sev_features)


def ec2_profile(sev_features: int = 1) -> VcpuProfile:
    # EC2 marks the boot CS, SS and TR descriptors as not accessed.
    return VcpuProfile(
        QEMU_G_PAT,
        DEFAULT_VCPU_SIG,
        mxcsr=0,
        x87_fcw=0,
        sev_features=sev_features,
        boot_cs_attrib=0x9A,
        ss_attrib=0x92,
        tr_attrib=0x83,
    )


OAK_PROFILE = gce_profile(sev_features=1)


def vmsa_page(profile: VcpuProfile, reset_address: int) -> bytes:
    """The VMSA of a vCPU that starts at `reset_address` (a 32-bit linear address)."""
    is_boot = reset_address == BOOT_RESET_ADDRESS
    page = bytearray(PAGE_SIZE)
    cs_attrib = profile.boot_cs_attrib if is_boot else profile.ap_cs_attrib
    segments = {
        0x00: (0, 0x93, 0xFFFF, 0),  # es
        0x10: (0xF000, cs_attrib, 0xFFFF, reset_address & 0xFFFF0000),  # cs
        0x20: (0, profile.ss_attrib, 0xFFFF, 0),  # ss
        0x30: (0, 0x93, 0xFFFF, 0),  # ds
        0x40: (0, 0x93, 0xFFFF, 0),  # fs
        0x50: (0, 0x93, 0xFFFF, 0),  # gs
        0x60: (0, 0, 0xFFFF, 0),  # gdtr
        0x70: (0, 0x82, 0xFFFF, 0),  # ldtr
        0x80: (0, 0, 0xFFFF, 0),  # idtr
        0x90: (0, profile.tr_attrib, 0xFFFF, 0),  # tr
    }
    for offset, segment in segments.items():
        _SEGMENT.pack_into(page, offset, *segment)
    registers = {
        0xD0: 0x1000,  # efer: SVME, as KVM sets it
        0x148: 0x40,  # cr4: MCE
        0x158: 0x10,  # cr0: ET
        0x160: 0x400,  # dr7
        0x168: 0xFFFF0FF0,  # dr6
        0x170: 0x2,  # rflags
        0x178: reset_address & 0xFFFF,  # rip
        0x268: profile.g_pat,
        0x310: profile.rdx,
        0x3B0: profile.sev_features,
        0x3E8: 0x1,  # xcr0: x87
    }
    for offset, value in registers.items():
        _U64.pack_into(page, offset, value)
    _U32.pack_into(page, 0x408, profile.mxcsr)
    _U16.pack_into(page, 0x410, profile.x87_fcw)
    return bytes(page)
