"""Strict parsing of the OVMF-style GUID table and ASEV metadata: every malformation is named."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic_artifacts import (
    FOOTER_GUID,
    HASH_TABLE_GPA,
    RESET_BLOCK_GUID,
    SEV_METADATA_GUID,
    STAGE0_SECTIONS,
    FirmwareSpec,
    build_firmware,
    guid_entry,
    ovmf_spec,
)

from auditor.errors import InputError
from auditor.measure.firmware import FOUR_GIB, SectionType, parse_firmware

SIZE = 512 * 1024
FOOTER_END = SIZE - 0x20  # the table's footer entry ends here


def test_parses_sections_reset_block_and_hash_table() -> None:
    layout = parse_firmware(build_firmware(ovmf_spec(size=SIZE)))
    assert [(s.gpa, s.size, int(s.section_type)) for s in layout.sections] == [
        *STAGE0_SECTIONS,
        (0x0080_D000, 0x1000, 0x10),
    ]
    assert layout.ap_reset_address == 0xFFFF_F3F4
    assert layout.hash_table_gpa == HASH_TABLE_GPA
    assert layout.gpa == FOUR_GIB - SIZE
    assert layout.has_section(SectionType.SNP_KERNEL_HASHES)


def test_stage0_has_no_hash_table() -> None:
    assert parse_firmware(build_firmware()).hash_table_gpa is None


def patched(image: bytes, offset: int, data: bytes) -> bytes:
    return image[:offset] + data + image[offset + len(data) :]


@pytest.mark.parametrize("size", [0, 4095, SIZE + 1, SIZE - 512])
def test_unaligned_size(size: int) -> None:
    image = build_firmware()[:size] if size <= SIZE else build_firmware() + b"\0"
    with pytest.raises(InputError, match="not a non-zero multiple of 4096"):
        parse_firmware(image)


def test_no_footer_table() -> None:
    with pytest.raises(InputError, match=r"no GUID table footer \(96b582de-"):
        parse_firmware(bytes(SIZE))


def test_footer_declares_more_than_the_image() -> None:
    small = 4 * 4096
    image = patched(build_firmware(FirmwareSpec(size=small)), small - 0x20 - 18, b"\xff\xff")
    with pytest.raises(InputError, match="GUID table size 65535 is out of range"):
        parse_firmware(image)


def test_entry_larger_than_the_table_is_truncation() -> None:
    # Grow the last entry's size field beyond what precedes it in the table.
    last_entry_end = FOOTER_END - 18
    image = patched(build_firmware(), last_entry_end - 18, struct.pack("<H", 0x7000))
    with pytest.raises(InputError, match=r"declares size 28672 .* truncated"):
        parse_firmware(image)


def test_table_with_stray_bytes_is_truncation() -> None:
    image = build_firmware()
    (table_size,) = struct.unpack_from("<H", image, FOOTER_END - 18)
    image = patched(image, FOOTER_END - 18, struct.pack("<H", table_size + 5))
    with pytest.raises(InputError, match="5 stray bytes"):
        parse_firmware(image)


def test_entry_smaller_than_its_header() -> None:
    image = patched(build_firmware(), FOOTER_END - 36, struct.pack("<H", 3))
    with pytest.raises(InputError, match="declares size 3"):
        parse_firmware(image)


def test_duplicate_entry() -> None:
    spec = FirmwareSpec(extra_entries=[(RESET_BLOCK_GUID, struct.pack("<I", 0xFFFF0000))])
    with pytest.raises(InputError, match="twice"):
        parse_firmware(build_firmware(spec))


def test_missing_metadata() -> None:
    with pytest.raises(InputError, match="no SEV metadata entry"):
        parse_firmware(build_firmware(FirmwareSpec(with_metadata=False)))


def test_missing_reset_block() -> None:
    with pytest.raises(InputError, match="no SEV-ES reset block entry"):
        parse_firmware(build_firmware(FirmwareSpec(ap_reset_address=None)))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ((0x80_0000, 0x1000, 7), "unknown type 0x7"),
        ((0x80_0800, 0x1000, 1), "not a non-empty run of 4 KiB-aligned pages"),
        ((0x80_0000, 0x1800, 1), "not a non-empty run of 4 KiB-aligned pages"),
        ((0x80_0000, 0, 1), "not a non-empty run"),
        ((0x80_0000, 0x2000, 2), "expected exactly one 4 KiB page"),
    ],
)
def test_bad_section(section: tuple[int, int, int], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_firmware(build_firmware(FirmwareSpec(sections=(*STAGE0_SECTIONS, section))))


def test_bad_metadata_version() -> None:
    with pytest.raises(InputError, match="version 2 is unsupported"):
        parse_firmware(build_firmware(FirmwareSpec(metadata_version=2)))


def test_bad_metadata_signature() -> None:
    image = patched(build_firmware(), SIZE - 0x1000, b"XSEV")
    with pytest.raises(InputError, match="signature b'XSEV'"):
        parse_firmware(image)


def test_metadata_length_disagrees_with_count() -> None:
    image = patched(build_firmware(), SIZE - 0x1000 + 12, struct.pack("<I", 9))
    with pytest.raises(InputError, match="does not match its 9 sections"):
        parse_firmware(image)


def test_metadata_offset_outside_image() -> None:
    spec = FirmwareSpec(with_metadata=False)
    spec.extra_entries = [(SEV_METADATA_GUID, struct.pack("<I", SIZE + 4096))]
    with pytest.raises(InputError, match="points outside the image"):
        parse_firmware(build_firmware(spec))


def test_footer_guid_is_checked_byte_order() -> None:
    # The GUID is stored in mixed-endian (bytes_le) form; the big-endian form is not a footer.
    image = patched(build_firmware(), FOOTER_END - 16, FOOTER_GUID.bytes)
    with pytest.raises(InputError, match="no GUID table footer"):
        parse_firmware(image)
    assert guid_entry(FOOTER_GUID, b"")[-16:] == FOOTER_GUID.bytes_le


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0x300), st.integers(0, 255)), min_size=1, max_size=6))
def test_corrupt_table_region_is_input_error_or_parses(flips: list[tuple[int, int]]) -> None:
    # Byte damage in the table or the metadata must never escape as another exception type.
    image = bytearray(build_firmware(FirmwareSpec(size=8 * 4096)))
    for distance, value in flips:
        if distance < 0x200:  # in or before the GUID table
            image[len(image) - 0x20 - 1 - distance] = value
        else:  # in the ASEV metadata block
            image[len(image) - 0x1000 + distance - 0x200] = value
    try:
        layout = parse_firmware(bytes(image))
    except InputError as error:
        assert str(error)
    else:
        assert layout.size == len(image)
