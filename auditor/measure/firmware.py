"""The OVMF-style GUID table and SEV metadata of a firmware image (stage0 or OVMF).

Both stage0 and OVMF end with a table of `data ‖ u16 size ‖ GUID` entries read backwards from a
footer 0x20 bytes before the end of the image (edk2 OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm).
Two entries matter for SEV-SNP: the `ASEV` metadata (which guest pages the VMM adds to the launch
digest, and as what) and the SEV-ES reset block (where application processors start).

The parser is strict on purpose: a launch digest computed from a misread table is a wrong answer
that looks right. Every malformation is an `InputError` naming what is wrong.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from auditor.errors import InputError

PAGE_SIZE = 4096
FOUR_GIB = 1 << 32
#: The most bytes a firmware image file is read into memory with. Stage0 is 512 KiB (2 MiB for
#: TDX) and OVMF 2 to 4 MiB; QEMU maps at most 8 MiB of x86 flash. Read up to 4 GiB (what fits
#: below 4 GiB), `/dev/zero` or a disk image named by mistake took gigabytes of memory twice over
#: (an internal error where memory is limited) before being refused.
MAX_IMAGE_SIZE = 64 << 20
#: The most guest memory a firmware's metadata sections may declare in all. Every 4 KiB page of
#: it is a hash update of the measurement (about a second per GiB): a real firmware declares
#: megabytes, and a corrupt or hostile table declaring terabytes would never finish measuring.
MAX_SECTION_MEMORY = FOUR_GIB

# The table footer sits 0x20 bytes before the end of the image (ResetVectorVtf0.asm).
TABLE_END_OFFSET = 0x20
ENTRY_HEADER_SIZE = 18  # u16 size ‖ 16-byte GUID

TABLE_FOOTER_GUID = uuid.UUID("96b582de-1fb2-45f7-baea-a366c55a082d")
SEV_METADATA_GUID = uuid.UUID("dc886566-984a-4798-a75e-5585a7bf67cc")
SEV_ES_RESET_BLOCK_GUID = uuid.UUID("00f771de-1a7e-4fcb-890e-68c77e2fb44e")
SEV_HASH_TABLE_GUID = uuid.UUID("7255371f-3a3b-4b04-927b-1da6efa8d454")

SEV_METADATA_SIGNATURE = b"ASEV"
SEV_METADATA_VERSION = 1
SEV_METADATA_HEADER = struct.Struct("<4sIII")  # signature, length, version, section count
SEV_METADATA_SECTION = struct.Struct("<III")  # gpa, size, type


class SectionType(IntEnum):
    """SEV metadata section types (edk2 OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm)."""

    SNP_SEC_MEM = 1
    SNP_SECRETS = 2
    CPUID = 3
    SVSM_CAA = 4
    SNP_KERNEL_HASHES = 0x10


@dataclass(frozen=True)
class MetadataSection:
    gpa: int
    size: int
    section_type: SectionType

    @property
    def page_gpas(self) -> range:
        return range(self.gpa, self.gpa + self.size, PAGE_SIZE)

    def describe(self) -> str:
        return f"{self.section_type.name} section at GPA {self.gpa:#x} ({self.size:#x} bytes)"


@dataclass(frozen=True)
class FirmwareLayout:
    """What SNP launch measurement needs from a firmware image besides its bytes."""

    size: int
    sections: tuple[MetadataSection, ...]
    ap_reset_address: int
    hash_table_gpa: int | None  # OVMF's kernel-hashes table address, when it declares one
    hash_table_size: int | None = None  # the bytes it reserves there, when the entry says

    @property
    def gpa(self) -> int:
        # The image is mapped so that it ends at 4 GiB (the reset vector is at 0xFFFFFFF0).
        return FOUR_GIB - self.size

    def has_section(self, section_type: SectionType) -> bool:
        return any(s.section_type is section_type for s in self.sections)


def parse_firmware(image: bytes) -> FirmwareLayout:
    """Parse the GUID table, the `ASEV` metadata and the reset block of `image`."""
    _check_image_size(len(image))
    table = parse_guid_table(image)
    return FirmwareLayout(
        size=len(image),
        sections=_parse_sev_metadata(image, _entry(table, SEV_METADATA_GUID, "SEV metadata")),
        ap_reset_address=_u32_entry(table, SEV_ES_RESET_BLOCK_GUID, "SEV-ES reset block"),
        hash_table_gpa=_hash_table_gpa(table),
        hash_table_size=_hash_table_size(table),
    )


def _check_image_size(size: int) -> None:
    if size == 0 or size % PAGE_SIZE:
        raise InputError(
            f"firmware size {size} bytes is not a non-zero multiple of 4096 "
            "(SEV-SNP measures whole 4 KiB pages)"
        )
    if size > FOUR_GIB:
        raise InputError(f"firmware size {size} bytes does not fit below 4 GiB")


def parse_guid_table(image: bytes) -> dict[uuid.UUID, bytes]:
    """The footer GUID table as {GUID: entry data}, entries parsed backwards from the footer."""
    table_end = len(image) - TABLE_END_OFFSET
    if table_end < ENTRY_HEADER_SIZE:
        raise InputError("firmware image is too small to hold a GUID table footer")
    footer_guid, table_size = _entry_header(image, table_end)
    if footer_guid != TABLE_FOOTER_GUID:
        raise InputError(
            f"no GUID table footer ({TABLE_FOOTER_GUID}) at offset {table_end - 16:#x}: "
            "not an OVMF-style firmware image (stage0 or OVMF)"
        )
    if not ENTRY_HEADER_SIZE < table_size <= table_end:
        raise InputError(
            f"GUID table size {table_size} is out of range (footer at {table_end:#x}): "
            "truncated or corrupt table"
        )
    return _parse_entries(image[table_end - table_size : table_end - ENTRY_HEADER_SIZE])


def _parse_entries(content: bytes) -> dict[uuid.UUID, bytes]:
    entries: dict[uuid.UUID, bytes] = {}
    end = len(content)
    while end >= ENTRY_HEADER_SIZE:
        guid, size = _entry_header(content, end)
        if not ENTRY_HEADER_SIZE <= size <= end:
            raise InputError(
                f"GUID table entry {guid} declares size {size} but {end} bytes remain: "
                "truncated or corrupt table"
            )
        if guid in entries:
            raise InputError(f"GUID table holds entry {guid} twice")
        entries[guid] = content[end - size : end - ENTRY_HEADER_SIZE]
        end -= size
    if end:
        raise InputError(f"GUID table has {end} stray bytes before its first entry: truncated")
    return entries


def _entry_header(buffer: bytes, end: int) -> tuple[uuid.UUID, int]:
    (size,) = struct.unpack_from("<H", buffer, end - ENTRY_HEADER_SIZE)
    return uuid.UUID(bytes_le=bytes(buffer[end - 16 : end])), size


def _entry(table: Mapping[uuid.UUID, bytes], guid: uuid.UUID, name: str) -> bytes:
    try:
        return table[guid]
    except KeyError:
        raise InputError(f"firmware GUID table has no {name} entry ({guid})") from None


def _u32_entry(table: Mapping[uuid.UUID, bytes], guid: uuid.UUID, name: str) -> int:
    data = _entry(table, guid, name)
    if len(data) != 4:
        raise InputError(f"{name} entry holds {len(data)} bytes, expected a 4-byte u32")
    value: int = struct.unpack("<I", data)[0]
    return value


def _hash_table_gpa(table: Mapping[uuid.UUID, bytes]) -> int | None:
    # OVMF: `DD base ‖ DD size` of the kernel-hashes table; absent in stage0.
    data = table.get(SEV_HASH_TABLE_GUID)
    if data is None:
        return None
    if len(data) < 4:
        raise InputError(f"SEV hash table entry holds {len(data)} bytes, expected at least 4")
    gpa: int = struct.unpack_from("<I", data)[0]
    return gpa or None


def _hash_table_size(table: Mapping[uuid.UUID, bytes]) -> int | None:
    # The `DD size` after the base; QEMU refuses a table area smaller than its own table.
    data = table.get(SEV_HASH_TABLE_GUID)
    if data is None or len(data) < 8:
        return None
    size: int = struct.unpack_from("<I", data, 4)[0]
    return size


def _parse_sev_metadata(image: bytes, entry: bytes) -> tuple[MetadataSection, ...]:
    if len(entry) != 4:
        raise InputError(f"SEV metadata entry holds {len(entry)} bytes, expected a 4-byte offset")
    # The entry is the header's distance from the end of the image.
    (offset_from_end,) = struct.unpack("<I", entry)
    if not SEV_METADATA_HEADER.size <= offset_from_end <= len(image):
        raise InputError(f"SEV metadata offset {offset_from_end:#x} points outside the image")
    start = len(image) - offset_from_end
    signature, length, version, count = SEV_METADATA_HEADER.unpack_from(image, start)
    if signature != SEV_METADATA_SIGNATURE:
        raise InputError(f"SEV metadata at {start:#x} has signature {signature!r}, not b'ASEV'")
    if version != SEV_METADATA_VERSION:
        raise InputError(f"SEV metadata version {version} is unsupported (expected 1)")
    if length != SEV_METADATA_HEADER.size + count * SEV_METADATA_SECTION.size:
        raise InputError(f"SEV metadata length {length} does not match its {count} sections")
    if start + length > len(image):
        raise InputError(f"SEV metadata ({count} sections) runs past the end of the image")
    sections = tuple(
        _parse_section(image, start + SEV_METADATA_HEADER.size + i * SEV_METADATA_SECTION.size)
        for i in range(count)
    )
    check_section_memory(sum(section.size for section in sections), "SEV metadata")
    return sections


def check_section_memory(total: int, table: str) -> None:
    """Refuse a table whose sections declare more memory than MAX_SECTION_MEMORY in all."""
    if total > MAX_SECTION_MEMORY:
        raise InputError(
            f"{table} sections declare {total:#x} bytes of guest memory in all, more than "
            f"{MAX_SECTION_MEMORY:#x}: not a firmware image we can measure"
        )


def _parse_section(image: bytes, offset: int) -> MetadataSection:
    gpa, size, raw_type = SEV_METADATA_SECTION.unpack_from(image, offset)
    try:
        section_type = SectionType(raw_type)
    except ValueError:
        raise InputError(
            f"SEV metadata section at GPA {gpa:#x} has unknown type {raw_type:#x}"
        ) from None
    if gpa % PAGE_SIZE or size % PAGE_SIZE or size == 0:
        raise InputError(
            f"SEV metadata {section_type.name} section at GPA {gpa:#x} size {size:#x} "
            "is not a non-empty run of 4 KiB-aligned pages"
        )
    if section_type in (SectionType.SNP_SECRETS, SectionType.CPUID) and size != PAGE_SIZE:
        # The VMM measures exactly one such page; a larger section has no agreed measurement.
        raise InputError(
            f"SEV metadata {section_type.name} section at GPA {gpa:#x} is {size:#x} bytes, "
            "expected exactly one 4 KiB page"
        )
    return MetadataSection(gpa, size, section_type)
