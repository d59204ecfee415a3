"""Our VMSA pages byte for byte against sev-snp-measure's ctypes save area."""

from __future__ import annotations

import pytest
from sevsnpmeasure.vmm_types import VMMType
from sevsnpmeasure.vmsa import VMSA

from auditor.measure.vmsa import (
    BOOT_RESET_ADDRESS,
    OAK_PROFILE,
    VcpuProfile,
    ec2_profile,
    gce_profile,
    qemu_profile,
    vmsa_page,
)

CASES = [
    (VMMType.QEMU, 0x00A00F11, 0x1, qemu_profile(0x00A00F11, 0x1)),
    (VMMType.QEMU, 0x600, 0x21, qemu_profile(0x600, 0x21)),
    (VMMType.gce, 0, 0x1, gce_profile(0x1)),
    (VMMType.ec2, 0, 0x5, ec2_profile(0x5)),
]


@pytest.mark.parametrize("reset", [BOOT_RESET_ADDRESS, 0xFFFF_F3F4, 0x0080_1000])
@pytest.mark.parametrize(("vmm", "sig", "features", "profile"), CASES)
def test_vmsa_equals_sev_snp_measure(
    vmm: VMMType, sig: int, features: int, profile: VcpuProfile, reset: int
) -> None:
    theirs = bytes(VMSA.build_save_area(reset, features, sig, vmm))
    assert vmsa_page(profile, reset) == theirs


def test_oak_profile_is_the_documented_state() -> None:
    # DOMAIN.md §7 / Oak snp_measurement vmsa.rs: rdx 0x600, g_pat 0x70106, no FPU init, SNP on.
    page = vmsa_page(OAK_PROFILE, BOOT_RESET_ADDRESS)
    assert int.from_bytes(page[0x310:0x318], "little") == 0x600
    assert int.from_bytes(page[0x268:0x270], "little") == 0x00070106
    assert int.from_bytes(page[0x3B0:0x3B8], "little") == 1
    assert page[0x408:0x40C] == bytes(4)
    assert int.from_bytes(page[0x178:0x180], "little") == 0xFFF0
    assert int.from_bytes(page[0x18:0x20], "little") == 0xFFFF0000  # cs.base
