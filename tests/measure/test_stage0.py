"""stage0 launch digests against virtee's sev-snp-measure, computed in the same test."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sevsnpmeasure import guest
from sevsnpmeasure.vmm_types import VMMType
from synthetic_artifacts import KERNEL_HASHES_SECTION, STAGE0_SECTIONS, FirmwareSpec, build_firmware

from auditor.errors import InputError
from auditor.measure.stage0 import (
    DEFAULT_VCPU_COUNTS,
    Stage0Mode,
    measure_stage0,
    measure_stage0_file,
    parse_vcpu_counts,
)


def oracle(rom_path: Path, vcpus: int, mode: Stage0Mode) -> bytes:
    """sev-snp-measure: `--vmm-type gce` is Oak's VMM, QEMU with signature 0x600 is Oak's QEMU."""
    vmm = VMMType.gce if mode is Stage0Mode.OAK else VMMType.QEMU
    digest: bytes = guest.snp_calc_launch_digest(
        vcpus, 0x600, str(rom_path), None, None, None, 0x1, "", vmm
    )
    return digest


@pytest.fixture(scope="module")
def stage0_rom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stage0") / "stage0.bin"
    path.write_bytes(build_firmware())
    return path


@pytest.fixture(scope="module")
def rom_with_kernel_hashes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = FirmwareSpec(sections=(*STAGE0_SECTIONS, KERNEL_HASHES_SECTION), seed=5)
    path = tmp_path_factory.mktemp("stage0kh") / "stage0.bin"
    path.write_bytes(build_firmware(spec))
    return path


@pytest.mark.parametrize("vcpus", [1, 2, 4])
@pytest.mark.parametrize("mode", list(Stage0Mode))
def test_launch_digest_equals_sev_snp_measure(
    stage0_rom: Path, mode: Stage0Mode, vcpus: int
) -> None:
    measured = measure_stage0_file(stage0_rom, [vcpus], [mode])
    assert measured.launch_digests[mode][vcpus] == oracle(stage0_rom, vcpus, mode)


@pytest.mark.parametrize("vcpus", [1, 2, 4])
def test_qemu_mode_with_kernel_hashes_section(rom_with_kernel_hashes: Path, vcpus: int) -> None:
    # QEMU adds a kernel-hashes section it has no kernel for as ZERO pages.
    measured = measure_stage0_file(rom_with_kernel_hashes, [vcpus], [Stage0Mode.QEMU])
    expected = oracle(rom_with_kernel_hashes, vcpus, Stage0Mode.QEMU)
    assert measured.launch_digests[Stage0Mode.QEMU][vcpus] == expected


def test_oak_mode_refuses_kernel_hashes_section(rom_with_kernel_hashes: Path) -> None:
    with pytest.raises(InputError, match="SNP_KERNEL_HASHES section at GPA 0x80d000"):
        measure_stage0_file(rom_with_kernel_hashes, [1], [Stage0Mode.OAK])


def test_one_pass_gives_every_count_both_modes(stage0_rom: Path) -> None:
    measured = measure_stage0_file(stage0_rom)
    assert set(measured.launch_digests) == set(Stage0Mode)
    for mode in Stage0Mode:
        assert list(measured.launch_digests[mode]) == list(DEFAULT_VCPU_COUNTS)
        for count in DEFAULT_VCPU_COUNTS:
            assert measured.launch_digests[mode][count] == oracle(stage0_rom, count, mode)


def test_sha256_and_json_contract(stage0_rom: Path) -> None:
    rom = stage0_rom.read_bytes()
    document = measure_stage0(rom, [2, 1], [Stage0Mode.OAK]).to_json()
    assert document["sha256"] == hashlib.sha256(rom).hexdigest()
    assert document["launch_digests"] == {
        "oak": {
            "1": oracle(stage0_rom, 1, Stage0Mode.OAK).hex(),
            "2": oracle(stage0_rom, 2, Stage0Mode.OAK).hex(),
        }
    }


@pytest.mark.parametrize("text", ["", "1,,2", "one", "0", "1,-4"])
def test_bad_vcpu_counts(text: str) -> None:
    with pytest.raises(InputError):
        parse_vcpu_counts(text)


def test_vcpu_counts_are_sorted_and_deduplicated() -> None:
    assert parse_vcpu_counts("4,1,4,2") == [1, 2, 4]


def test_unreadable_rom(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read stage0 ROM"):
        measure_stage0_file(tmp_path / "missing.bin")
    with pytest.raises(InputError, match="cannot read stage0 ROM"):
        measure_stage0_file(tmp_path)
