"""Honest synthetic boot artifacts, built field by field from the published formats.

- Firmware images follow edk2's OvmfPkg/ResetVector layout: a GUID table ending 0x20 bytes
  before the end (`data ‖ u16 size ‖ GUID` entries, footer GUID 96b582de-…), an `ASEV` metadata
  block, an SEV-ES reset block entry and, for OVMF, the kernel-hashes table entry.
- TDX (TDVF) images follow the TDX Virtual Firmware Design Guide, ch. 11, as edk2's
  OvmfPkg/ResetVector/X64/IntelTdxMetadata.asm and Oak's stage0_bin_tdx/layout.ld lay it out:
  the metadata GUID, the `TDVF` descriptor and its 32-byte sections, found through the GUID
  table entry e47a6535-… holding the descriptor's distance from the end of the image.
- bzImages follow the Linux x86 boot protocol (Documentation/arch/x86/boot.rst): `setup_sects`
  at 0x1F1, boot flag 0xAA55 at 0x1FE, `HdrS` at 0x202, protocol version at 0x206.
"""

from __future__ import annotations

import random
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

FOOTER_GUID = uuid.UUID("96b582de-1fb2-45f7-baea-a366c55a082d")
SEV_METADATA_GUID = uuid.UUID("dc886566-984a-4798-a75e-5585a7bf67cc")
RESET_BLOCK_GUID = uuid.UUID("00f771de-1a7e-4fcb-890e-68c77e2fb44e")
HASH_TABLE_GUID = uuid.UUID("7255371f-3a3b-4b04-927b-1da6efa8d454")

SEC_MEM, SECRETS, CPUID, SVSM_CAA, KERNEL_HASHES = 1, 2, 3, 4, 0x10

STAGE0_SECTIONS: tuple[tuple[int, int, int], ...] = (
    (0x0080_0000, 0x9000, SEC_MEM),
    (0x0080_9000, 0x1000, SECRETS),
    (0x0080_A000, 0x1000, CPUID),
    (0x0080_B000, 0x2000, SEC_MEM),
)
KERNEL_HASHES_SECTION = (0x0080_D000, 0x1000, KERNEL_HASHES)
HASH_TABLE_GPA = 0x0080_DC00  # inside the kernel-hashes page, not page-aligned, like OVMF's


@dataclass
class FirmwareSpec:
    size: int = 512 * 1024
    sections: Sequence[tuple[int, int, int]] = STAGE0_SECTIONS
    ap_reset_address: int | None = 0xFFFF_F3F4
    hash_table_gpa: int | None = None
    with_metadata: bool = True
    metadata_version: int = 1
    seed: int = 1
    extra_entries: list[tuple[uuid.UUID, bytes]] = field(default_factory=list)


def guid_entry(guid: uuid.UUID, data: bytes) -> bytes:
    return data + struct.pack("<H", len(data) + 18) + guid.bytes_le


def build_firmware(spec: FirmwareSpec | None = None) -> bytes:
    spec = spec or FirmwareSpec()
    image = bytearray(random.Random(spec.seed).randbytes(spec.size))
    entries = list(spec.extra_entries)
    if spec.with_metadata:
        metadata = struct.pack(
            "<4sIII",
            b"ASEV",
            16 + 12 * len(spec.sections),
            spec.metadata_version,
            len(spec.sections),
        )
        metadata += b"".join(struct.pack("<III", *section) for section in spec.sections)
        start = spec.size - 0x1000  # a page below the end, clear of the table
        image[start : start + len(metadata)] = metadata
        entries.append((SEV_METADATA_GUID, struct.pack("<I", spec.size - start)))
    if spec.ap_reset_address is not None:
        entries.append((RESET_BLOCK_GUID, struct.pack("<I", spec.ap_reset_address)))
    if spec.hash_table_gpa is not None:
        entries.append((HASH_TABLE_GUID, struct.pack("<II", spec.hash_table_gpa, 0x400)))
    write_guid_table(image, entries)
    return bytes(image)


