"""TDX MRTD of synthetic TDVF ROMs, against a literal transcription of the TDX ABI in this test.

The oracle below never calls the module: it writes the extension buffers byte by byte as the
Intel TDX Module ABI 1.5 describes them (TDH.MEM.PAGE.ADD §5.3.20, TDH.MR.EXTEND §5.3.44), walks
the sections the test itself laid into the ROM (not the module's parse of them), and hashes the
concatenation with SHA-384, as the TDX module does until TDH.MR.FINALIZE.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from collections.abc import Sequence
from pathlib import Path

import pytest
from synthetic_artifacts import (
    CFV,
    MR_EXTEND,
    OAK_STAGE0_TDX_SECTIONS,
    PAGE_AUG,
    PERM_MEM,
    RESET_BLOCK_GUID,
    TD_HOB,
    TDVF_SECTIONS,
    TDX_METADATA_OFFSET_GUID,
    TDX_ROM_GPA,
    TDX_ROM_SIZE,
    TEMP_MEM,
    FirmwareSpec,
    TdvfSection,
    TdvfSpec,
    build_firmware,
    build_td_quote,
    build_tdvf,
)

from auditor.errors import InputError
from auditor.measure.tdx import (
    compare_mrtd,
    measure_tdx,
    measure_tdx_file,
    parse_tdvf_metadata,
    quote_mrtd,
)
from tests.cli_runner import RunAudit

PAGE = 4096
CHUNK = 256


def mem_page_add(gpa: int) -> bytes:
    """TDH.MEM.PAGE.ADD: one 128-byte extension buffer."""
    buffer = bytearray(128)  # all the other bytes contain 0
    buffer[0:12] = b"MEM.PAGE.ADD"  # bytes 0 through 11: the ASCII string
    buffer[16:24] = gpa.to_bytes(8, "little")  # bytes 16 through 23: the GPA, little-endian
    return bytes(buffer)


def mr_extend(gpa: int, chunk: bytes) -> list[bytes]:
    """TDH.MR.EXTEND: three 128-byte extension buffers for one 256-byte chunk."""
    assert len(chunk) == CHUNK
    first = bytearray(128)
    first[0:9] = b"MR.EXTEND"  # bytes 0 through 8: the ASCII string
    first[16:24] = gpa.to_bytes(8, "little")  # bytes 16 through 23: the GPA
    return [bytes(first), chunk[:128], chunk[128:]]  # the other two: the chunk's contents


def oracle_mrtd(
    rom: bytes,
    sections: Sequence[TdvfSection],
    *,
    oak_content: bool = True,
    per_page: bool = False,
) -> bytes:
    """The VMM's calls for `sections`, in table order, and the SHA-384 of their buffers.

    Oak's model (the defaults): each section's pages are added, then its raw data is extended
    chunk by chunk, the chunk at GPA base+k read at ROM offset k. `oak_content=False` reads it at
    DataOffset+k (the TDVF layout); `per_page=True` adds and extends page by page (Linux KVM).
    """
    buffers: list[bytes] = []
    for section in sections:
        extended = section.attributes & MR_EXTEND
        source = 0 if oak_content else section.data_offset
        chunks = [
            mr_extend(section.memory_address + k, rom[source + k : source + k + CHUNK])
            for k in range(0, section.raw_data_size if extended else 0, CHUNK)
        ]
        for page in range(section.memory_size // PAGE):
            buffers.append(mem_page_add(section.memory_address + page * PAGE))
            if per_page:
                for calls in chunks[page * PAGE // CHUNK : (page + 1) * PAGE // CHUNK]:
                    buffers += calls
        if not per_page:
            for calls in chunks:
                buffers += calls
    assert all(len(buffer) == 128 for buffer in buffers)
    return hashlib.sha384(b"".join(buffers)).digest()


def tdvf(**changes: object) -> bytes:
    return build_tdvf(dataclasses.replace(TdvfSpec(), **changes))  # type: ignore[arg-type]


def test_extension_buffers_are_the_abi_bytes() -> None:
    # The oracle itself, pinned against bytes written out by hand from the ABI text.
    assert mem_page_add(0xFFE0_1000).hex() == (
        b"MEM.PAGE.ADD".hex() + "00" * 4 + "0010e0ff00000000" + "00" * 104
    )
    header, low, high = mr_extend(0x10_0000, bytes(range(256)))
    assert header.hex() == b"MR.EXTEND".hex() + "00" * 7 + "0000100000000000" + "00" * 104
    assert low + high == bytes(range(256))


def test_oak_stage0_layout() -> None:
    rom = build_tdvf()
    measured = measure_tdx(rom)
    assert measured.mrtd == oracle_mrtd(rom, OAK_STAGE0_TDX_SECTIONS)
    assert len(measured.mrtd) == 48
    # BFV at ROM offset 0 covering the whole ROM: Oak's reading is the TDVF layout's.
    assert measured.mrtd == oracle_mrtd(rom, OAK_STAGE0_TDX_SECTIONS, oak_content=False)
    assert measured.notes == ()
    assert measured.sha256 == hashlib.sha256(rom).digest()


def test_oak_stage0_layout_is_oaks_hard_coded_sequence() -> None:
    # Oak's first measure.rs spelled out the calls for its stage0 (same test vector as the
    # table-driven version): TD_HOB and mailbox pages, 512 BFV pages, 8192 chunks of the ROM,
    # then 160 pages of ram_low.
    rom = build_tdvf()
    buffers = [mem_page_add(0x10_0000), mem_page_add(0x10_1000), mem_page_add(0x10_2000)]
    buffers += [mem_page_add(0xFFE0_0000 + PAGE * i) for i in range(512)]
    for i in range(8192):
        buffers += mr_extend(0xFFE0_0000 + CHUNK * i, rom[CHUNK * i : CHUNK * (i + 1)])
    buffers += [mem_page_add(PAGE * i) for i in range(160)]
    assert measure_tdx(rom).mrtd == hashlib.sha384(b"".join(buffers)).digest()


def test_tdvf_layout_follows_oak_and_says_where_it_departs() -> None:
    rom = tdvf(sections=TDVF_SECTIONS)
    measured = measure_tdx(rom)
    assert measured.mrtd == oracle_mrtd(rom, TDVF_SECTIONS)
    # Oak extends the BFV's GPAs with ROM bytes 0.. (the CFV first), not the BFV's own bytes.
    assert measured.mrtd != oracle_mrtd(rom, TDVF_SECTIONS, oak_content=False)
    assert len(measured.notes) == 1
    assert "TDVF section 0 (BFV at GPA 0xffe40000" in measured.notes[0]
    assert (
        "Oak extends ROM bytes 0x0..0x1c0000, not the section's data at 0x40000"
        in (measured.notes[0])
    )


def test_order_is_oaks_not_page_by_page() -> None:
    rom = build_tdvf()
    measured = measure_tdx(rom).mrtd
    assert measured != oracle_mrtd(rom, OAK_STAGE0_TDX_SECTIONS, per_page=True)


def test_every_extended_byte_and_every_page_counts() -> None:
    rom = build_tdvf()
    baseline = measure_tdx(rom).mrtd
    changed = bytearray(rom)
    changed[0x12345] ^= 1  # inside the BFV, far from the metadata
    assert measure_tdx(bytes(changed)).mrtd != baseline
    # A TempMem page moved: contents are not measured, addresses are.
    moved = (*OAK_STAGE0_TDX_SECTIONS[:3], TdvfSection(0, 0, 0x1000, 0xA_0000, TEMP_MEM, 0))
    rom_moved = tdvf(sections=moved)
    assert measure_tdx(rom_moved).mrtd == oracle_mrtd(rom_moved, moved) != baseline


def test_extended_section_with_more_memory_than_data() -> None:
    # A CFV with MR.EXTEND and 2 pages of memory for 1 page of data: Oak extends one page.
    sections = (
        *OAK_STAGE0_TDX_SECTIONS,
        TdvfSection(0, PAGE, 0x0020_0000, 2 * PAGE, CFV, MR_EXTEND),
    )
    rom = tdvf(sections=sections)
    measured = measure_tdx(rom)
    assert measured.mrtd == oracle_mrtd(rom, sections)
    assert measured.sections[4].to_json()["chunks_extended"] == PAGE // CHUNK
    assert measured.notes == (
        "TDVF section 4 (CFV at GPA 0x200000, 0x2000 bytes): Oak extends only the 0x1000 bytes "
        "of raw data; a VMM that extends every page of the section (Linux KVM) measures more",
    )


def test_sections_in_table_order() -> None:
    # Through JSON text, as the CLI contract is read.
    document = json.loads(json.dumps(measure_tdx(tdvf(sections=TDVF_SECTIONS)).to_json()))
    sections = document["tdx"]["sections"]
    assert [s["type"] for s in sections] == ["BFV", "CFV", "TEMP_MEM", "TEMP_MEM", "TD_HOB"]
    assert sections[0] == {
        "type": "BFV",
        "gpa": "0xffe40000",
        "memory_size": "0x1c0000",
        "data_offset": "0x40000",
        "raw_data_size": "0x1c0000",
        "mr_extend": True,
        "pages_added": 0x1C0,
        "chunks_extended": 0x1C00,
    }
    assert (sections[1]["mr_extend"], sections[1]["chunks_extended"]) == (False, 0)
    assert [s["pages_added"] for s in sections[2:]] == [0x10, 0x6, 0x2]


def replace_section(index: int, **fields: int) -> tuple[TdvfSection, ...]:
    sections = list(OAK_STAGE0_TDX_SECTIONS)
    sections[index] = dataclasses.replace(sections[index], **fields)
    return tuple(sections)


BFV_INDEX, HOB_INDEX = 2, 0


@pytest.mark.parametrize(
    ("changes", "phrase"),
    [
        (
            {"with_offset_entry": False, "extra_entries": [(RESET_BLOCK_GUID, bytes(4))]},
            "no TDVF metadata: the firmware GUID table has no TDX metadata offset entry",
        ),
        ({"signature": b"TDVX"}, "has signature b'TDVX', not b'TDVF'"),
        ({"version": 2}, "has version 2, expected 1"),
        ({"section_count": 0, "sections": ()}, "declares no sections"),
        ({"length": 16 + 32 * 3}, "has length 0x70, which does not match its 4 sections"),
        ({"section_count": 200}, "(200 sections) runs past the end of the ROM: truncated"),
        ({"metadata_offset": TDX_ROM_SIZE + 1}, "TDX metadata offset 0x200001 points outside"),
        ({"metadata_offset": 8}, "TDX metadata offset 0x8 points outside"),
        ({"size": TDX_ROM_SIZE // 2}, "stage0 ROM is 1048576 bytes: Oak's tdx_measurement"),
        (
            {"sections": replace_section(BFV_INDEX, data_offset=0x1000)},
            "(BFV at GPA 0xffe00000, 0x200000 bytes): raw data 0x1000+0x200000 runs past the end",
        ),
        (
            {"sections": replace_section(BFV_INDEX, raw_data_size=TDX_ROM_SIZE + PAGE)},
            "raw data 0x0+0x201000 runs past the end of the ROM",
        ),
        (
            {"sections": replace_section(HOB_INDEX, memory_address=0x10_1000)},
            "TDVF section 0 (TD_HOB at GPA 0x101000, 0x2000 bytes) and TDVF section 1 "
            "(TEMP_MEM at GPA 0x102000, 0x1000 bytes) overlap",
        ),
        (
            {
                "sections": replace_section(
                    3, memory_address=TDX_ROM_GPA - PAGE, memory_size=2 * PAGE
                )
            },
            "and TDVF section 2 (BFV at GPA 0xffe00000, 0x200000 bytes) overlap in guest memory",
        ),
        (
            {"sections": replace_section(HOB_INDEX, memory_address=0x10_0800)},
            "TDVF section 0 (TD_HOB at GPA 0x100800, 0x2000 bytes) is not a run of 4 KiB-aligned",
        ),
        ({"sections": replace_section(HOB_INDEX, memory_size=0x2800)}, "is not a run of 4 KiB"),
        ({"sections": replace_section(HOB_INDEX, memory_size=0)}, "0x0 bytes) is empty"),
        (
            {"sections": replace_section(HOB_INDEX, memory_address=1 << 52)},
            "ends beyond the 52-bit guest physical space",
        ),
        (
            {"sections": replace_section(1, raw_data_size=PAGE)},
            "TDVF section 1 (TEMP_MEM at GPA 0x102000, 0x1000 bytes) declares raw data",
        ),
        ({"sections": replace_section(HOB_INDEX, data_offset=PAGE)}, "declares raw data"),
        ({"sections": replace_section(1, section_type=PERM_MEM)}, "has type 4, not one a VMM"),
        ({"sections": replace_section(1, section_type=0xFF)}, "has type 255, not one a VMM"),
        ({"sections": replace_section(1, attributes=PAGE_AUG)}, "has the PAGE_AUG attribute"),
        ({"sections": replace_section(1, attributes=0x8)}, "has unknown attribute bits 0x8"),
        ({"sections": replace_section(BFV_INDEX, attributes=0)}, "lacks the MR.EXTEND attribute"),
        (
            {"sections": replace_section(BFV_INDEX, memory_size=TDX_ROM_SIZE // 2)},
            "raw data (0x200000 bytes) does not fit in the section's memory",
        ),
        (
            {"sections": replace_section(BFV_INDEX, raw_data_size=TDX_ROM_SIZE - 0x80)},
            "raw data size 0x1fff80 is not a multiple of the 256-byte MR.EXTEND chunk",
        ),
        ({"sections": replace_section(BFV_INDEX, raw_data_size=0)}, "declares no raw data"),
        (
            {"sections": replace_section(BFV_INDEX, section_type=CFV)},
            "TDVF metadata has no BFV section",
        ),
        (
            {"sections": replace_section(1, section_type=TD_HOB)},
            "TDVF metadata has more than one TD_HOB section",
        ),
    ],
)
def test_malformed_tdvf(changes: dict[str, object], phrase: str) -> None:
    with pytest.raises(InputError) as raised:
        measure_tdx(tdvf(**changes))
    message = str(raised.value)
    assert phrase in message
    assert "\n" not in message


def test_not_a_tdx_image() -> None:
    with pytest.raises(InputError, match="no TDVF metadata"):
        parse_tdvf_metadata(build_firmware(FirmwareSpec(size=TDX_ROM_SIZE)))  # SEV-SNP only
    with pytest.raises(InputError, match="no GUID table footer"):
        parse_tdvf_metadata(bytes(TDX_ROM_SIZE))
    with pytest.raises(InputError, match="TDX metadata offset entry holds 8 bytes"):
        parse_tdvf_metadata(
            build_firmware(
                FirmwareSpec(
                    size=TDX_ROM_SIZE,
                    extra_entries=[(TDX_METADATA_OFFSET_GUID, struct.pack("<Q", 0x1000))],
                )
            )
        )


def test_unreadable_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read stage0 ROM"):
        measure_tdx_file(tmp_path / "missing.bin")
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(TDX_ROM_SIZE + 1))
    with pytest.raises(InputError, match="larger than 2097152 bytes"):
        measure_tdx_file(big)


MRTD = bytes(range(1, 49))


def test_compare_mrtd() -> None:
    match = compare_mrtd(MRTD.hex().upper(), MRTD)
    assert (match.name, match.ok) == ("tdx_mrtd", True)
    other = bytes(47) + b"\x01"
    mismatch = compare_mrtd(MRTD.hex(), other, "the TD quote")
    assert mismatch.ok is False
    assert mismatch.detail == (
        f"the MRTD from the TD quote ({other.hex()}) differs from the endorsed TDX measurement "
        f"({MRTD.hex()})"
    )
    fake = compare_mrtd(MRTD.hex(), bytes(48), "the TD quote")
    assert fake.ok is None
    assert "all zeros" in fake.detail
    assert mismatch.to_json() == {"name": "tdx_mrtd", "ok": False, "detail": mismatch.detail}


@pytest.mark.parametrize(
    "expected",
    [
        "",
        MRTD.hex()[:-2],
        MRTD.hex() + "00",
        "0x" + MRTD.hex()[2:],
        "zz" * 48,
        " " + MRTD.hex()[1:],
        "\x1b[31m" + MRTD.hex(),
    ],
)
def test_compare_mrtd_refuses_malformed_expected(expected: str) -> None:
    with pytest.raises(InputError, match=r"endorsed TDX measurement .* is not 48 bytes of hex"):
        compare_mrtd(expected, MRTD)


def td_quote(version: int = 4, tee_type: int = 0x81, mrtd: bytes = MRTD) -> bytes:
    return build_td_quote(mrtd, version, tee_type)


def test_quote_mrtd() -> None:
    assert quote_mrtd(td_quote()) == MRTD


@pytest.mark.parametrize(
    ("quote", "phrase"),
    [
        (td_quote()[:600], "TDX quote is 600 bytes, too short"),
        (td_quote(version=5), "TDX quote version 5 is not read"),
        (td_quote(version=3, tee_type=0), "TDX quote version 3"),
        (td_quote(tee_type=0), "quote TEE type 0x0 is not TDX"),
    ],
)
def test_quote_mrtd_refuses(quote: bytes, phrase: str) -> None:
    with pytest.raises(InputError, match=phrase):
        quote_mrtd(quote)


@pytest.fixture
def rom_path(tmp_path: Path) -> Path:
    path = tmp_path / "stage0_tdx.bin"
    path.write_bytes(tdvf(sections=TDVF_SECTIONS))
    return path


def test_cli_json(run_audit: RunAudit, rom_path: Path) -> None:
    result = run_audit("measure", "stage0", "--tdx", str(rom_path), "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    rom = rom_path.read_bytes()
    assert document["sha256"] == hashlib.sha256(rom).hexdigest()
    assert document["tdx"]["mrtd"] == oracle_mrtd(rom, TDVF_SECTIONS).hex()
    assert [s["type"] for s in document["tdx"]["sections"]] == [
        "BFV",
        "CFV",
        "TEMP_MEM",
        "TEMP_MEM",
        "TD_HOB",
    ]
    assert len(document["tdx"]["notes"]) == 1


def test_cli_table_on_stderr(run_audit: RunAudit, rom_path: Path) -> None:
    result = run_audit("measure", "stage0", str(rom_path), "--tdx")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    # rich folds a digest to the terminal's width; the whole of it is there.
    assert oracle_mrtd(rom_path.read_bytes(), TDVF_SECTIONS).hex() in "".join(result.stderr.split())
    rows = [line.split() for line in result.stderr.splitlines()]
    assert ["tdx.sections[0].type", "BFV"] in rows
    assert ["tdx.sections[4].type", "TD_HOB"] in rows
    assert ["tdx.sections[4].chunks_extended", "0"] in rows


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [
        (("--vcpus", "1"), "--vcpus and --mode are SEV-SNP options"),
        (("--mode", "oak"), "--vcpus and --mode are SEV-SNP options"),
    ],
)
def test_cli_refuses_snp_options(
    run_audit: RunAudit, rom_path: Path, extra: tuple[str, ...], phrase: str
) -> None:
    result = run_audit("measure", "stage0", "--tdx", str(rom_path), *extra)
    assert result.exit_code == 2
    assert phrase in " ".join(result.stderr.split())


def test_cli_malformed_rom(run_audit: RunAudit, tmp_path: Path) -> None:
    path = tmp_path / "sev.bin"
    path.write_bytes(build_firmware(FirmwareSpec(size=TDX_ROM_SIZE)))
    result = run_audit("measure", "stage0", "--tdx", str(path), "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert "no TDVF metadata" in " ".join(result.stderr.split())
