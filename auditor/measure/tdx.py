"""stage0 on Intel TDX: the ROM's TDVF metadata and MRTD, as Oak's `tdx_measurement` computes it.

A TDX VMM builds a TD's initial memory from the firmware's TDVF metadata (TDX Virtual Firmware
Design Guide, ch. 11): an entry of the OVMF-style GUID table points at a `TDVF` descriptor
followed by 32-byte sections (raw data offset and size in the ROM, guest memory address and
size, type, attributes). The TDX module measures every step into MRTD, a SHA-384 over 128-byte
extension buffers (Intel TDX Module ABI 1.5): TDH.MEM.PAGE.ADD adds one buffer per 4 KiB page,
TDH.MR.EXTEND three per 256-byte chunk. Oak publishes its TDX stage0's MRTD in
`FirmwareAttachment.tdx_measurement`, computed by `tdx_measurement/src/measure.rs`; this module
reproduces that computation exactly:

- the ROM is exactly 2 MiB;
- the sections are taken in table order; for each, MEM.PAGE.ADD of every page of
  `MemoryAddress .. +MemoryDataSize` (whatever the type), then, only when the MR.EXTEND
  attribute is set, MR.EXTEND of `RawDataSize` bytes in 256-byte chunks at `MemoryAddress + k`.

Oak's code departs in three places from what the TDVF guide and Linux KVM describe. The module
follows Oak in each and says so (`TdxMeasurement.notes` for the two that depend on the ROM):

1. the chunk extended at `MemoryAddress + k` is read at ROM offset `k`, not `DataOffset + k`;
2. `RawDataSize` bytes are extended, not every page of the section;
3. the order: all of a section's pages are added before its chunks are extended, where KVM
   (arch/x86/kvm/vmx/tdx.c, tdx_gmem_post_populate) adds and extends page by page. The ABI fixes
   the buffers, not the order, which is the VMM's choice.

For Oak's stage0 (BFV at ROM offset 0, raw data = memory = the whole ROM) 1 and 2 do not apply.

The parser is strict: a table a VMM would refuse, or on which Oak's code would panic or read
bytes outside the section, is an `InputError` naming the section, never an MRTD.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from itertools import pairwise
from pathlib import Path

from auditor.errors import InputError
from auditor.measure.artifact import read_artifact
from auditor.measure.firmware import PAGE_SIZE, check_section_memory, parse_guid_table
from auditor.measure.interface import JsonValue

# measure.rs: `assert_eq!(stage0_bin.len(), TDX_STAGE0_ROM_SIZE)`.
TDX_ROM_SIZE = 2 * 1024 * 1024
MRTD_SIZE = 48

# edk2 OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm: the GUID-table entry holding the TDVF
# descriptor's distance from the end of the image.
TDX_METADATA_OFFSET_GUID = uuid.UUID("e47a6535-984a-4798-865e-4685a7bf8ec2")

# TDVF Design Guide, Table 11-1 TDVF_DESCRIPTOR and Table 11-2 TDVF_SECTION.
TDVF_SIGNATURE = b"TDVF"
TDVF_VERSION = 1
TDVF_DESCRIPTOR = struct.Struct("<4sIII")  # signature, length, version, number of sections
TDVF_SECTION = struct.Struct("<IIQQII")  # data offset, raw size, memory address, size, type, attrs

# TDX Module ABI 1.5, TDH.MEM.PAGE.ADD and TDH.MR.EXTEND: a 128-byte extension buffer holds the
# ASCII operation name from byte 0, the GPA little-endian at bytes 16..24, zeros elsewhere.
_EXTENSION_BUFFER = struct.Struct("<16sQ104x")
MR_EXTEND_CHUNK = 256
# The widest guest physical address a TD can have (GPAW 52).
MAX_GPA = 1 << 52


class TdvfSectionType(IntEnum):
    """The section types a VMM accepts (QEMU hw/i386/tdvf.c; TDVF Design Guide §11.2)."""

    BFV = 0  # boot firmware volume: the code, raw data in the ROM
    CFV = 1  # configuration firmware volume: raw data in the ROM
    TD_HOB = 2  # the hand-off block the VMM fills in
    TEMP_MEM = 3  # stack, heap, mailbox: private memory with no raw data


class TdvfAttributes(IntFlag):
    MR_EXTEND = 0x1  # the VMM also measures the section's content (TDH.MR.EXTEND)
    PAGE_AUG = 0x2  # the guest accepts the pages itself: never TDH.MEM.PAGE.ADD


_KNOWN_ATTRIBUTES = int(TdvfAttributes.MR_EXTEND | TdvfAttributes.PAGE_AUG)


@dataclass(frozen=True)
class TdvfSection:
    index: int  # position in the table, which is also the measurement order
    section_type: TdvfSectionType
    data_offset: int
    raw_data_size: int
    memory_address: int
    memory_size: int
    attributes: TdvfAttributes

    @property
    def extended(self) -> bool:
        return TdvfAttributes.MR_EXTEND in self.attributes

    @property
    def memory_end(self) -> int:
        return self.memory_address + self.memory_size

    @property
    def page_gpas(self) -> range:
        return range(self.memory_address, self.memory_end, PAGE_SIZE)

    @property
    def extended_bytes(self) -> int:
        return self.raw_data_size if self.extended else 0

    def describe(self) -> str:
        return (
            f"TDVF section {self.index} ({self.section_type.name} at GPA "
            f"{self.memory_address:#x}, {self.memory_size:#x} bytes)"
        )

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "type": self.section_type.name,
            "gpa": f"{self.memory_address:#x}",
            "memory_size": f"{self.memory_size:#x}",
            "data_offset": f"{self.data_offset:#x}",
            "raw_data_size": f"{self.raw_data_size:#x}",
            "mr_extend": self.extended,
            "pages_added": len(self.page_gpas),
            "chunks_extended": self.extended_bytes // MR_EXTEND_CHUNK,
        }


@dataclass(frozen=True)
class TdxMeasurement:
    sha256: bytes  # of the ROM (FirmwareAttachment.binary)
    mrtd: bytes  # SHA-384, 48 bytes (FirmwareAttachment.tdx_measurement)
    sections: tuple[TdvfSection, ...]
    #: Where Oak's value for this ROM is not what the TDVF layout implies (see the module doc).
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "sha256": self.sha256.hex(),
            "tdx": {
                "mrtd": self.mrtd.hex(),
                "sections": [section.to_json() for section in self.sections],
                "notes": list(self.notes),
            },
        }


def measure_tdx_file(path: Path) -> TdxMeasurement:
    return measure_tdx(read_artifact(path, "stage0 ROM", TDX_ROM_SIZE))


def measure_tdx(rom: bytes) -> TdxMeasurement:
    sections = parse_tdvf_metadata(rom)
    return TdxMeasurement(
        sha256=hashlib.sha256(rom).digest(),
        mrtd=_mrtd(rom, sections),
        sections=sections,
        notes=tuple(note for section in sections for note in _oak_departures(section)),
    )


def _mrtd(rom: bytes, sections: Sequence[TdvfSection]) -> bytes:
    """MRTD after adding (and extending) `sections` in order, as measure.rs does."""
    mrtd = hashlib.sha384()
    view = memoryview(rom)
    for section in sections:
        for gpa in section.page_gpas:
            mrtd.update(_extension_buffer(b"MEM.PAGE.ADD", gpa))
        # Oak: the section's chunks are extended once all its pages are added (measure.rs
        # measure_section); KVM interleaves page by page.
        for offset in range(0, section.extended_bytes, MR_EXTEND_CHUNK):
            mrtd.update(_extension_buffer(b"MR.EXTEND", section.memory_address + offset))
            # The chunk's two 128-byte content buffers, back to back. Oak reads it at ROM
            # offset `offset`, not at the section's DataOffset + offset.
            mrtd.update(view[offset : offset + MR_EXTEND_CHUNK])
    return mrtd.digest()


def _extension_buffer(operation: bytes, gpa: int) -> bytes:
    return _EXTENSION_BUFFER.pack(operation, gpa)


def _oak_departures(section: TdvfSection) -> list[str]:
    if not section.extended:
        return []
    notes = []
    if section.data_offset:
        notes.append(
            f"{section.describe()}: Oak extends ROM bytes 0x0..{section.raw_data_size:#x}, "
            f"not the section's data at {section.data_offset:#x}: a VMM that copies "
            "DataOffset..+RawDataSize to the GPA (TDVF Design Guide §11) measures other bytes"
        )
    if section.raw_data_size < section.memory_size:
        notes.append(
            f"{section.describe()}: Oak extends only the {section.raw_data_size:#x} bytes of "
            "raw data; a VMM that extends every page of the section (Linux KVM) measures more"
        )
    return notes


def parse_tdvf_metadata(rom: bytes) -> tuple[TdvfSection, ...]:
    """The TDVF sections of a 2 MiB stage0 ROM, checked one by one and against each other."""
    if len(rom) != TDX_ROM_SIZE:
        raise InputError(
            f"stage0 ROM is {len(rom)} bytes: Oak's tdx_measurement measures a 2 MiB "
            f"({TDX_ROM_SIZE} bytes) TDX stage0"
        )
    start, count = _descriptor(rom, _metadata_offset(rom))
    sections = tuple(
        _section(rom, i, start + TDVF_DESCRIPTOR.size + i * TDVF_SECTION.size) for i in range(count)
    )
    _check_table(sections)
    check_section_memory(sum(section.memory_size for section in sections), "TDVF metadata")
    return sections


def _metadata_offset(rom: bytes) -> int:
    data = parse_guid_table(rom).get(TDX_METADATA_OFFSET_GUID)
    if data is None:
        raise InputError(
            f"no TDVF metadata: the firmware GUID table has no TDX metadata offset entry "
            f"({TDX_METADATA_OFFSET_GUID}): not a TDX stage0"
        )
    if len(data) != 4:
        raise InputError(f"TDX metadata offset entry holds {len(data)} bytes, expected a u32")
    # The entry is the descriptor's distance from the end of the image (it ends at 4 GiB).
    offset_from_end: int = struct.unpack("<I", data)[0]
    if not TDVF_DESCRIPTOR.size <= offset_from_end <= len(rom):
        raise InputError(f"TDX metadata offset {offset_from_end:#x} points outside the ROM")
    return len(rom) - offset_from_end


def _descriptor(rom: bytes, start: int) -> tuple[int, int]:
    signature, length, version, count = TDVF_DESCRIPTOR.unpack_from(rom, start)
    if signature != TDVF_SIGNATURE:
        raise InputError(f"TDVF descriptor at {start:#x} has signature {signature!r}, not b'TDVF'")
    if version != TDVF_VERSION:
        raise InputError(f"TDVF descriptor at {start:#x} has version {version}, expected 1")
    if count == 0:
        raise InputError(f"TDVF descriptor at {start:#x} declares no sections")
    if length != TDVF_DESCRIPTOR.size + count * TDVF_SECTION.size:
        raise InputError(
            f"TDVF descriptor at {start:#x} has length {length:#x}, which does not match its "
            f"{count} sections of 32 bytes"
        )
    if start + length > len(rom):
        raise InputError(
            f"TDVF descriptor at {start:#x} ({count} sections) runs past the end of the ROM: "
            "truncated table"
        )
    return start, count


def _section(rom: bytes, index: int, offset: int) -> TdvfSection:
    data_offset, raw_size, address, size, raw_type, raw_attributes = TDVF_SECTION.unpack_from(
        rom, offset
    )
    where = f"TDVF section {index} (at ROM offset {offset:#x})"
    try:
        section_type = TdvfSectionType(raw_type)
    except ValueError:
        raise InputError(
            f"{where} has type {raw_type}, not one a VMM accepts (BFV, CFV, TD_HOB, TEMP_MEM)"
        ) from None
    if raw_attributes & ~_KNOWN_ATTRIBUTES:
        raise InputError(f"{where} has unknown attribute bits {raw_attributes:#x}")
    section = TdvfSection(
        index, section_type, data_offset, raw_size, address, size, TdvfAttributes(raw_attributes)
    )
    _check_memory(section)
    _check_raw_data(section, len(rom))
    return section


def _check_memory(section: TdvfSection) -> None:
    if section.memory_address % PAGE_SIZE or section.memory_size % PAGE_SIZE:
        raise InputError(f"{section.describe()} is not a run of 4 KiB-aligned pages")
    if section.memory_size == 0:
        raise InputError(f"{section.describe()} is empty")
    if section.memory_end > MAX_GPA:
        raise InputError(f"{section.describe()} ends beyond the 52-bit guest physical space")
    if TdvfAttributes.PAGE_AUG in section.attributes:
        # Oak adds every page with MEM.PAGE.ADD; a VMM leaves these pages to the guest, so
        # they are in no TD's MRTD: there is no agreed value to compute.
        raise InputError(f"{section.describe()} has the PAGE_AUG attribute, which Oak ignores")
    if section.section_type is TdvfSectionType.BFV and not section.extended:
        raise InputError(
            f"{section.describe()} lacks the MR.EXTEND attribute: the firmware's code would "
            "not be in MRTD"
        )


def _check_raw_data(section: TdvfSection, rom_size: int) -> None:
    if section.section_type in (TdvfSectionType.TD_HOB, TdvfSectionType.TEMP_MEM):
        if section.data_offset or section.raw_data_size:
            raise InputError(f"{section.describe()} declares raw data; this type has none")
        return
    if section.raw_data_size == 0:
        raise InputError(f"{section.describe()} declares no raw data")
    if section.data_offset + section.raw_data_size > rom_size:
        raise InputError(
            f"{section.describe()}: raw data {section.data_offset:#x}+"
            f"{section.raw_data_size:#x} runs past the end of the ROM ({rom_size:#x} bytes)"
        )
    if section.raw_data_size > section.memory_size:
        raise InputError(
            f"{section.describe()}: raw data ({section.raw_data_size:#x} bytes) does not fit "
            "in the section's memory"
        )
    if section.extended and section.raw_data_size % MR_EXTEND_CHUNK:
        # Oak extends whole 256-byte chunks: the last would run past the section's data.
        raise InputError(
            f"{section.describe()}: raw data size {section.raw_data_size:#x} is not a "
            "multiple of the 256-byte MR.EXTEND chunk"
        )


def _check_table(sections: Sequence[TdvfSection]) -> None:
    types = [section.section_type for section in sections]
    if TdvfSectionType.BFV not in types:
        raise InputError("TDVF metadata has no BFV section: MRTD would not cover the firmware")
    if types.count(TdvfSectionType.TD_HOB) > 1:
        raise InputError("TDVF metadata has more than one TD_HOB section")
    by_address = sorted(sections, key=lambda section: section.memory_address)
    for lower, upper in pairwise(by_address):
        if upper.memory_address < lower.memory_end:
            # TDH.MEM.PAGE.ADD fails on a page that is already mapped.
            raise InputError(f"{lower.describe()} and {upper.describe()} overlap in guest memory")


@dataclass(frozen=True)
class MrtdCheck:
    """Does an expected MRTD equal an observed one? `ok` None: nothing to compare."""

    ok: bool | None
    detail: str
    name: str = "tdx_mrtd"

    def to_json(self) -> dict[str, JsonValue]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def compare_mrtd(expected_hex: str, observed: bytes, observed_from: str = "the ROM") -> MrtdCheck:
    """Compare an endorsed MRTD (FirmwareAttachment.tdx_measurement, hex) with one computed
    from a ROM or read from a TD quote (`observed_from` says which, for the detail).

    A malformed expected value is an `InputError`; a mismatch is a check with ok False.
    """
    expected = _mrtd_from_hex(expected_hex)
    if len(observed) != MRTD_SIZE:
        raise InputError(f"MRTD from {observed_from} is {len(observed)} bytes, expected 48")
    if not any(observed):
        return MrtdCheck(
            None,
            f"the MRTD from {observed_from} is all zeros (fake or test hardware): "
            "nothing to compare",
        )
    if observed == expected:
        return MrtdCheck(True, f"the MRTD from {observed_from} equals the endorsed TDX measurement")
    return MrtdCheck(
        False,
        f"the MRTD from {observed_from} ({observed.hex()}) differs from the endorsed TDX "
        f"measurement ({expected.hex()})",
    )


def _mrtd_from_hex(text: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != MRTD_SIZE or len(text) != 2 * MRTD_SIZE:
        raise InputError(f"endorsed TDX measurement {text[:120]!r} is not 48 bytes of hex")
    return value


# Intel TDX DCAP Quoting Library API, appendix A.3 (TD quote version 4, the one Oak's
# oak_tdx_quote reads): a 48-byte header, then the 584-byte TD quote body whose MRTD follows
# TEE_TCB_SVN (16), MRSEAM (48), MRSIGNERSEAM (48), SEAMATTRIBUTES, TDATTRIBUTES and XFAM (8 each).
QUOTE_HEADER = struct.Struct("<HHI")  # version, attestation key type, TEE type
QUOTE_HEADER_SIZE = 48
QUOTE_BODY_SIZE = 584
QUOTE_MRTD_OFFSET = QUOTE_HEADER_SIZE + 136
TDX_QUOTE_VERSION = 4
TDX_TEE_TYPE = 0x81


def quote_mrtd(quote: bytes) -> bytes:
    """The MRTD of a TD quote (version 4), e.g. Oak's `remote_attestation_report` on TDX."""
    if len(quote) < QUOTE_HEADER_SIZE + QUOTE_BODY_SIZE:
        raise InputError(
            f"TDX quote is {len(quote)} bytes, too short for a header and TD quote body "
            f"({QUOTE_HEADER_SIZE + QUOTE_BODY_SIZE} bytes)"
        )
    version, _key_type, tee_type = QUOTE_HEADER.unpack_from(quote)
    if version != TDX_QUOTE_VERSION:
        raise InputError(f"TDX quote version {version} is not read (only version 4, as Oak)")
    if tee_type != TDX_TEE_TYPE:
        raise InputError(f"quote TEE type {tee_type:#x} is not TDX (0x81)")
    return quote[QUOTE_MRTD_OFFSET : QUOTE_MRTD_OFFSET + MRTD_SIZE]