def write_guid_table(image: bytearray, entries: Sequence[tuple[uuid.UUID, bytes]]) -> None:
    """The entries and the footer, ending 0x20 bytes before the end of `image`."""
    table = b"".join(guid_entry(guid, data) for guid, data in entries)
    table += struct.pack("<H", len(table) + 18) + FOOTER_GUID.bytes_le  # the footer
    end = len(image) - 0x20
    image[end - len(table) : end] = table


def ovmf_spec(**changes: object) -> FirmwareSpec:
    """An OVMF-like image: 1 MiB, with a kernel-hashes section and its table entry."""
    spec = FirmwareSpec(
        size=1024 * 1024,
        sections=(*STAGE0_SECTIONS, KERNEL_HASHES_SECTION),
        hash_table_gpa=HASH_TABLE_GPA,
        seed=2,
    )
    for name, value in changes.items():
        setattr(spec, name, value)
    return spec


def build_bzimage(
    setup_sects: int = 27,
    kernel_size: int = 300_000,
    seed: int = 3,
    magic: bytes = b"HdrS",
    protocol: int = 0x020F,
) -> bytes:
    """A bzImage whose boot header carries real field values at their protocol offsets.

    The protected-mode part is padded to whole 16-byte paragraphs and `syssize` counts them,
    as the kernel build writes it (arch/x86/boot/tools/build.c, header.S)."""
    sects = setup_sects or 4
    rng = random.Random(seed)
    setup = bytearray(rng.randbytes(512 * (sects + 1)))
    kernel = rng.randbytes(kernel_size) + bytes(-kernel_size % 16)
    setup[0x1F1] = setup_sects
    struct.pack_into("<I", setup, 0x1F4, len(kernel) // 16)  # syssize, in paragraphs
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)  # boot_flag
    setup[0x202:0x206] = magic  # header signature
    struct.pack_into("<H", setup, 0x206, protocol)  # boot protocol, 2.15 by default
    setup[0x210] = 0x00  # type_of_loader: filled in by the boot loader
    setup[0x211] = 0x01  # loadflags: LOADED_HIGH
    struct.pack_into("<II", setup, 0x218, 0, 0)  # ramdisk_image, ramdisk_size
    struct.pack_into("<H", setup, 0x224, 0)  # heap_end_ptr
    struct.pack_into("<I", setup, 0x228, 0)  # cmd_line_ptr
    return bytes(setup) + kernel


TDX_METADATA_OFFSET_GUID = uuid.UUID("e47a6535-984a-4798-865e-4685a7bf8ec2")
# The GUID edk2 and Oak place just before the descriptor (not read by VMMs or by Oak).
TDVF_METADATA_GUID = uuid.UUID("e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae")
TDX_ROM_SIZE = 2 * 1024 * 1024
TDX_ROM_GPA = (1 << 32) - TDX_ROM_SIZE
BFV, CFV, TD_HOB, TEMP_MEM, PERM_MEM = 0, 1, 2, 3, 4
MR_EXTEND, PAGE_AUG = 0x1, 0x2


@dataclass(frozen=True)
class TdvfSection:
    """One TDVF_SECTION (Table 11-2), field by field."""

    data_offset: int
    raw_data_size: int
    memory_address: int
    memory_size: int
    section_type: int
    attributes: int

    def pack(self) -> bytes:
        return struct.pack(
            "<IIQQII",
            self.data_offset,
            self.raw_data_size,
            self.memory_address,
            self.memory_size,
            self.section_type,
            self.attributes,
        )


# Oak's stage0_bin_tdx/layout.ld, in its table order: TD_HOB, the AP mailbox (TempMem), the BFV
# (the whole ROM, extended) and ram_low (TempMem, 640 KiB).
OAK_STAGE0_TDX_SECTIONS = (
    TdvfSection(0, 0, 0x0010_0000, 0x2000, TD_HOB, 0),
    TdvfSection(0, 0, 0x0010_2000, 0x1000, TEMP_MEM, 0),
    TdvfSection(0, TDX_ROM_SIZE, TDX_ROM_GPA, TDX_ROM_SIZE, BFV, MR_EXTEND),
    TdvfSection(0, 0, 0, 0xA_0000, TEMP_MEM, 0),
)

