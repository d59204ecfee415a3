"""Honest synthetic boot artifacts, built field by field from the published formats.

- Firmware images follow edk2's OvmfPkg/ResetVector layout: a GUID table ending 0x20 bytes
  before the end (`data ‖ u16 size ‖ GUID` entries, footer GUID 96b582de-…), an `ASEV` metadata
  block, an SEV-ES reset block entry and, for OVMF, the kernel-hashes table entry.
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
    table = b"".join(guid_entry(guid, data) for guid, data in entries)
    table += struct.pack("<H", len(table) + 18) + FOOTER_GUID.bytes_le  # the footer
    end = spec.size - 0x20
    image[end - len(table) : end] = table
    return bytes(image)


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
    setup_sects: int = 27, kernel_size: int = 300_000, seed: int = 3, magic: bytes = b"HdrS"
) -> bytes:
    """A bzImage whose boot header carries real field values at their protocol offsets."""
    sects = setup_sects or 4
    rng = random.Random(seed)
    setup = bytearray(rng.randbytes(512 * (sects + 1)))
    setup[0x1F1] = setup_sects
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)  # boot_flag
    setup[0x202:0x206] = magic  # header signature
    struct.pack_into("<H", setup, 0x206, 0x020F)  # boot protocol 2.15
    setup[0x210] = 0x00  # type_of_loader: filled in by the boot loader
    setup[0x211] = 0x01  # loadflags: LOADED_HIGH
    struct.pack_into("<II", setup, 0x218, 0, 0)  # ramdisk_image, ramdisk_size
    struct.pack_into("<H", setup, 0x224, 0)  # heap_end_ptr
    struct.pack_into("<I", setup, 0x228, 0)  # cmd_line_ptr
    return bytes(setup) + rng.randbytes(kernel_size)
