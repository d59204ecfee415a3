"""How a VMM adds a firmware image's SEV metadata sections to the launch digest.

The firmware only declares the sections; what each becomes in SNP_LAUNCH_UPDATE is the VMM's
choice. The rules below are those of QEMU (target/i386/sev.c), GCE and EC2 as encoded by
virtee's sev-snp-measure (guest.py `snp_update_section`), and of Oak's own VMM as encoded by
Oak's `snp_measurement` tool (stage0.rs, main.rs).
"""

from __future__ import annotations

from enum import StrEnum

from auditor.errors import InputError
from auditor.measure.firmware import FirmwareLayout, MetadataSection, SectionType
from auditor.measure.launch_digest import LaunchDigest, PageType


class Vmm(StrEnum):
    OAK = "oak"
    QEMU = "qemu"
    GCE = "gce"
    EC2 = "ec2"


# Oak's snp_measurement knows only these three types and refuses any other (stage0.rs
# `SevMetadataPageType`); its QEMU flavour measures SEC_MEM as ZERO, like QEMU itself.
_OAK_SECTIONS = {
    SectionType.SNP_SEC_MEM: PageType.UNMEASURED,
    SectionType.SNP_SECRETS: PageType.SECRETS,
    SectionType.CPUID: PageType.CPUID,
}


def add_sections(
    digest: LaunchDigest,
    layout: FirmwareLayout,
    vmm: Vmm,
    kernel_hashes_page: bytes | None = None,
) -> None:
    """Extend `digest` with the metadata sections in table order, as `vmm` adds them."""
    for section in layout.sections:
        _add_section(digest, section, vmm, kernel_hashes_page)
    if vmm is Vmm.EC2:
        # EC2 adds the CPUID page last, after every other section (sev-snp-measure guest.py).
        for section in layout.sections:
            if section.section_type is SectionType.CPUID:
                digest.add_contentless_pages(PageType.CPUID, section.page_gpas)


def _add_section(
    digest: LaunchDigest, section: MetadataSection, vmm: Vmm, kernel_hashes_page: bytes | None
) -> None:
    kind = section.section_type
    if vmm is Vmm.OAK:
        if kind not in _OAK_SECTIONS:
            raise InputError(
                f"{section.describe()} is not part of Oak's stage0 semantics (Oak's "
                "snp_measurement accepts only SNP_SEC_MEM, SNP_SECRETS and CPUID); "
                "measure this image with --mode qemu"
            )
        digest.add_contentless_pages(_OAK_SECTIONS[kind], section.page_gpas)
    elif kind is SectionType.SNP_SEC_MEM:
        page_type = PageType.UNMEASURED if vmm is Vmm.GCE else PageType.ZERO
        digest.add_contentless_pages(page_type, section.page_gpas)
    elif kind is SectionType.SNP_SECRETS:
        digest.add_contentless_pages(PageType.SECRETS, section.page_gpas)
    elif kind is SectionType.CPUID:
        if vmm is not Vmm.EC2:
            digest.add_contentless_pages(PageType.CPUID, section.page_gpas)
    elif kind is SectionType.SNP_KERNEL_HASHES and kernel_hashes_page is not None:
        digest.add_normal_pages(section.gpa, kernel_hashes_page)
    else:  # SVSM_CAA, or KERNEL_HASHES without a kernel: QEMU adds zero pages
        digest.add_contentless_pages(PageType.ZERO, section.page_gpas)
