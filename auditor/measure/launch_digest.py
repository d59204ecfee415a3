"""The AMD SEV-SNP launch digest: a SHA-384 chain over PAGE_INFO structures.

Each page the VMM adds with SNP_LAUNCH_UPDATE extends the digest as
`ld = SHA-384(PAGE_INFO)` (AMD SEV-SNP ABI spec 56860, §8.17.2, PAGE_INFO table), where
`PAGE_INFO = ld ‖ contents ‖ u16 0x70 ‖ u8 page_type ‖ u8 imi ‖ u8 vmpl3..1 perms ‖ u8 0 ‖ u64 gpa`
and `contents` is the SHA-384 of the page for NORMAL and VMSA pages, 48 zero bytes otherwise.
"""

from __future__ import annotations

import hashlib
import struct
from enum import IntEnum

from auditor.measure.firmware import PAGE_SIZE

DIGEST_SIZE = 48
PAGE_INFO_SIZE = 0x70
# Every VMSA is added at the last 4 KiB page below 2^48 (the RMP clears bits above 51 of -1
# and SNP on Milan allows 48 physical address bits; Oak's snp_measurement uses the same GPA).
VMSA_GPA = 0xFFFFFFFFF000

_PAGE_INFO_TAIL = struct.Struct("<HBB4xQ")  # length, page type, imi, 3 vmpl perms + reserved, gpa
_NO_CONTENTS = bytes(DIGEST_SIZE)


class PageType(IntEnum):
    """SNP_LAUNCH_UPDATE page types (SEV-SNP ABI spec, PAGE_TYPE table)."""

    NORMAL = 1
    VMSA = 2
    ZERO = 3
    UNMEASURED = 4
    SECRETS = 5
    CPUID = 6


class LaunchDigest:
    """A launch digest being extended page by page. `copy()` forks it cheaply."""

    def __init__(self, value: bytes = bytes(DIGEST_SIZE)) -> None:
        self.value = value

    def copy(self) -> LaunchDigest:
        return LaunchDigest(self.value)

    def _extend(self, page_type: PageType, gpa: int, contents: bytes) -> None:
        tail = _PAGE_INFO_TAIL.pack(PAGE_INFO_SIZE, page_type, 0, gpa)
        self.value = hashlib.sha384(self.value + contents + tail).digest()

    def add_normal_pages(self, gpa: int, data: bytes | memoryview) -> None:
        view = memoryview(data)
        if len(view) % PAGE_SIZE:
            raise ValueError("normal pages must be whole 4 KiB pages")
        for offset in range(0, len(view), PAGE_SIZE):
            page_digest = hashlib.sha384(view[offset : offset + PAGE_SIZE]).digest()
            self._extend(PageType.NORMAL, gpa + offset, page_digest)

    def add_vmsa_page(self, vmsa: bytes) -> None:
        if len(vmsa) != PAGE_SIZE:
            raise ValueError("a VMSA page is 4096 bytes")
        self._extend(PageType.VMSA, VMSA_GPA, hashlib.sha384(vmsa).digest())

    def add_contentless_pages(self, page_type: PageType, gpas: range) -> None:
        """ZERO, UNMEASURED, SECRETS and CPUID pages: only type and address are measured."""
        if page_type in (PageType.NORMAL, PageType.VMSA):
            raise ValueError(f"{page_type.name} pages carry contents")
        for gpa in gpas:
            self._extend(page_type, gpa, _NO_CONTENTS)