# edk2's TDVF shape (IntelTdxMetadata.asm) in a 2 MiB ROM: the CFV (variable store) at the start
# of the ROM, the BFV (code, ending in the reset vector) after it; only the BFV is extended. The
# temporary stack and heap are TempMem; the TD_HOB has no raw data.
TDVF_CFV_SIZE = 0x4_0000
TDVF_SECTIONS = (
    TdvfSection(
        TDVF_CFV_SIZE,
        TDX_ROM_SIZE - TDVF_CFV_SIZE,
        TDX_ROM_GPA + TDVF_CFV_SIZE,
        TDX_ROM_SIZE - TDVF_CFV_SIZE,
        BFV,
        MR_EXTEND,
    ),
    TdvfSection(0, TDVF_CFV_SIZE, TDX_ROM_GPA, TDVF_CFV_SIZE, CFV, 0),
    TdvfSection(0, 0, 0x0081_0000, 0x1_0000, TEMP_MEM, 0),  # TempStack
    TdvfSection(0, 0, 0x0080_0000, 0x6000, TEMP_MEM, 0),  # TempMem (heap)
    TdvfSection(0, 0, 0x0080_9000, 0x2000, TD_HOB, 0),
)


@dataclass
class TdvfSpec:
    sections: Sequence[TdvfSection] = OAK_STAGE0_TDX_SECTIONS
    size: int = TDX_ROM_SIZE
    signature: bytes = b"TDVF"
    version: int = 1
    section_count: int | None = None  # None: len(sections)
    length: int | None = None  # None: 16 + 32 * section_count
    metadata_offset: int | None = None  # the GUID entry's value; None: the descriptor's
    with_offset_entry: bool = True
    extra_entries: list[tuple[uuid.UUID, bytes]] = field(default_factory=list)
    seed: int = 11


def build_tdvf(spec: TdvfSpec | None = None) -> bytes:
    spec = spec or TdvfSpec()
    image = bytearray(random.Random(spec.seed).randbytes(spec.size))
    count = len(spec.sections) if spec.section_count is None else spec.section_count
    length = 16 + 32 * count if spec.length is None else spec.length
    block = TDVF_METADATA_GUID.bytes_le
    block += struct.pack("<4sIII", spec.signature, length, spec.version, count)
    block += b"".join(section.pack() for section in spec.sections)
    start = spec.size - 0x1000  # a page below the end, clear of the GUID table
    image[start : start + len(block)] = block
    entries = list(spec.extra_entries)
    if spec.with_offset_entry:
        descriptor_from_end = spec.size - (start + 16)
        offset = descriptor_from_end if spec.metadata_offset is None else spec.metadata_offset
        entries.append((TDX_METADATA_OFFSET_GUID, struct.pack("<I", offset)))
    write_guid_table(image, entries)
    return bytes(image)


def build_td_quote(mrtd: bytes, version: int = 4, tee_type: int = 0x81) -> bytes:
    """A TD quote laid out field by field (Intel TDX DCAP Quoting Library API, A.3)."""
    header = struct.pack("<HHI", version, 2, tee_type)  # version, ECDSA-P256 key, TEE type
    header += bytes(4) + bytes.fromhex("939a7233f79c4ca9940a0db3957f0607") + bytes(20)
    body = bytes(16) + b"\x11" * 48 + b"\x22" * 48  # TEE_TCB_SVN, MRSEAM, MRSIGNERSEAM
    body += struct.pack("<QQQ", 0, 0x10000000, 0xE7)  # SEAMATTRIBUTES, TDATTRIBUTES, XFAM
    body += mrtd + b"\x33" * 48 * 3  # MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG
    body += b"\x44" * 48 * 4 + b"\x55" * 64  # RTMR0..3, REPORTDATA
    assert (len(header), len(body)) == (48, 584)
    return header + body + struct.pack("<I", 0)  # an empty signature data block
