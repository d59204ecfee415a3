"""QEMU+OVMF launch digests (kernel-hashes=on) against sev-snp-measure in the same test."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from sevsnpmeasure import guest
from sevsnpmeasure.vcpu_types import CPU_SIGS
from sevsnpmeasure.vmm_types import VMMType
from synthetic_artifacts import (
    HASH_TABLE_GPA,
    HASH_TABLE_GUID,
    build_bzimage,
    build_firmware,
    ovmf_spec,
)

from auditor.errors import InputError
from auditor.measure.launch import (
    DirectBoot,
    LaunchConfig,
    measure_launch_file,
    vcpu_sig_for,
)
from auditor.measure.vmm import Vmm

THEIR_VMM = {Vmm.QEMU: VMMType.QEMU, Vmm.GCE: VMMType.gce, Vmm.EC2: VMMType.ec2}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("launch")
    paths = {
        "ovmf": root / "OVMF.fd",
        "stage0": root / "stage0.bin",
        "kernel": root / "bzImage",
        "initrd": root / "initrd.img",
    }
    paths["ovmf"].write_bytes(build_firmware(ovmf_spec()))
    paths["stage0"].write_bytes(build_firmware())
    paths["kernel"].write_bytes(build_bzimage())
    paths["initrd"].write_bytes(b"070701" + bytes(range(256)) * 300)
    return paths


def oracle(files: dict[str, Path], config: LaunchConfig, firmware: str = "ovmf") -> bytes:
    boot = config.direct_boot
    digest: bytes = guest.snp_calc_launch_digest(
        config.vcpus,
        config.vcpu_sig or 0,
        str(files[firmware]),
        str(boot.kernel) if boot else None,
        str(boot.initrd) if boot and boot.initrd else None,
        boot.append if boot else None,
        config.guest_features,
        "",
        THEIR_VMM[config.vmm_type],
    )
    return digest


def boot_variants(files: dict[str, Path]) -> list[DirectBoot | None]:
    return [
        None,
        DirectBoot(files["kernel"]),
        DirectBoot(files["kernel"], files["initrd"], "console=ttyS0 root=/dev/vda"),
    ]


@pytest.mark.parametrize("vcpus", [1, 2, 4])
@pytest.mark.parametrize("boot_index", [0, 1, 2])
def test_qemu_vcpu_sig_0x600(files: dict[str, Path], vcpus: int, boot_index: int) -> None:
    boot = boot_variants(files)[boot_index]
    config = LaunchConfig(vcpus=vcpus, vmm_type=Vmm.QEMU, vcpu_sig=0x600, direct_boot=boot)
    measured = measure_launch_file(files["ovmf"], config)
    assert measured.launch_digest == oracle(files, config)


@pytest.mark.parametrize("vcpus", [1, 2, 4])
@pytest.mark.parametrize("vmm", [Vmm.GCE, Vmm.EC2])
def test_gce_and_ec2(files: dict[str, Path], vmm: Vmm, vcpus: int) -> None:
    boot = boot_variants(files)[2]
    config = LaunchConfig(vcpus=vcpus, vmm_type=vmm, guest_features=0x21, direct_boot=boot)
    assert measure_launch_file(files["ovmf"], config).launch_digest == oracle(files, config)


def test_vcpu_type_and_guest_features(files: dict[str, Path]) -> None:
    sig = vcpu_sig_for("EPYC-Milan", None)
    assert sig == CPU_SIGS["EPYC-Milan"]
    config = LaunchConfig(vcpus=2, vcpu_sig=sig, guest_features=0x5, direct_boot=None)
    assert measure_launch_file(files["ovmf"], config).launch_digest == oracle(files, config)


def test_gce_without_kernel_on_stage0_is_oak_mode(files: dict[str, Path]) -> None:
    config = LaunchConfig(vcpus=2, vmm_type=Vmm.GCE)
    measured = measure_launch_file(files["stage0"], config)
    assert measured.launch_digest == oracle(files, config, firmware="stage0")
    assert measured.to_json() == {
        "launch_digest": measured.launch_digest.hex(),
        "mode": "gce",
        "vcpus": 2,
    }


def test_kernel_with_firmware_without_kernel_hashes(files: dict[str, Path]) -> None:
    config = LaunchConfig(vmm_type=Vmm.GCE, direct_boot=DirectBoot(files["kernel"]))
    with pytest.raises(InputError, match=r"no SNP_KERNEL_HASHES section.*stage0.*event log"):
        measure_launch_file(files["stage0"], config)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (LaunchConfig(vmm_type=Vmm.QEMU), "needs --vcpu-type or --vcpu-sig"),
        (LaunchConfig(vmm_type=Vmm.GCE, vcpu_sig=0x600), "apply to --vmm-type qemu only"),
        (LaunchConfig(vcpus=0, vcpu_sig=0x600), "not a vCPU count from 1 to 4096"),
        (LaunchConfig(vcpus=4097, vcpu_sig=0x600), "not a vCPU count from 1 to 4096"),
        (LaunchConfig(vmm_type=Vmm.OAK), "not one of qemu, gce, ec2"),
        (LaunchConfig(vcpu_sig=1 << 32), "does not fit in 32 bits"),
        # KVM sets SNPActive in every SNP guest's VMSA: without it, a digest no VM reports.
        (LaunchConfig(vcpu_sig=0x600, guest_features=0x20),
         r"--guest-features 0x20 lacks SNPActive \(bit 0\).*give 0x21"),
        (LaunchConfig(vmm_type=Vmm.GCE, guest_features=0), "lacks SNPActive.*give 0x1"),
    ],
)
def test_bad_config(files: dict[str, Path], config: LaunchConfig, message: str) -> None:
    with pytest.raises(InputError, match=message):
        measure_launch_file(files["ovmf"], config)


def test_missing_kernel_file(files: dict[str, Path], tmp_path: Path) -> None:
    config = LaunchConfig(vcpu_sig=0x600, direct_boot=DirectBoot(tmp_path / "nope"))
    with pytest.raises(InputError, match="cannot read kernel"):
        measure_launch_file(files["ovmf"], config)


def test_vcpu_type_errors() -> None:
    with pytest.raises(InputError, match="unknown vCPU type 'EPYC-Nope'"):
        vcpu_sig_for("EPYC-Nope", None)
    with pytest.raises(InputError, match="not both"):
        vcpu_sig_for("EPYC", 0x600)


class ArgvBytes(str):
    """A command-line argument as the oracle should hash it: the bytes argv held."""

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return super().encode("utf-8", "surrogateescape")


def test_an_append_that_is_not_utf8_is_hashed_as_its_bytes(files: dict[str, Path]) -> None:
    # QEMU hashes -append as the C string it was given; encoding it strictly was exit 70.
    append = "console=ttyS0 caf\udce9"  # b"...caf\xe9" (Latin-1) as Python decodes argv
    config = LaunchConfig(vcpu_sig=0x600, direct_boot=DirectBoot(files["kernel"], None, append))
    expected = oracle(files, LaunchConfig(
        vcpu_sig=0x600, direct_boot=DirectBoot(files["kernel"], None, ArgvBytes(append))))
    assert measure_launch_file(files["ovmf"], config).launch_digest == expected
    latin1 = LaunchConfig(vcpu_sig=0x600, direct_boot=DirectBoot(files["kernel"], None, "café"))
    assert measure_launch_file(files["ovmf"], latin1).launch_digest != expected


@pytest.mark.parametrize(("kernel", "message"), [
    (build_bzimage()[:-4096], "but its boot header declares .*: truncated"),
    (b"", "too short for a bzImage boot header"),
])
def test_a_kernel_that_is_no_whole_bzimage_is_refused(
        files: dict[str, Path], tmp_path: Path, kernel: bytes, message: str) -> None:
    # Hashed as it was, a cut kernel (or an empty file, a FIFO without a writer) gave a launch
    # digest no VM reports; QEMU refuses an empty kernel, and OVMF boots only a whole one.
    path = tmp_path / "bzImage"
    path.write_bytes(kernel)
    config = LaunchConfig(vcpu_sig=0x600, direct_boot=DirectBoot(path))
    with pytest.raises(InputError, match=message):
        measure_launch_file(files["ovmf"], config)


@pytest.mark.parametrize("entry", [struct.pack("<II", HASH_TABLE_GPA, 0xA8),
                                   struct.pack("<I", HASH_TABLE_GPA)], ids=["168 bytes", "no size"])
def test_a_hash_table_area_qemu_refuses_gives_no_digest(tmp_path: Path, files: dict[str, Path],
                                                        entry: bytes) -> None:
    # QEMU launches no guest whose firmware reserves less than its 176-byte padded table (or
    # says nothing of the size): "SEV: guest firmware hashes table area is invalid".
    ovmf = tmp_path / "OVMF.fd"
    ovmf.write_bytes(build_firmware(ovmf_spec(hash_table_gpa=None,
                                              extra_entries=[(HASH_TABLE_GUID, entry)])))
    config = LaunchConfig(vcpu_sig=0x600, direct_boot=DirectBoot(files["kernel"]))
    with pytest.raises(InputError, match=r"SEV hash table entry declares (168|no size), less "
                                         r"than QEMU's 176-byte table"):
        measure_launch_file(ovmf, config)
