"""`audit measure ...`: contract JSON on stdout, tables on stderr, bad input = exit 2, one error."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sevsnpmeasure import guest
from sevsnpmeasure.vmm_types import VMMType
from synthetic_artifacts import build_bzimage, build_firmware, ovmf_spec

from tests.cli_runner import CliResult, RunAudit

OAK = Path(__file__).parent.parent / "data" / "oak"


@pytest.fixture
def rom(tmp_path: Path) -> Path:
    path = tmp_path / "stage0.bin"
    path.write_bytes(build_firmware())
    return path


def as_json(result: CliResult) -> dict[str, object]:
    assert result.exit_code == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def assert_input_error(result: CliResult, phrase: str) -> None:
    assert result.exit_code == 2
    assert result.stdout == ""
    # One message, starting "error:" (rich may fold it to the terminal width), no traceback.
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert phrase in " ".join(result.stderr.split())


def test_stage0_json(run_audit: RunAudit, rom: Path) -> None:
    document = as_json(run_audit("measure", "stage0", str(rom), "--vcpus", "1,2", "--json"))
    assert document["sha256"] == hashlib.sha256(rom.read_bytes()).hexdigest()
    expected = {
        mode: {
            str(n): guest.snp_calc_launch_digest(
                n, 0x600, str(rom), None, None, None, 1, "", vmm
            ).hex()
            for n in (1, 2)
        }
        for mode, vmm in (("oak", VMMType.gce), ("qemu", VMMType.QEMU))
    }
    assert document["launch_digests"] == expected


def test_stage0_single_mode(run_audit: RunAudit, rom: Path) -> None:
    document = as_json(run_audit("measure", "stage0", str(rom), "--mode", "qemu", "--json"))
    launch_digests = document["launch_digests"]
    assert isinstance(launch_digests, dict)
    assert list(launch_digests) == ["qemu"]
    assert list(launch_digests["qemu"]) == ["1", "2", "4", "8", "16", "32", "64"]


def test_stage0_mode_accepts_every_value_its_error_lists(run_audit: RunAudit, rom: Path) -> None:
    # The error listed oak and qemu but not both, the default; and BOTH was refused although
    # every other choice is taken in any case.
    result = run_audit("measure", "stage0", str(rom), "--vcpus", "1", "--mode", "foo")
    assert_input_error(result, "--mode 'foo' is not one of ")
    listed = result.stderr.strip().rpartition(" is not one of ")[2].split(", ")
    assert listed == ["oak", "qemu", "both"]
    default = as_json(run_audit("measure", "stage0", str(rom), "--vcpus", "1", "--json"))
    for value in listed:
        document = as_json(run_audit("measure", "stage0", str(rom), "--vcpus", "1", "--mode",
                                     value.upper(), "--json"))
        modes = document["launch_digests"]
        assert isinstance(modes, dict)
        assert list(modes) == (["oak", "qemu"] if value == "both" else [value])
        assert all(modes[mode] == default["launch_digests"][mode]  # type: ignore[index]
                   for mode in modes)


def test_stage0_table_goes_to_stderr_whole(run_audit: RunAudit, rom: Path) -> None:
    result = run_audit("measure", "stage0", str(rom), "--vcpus", "1", "--mode", "oak")
    assert result.exit_code == 0
    assert result.stdout == ""
    digest = guest.snp_calc_launch_digest(1, 0x600, str(rom), None, None, None, 1, "", VMMType.gce)
    assert digest.hex() in "".join(result.stderr.split())


def test_kernel_initrd_cmdline_json(run_audit: RunAudit, tmp_path: Path) -> None:
    bz = tmp_path / "bzImage"
    bz.write_bytes(build_bzimage())
    kernel = as_json(run_audit("measure", "kernel", str(bz), "--json"))
    assert set(kernel) == {"sha256", "kernel_measurement", "setup_data_digest"}
    assert kernel["sha256"] == hashlib.sha256(bz.read_bytes()).hexdigest()
    assert set(kernel["setup_data_digest"]) == {"oak_vmm", "qemu_snp"}  # type: ignore[arg-type]

    initrd = as_json(run_audit("measure", "initrd", str(bz), "--json"))
    assert initrd == {"sha256": hashlib.sha256(bz.read_bytes()).hexdigest()}

    cmdline = as_json(
        run_audit("measure", "cmdline", "quiet", "--regex", "^qu", "--regex", "^x", "--json")
    )
    assert cmdline["matches"] == [True, False]
    assert cmdline["sha256_nul"] == hashlib.sha256(b"quiet\0").hexdigest()


def test_launch_json(run_audit: RunAudit, tmp_path: Path) -> None:
    ovmf, bz = tmp_path / "OVMF.fd", tmp_path / "bzImage"
    ovmf.write_bytes(build_firmware(ovmf_spec()))
    bz.write_bytes(build_bzimage())
    document = as_json(
        run_audit(
            "measure",
            "launch",
            "--ovmf",
            str(ovmf),
            "--kernel",
            str(bz),
            "--append",
            "quiet",
            "--vcpus",
            "2",
            "--vcpu-type",
            "EPYC-Milan",
            "--guest-features",
            "0x1",
            "--json",
        )
    )
    expected = guest.snp_calc_launch_digest(
        2, 0x00A00F11, str(ovmf), str(bz), None, "quiet", 1, "", VMMType.QEMU
    )
    assert document == {"launch_digest": expected.hex(), "mode": "qemu", "vcpus": 2}


def test_evidence_json(run_audit: RunAudit) -> None:
    path = OAK / "oak-containers-milan-release" / "evidence.binarypb"
    document = as_json(run_audit("measure", "evidence", str(path), "--json"))
    assert {"snp_measurement", "stage0", "system_image"} <= set(document)


def test_file_text_is_not_markup_or_ansi(run_audit: RunAudit) -> None:
    result = run_audit("measure", "cmdline", "[bold red]x[/] \x1b[31m")
    assert result.exit_code == 0
    assert "[bold red]x[/]" in result.stderr
    assert "\x1b" not in result.stderr


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (("stage0", "{missing}"), "cannot read stage0 ROM"),
        (("stage0", "{rom}", "--mode", "tdx"), "--mode 'tdx' is not one of oak, qemu, both"),
        (("stage0", "{rom}", "--vcpus", "1,x"), "is not a comma-separated list"),
        (("stage0", "{rom}", "--vcpus", "1,2000000000"), "is more than a VM can have (4096)"),
        (("launch", "--ovmf", "{rom}", "--vcpus", "2000000000"), "from 1 to 4096"),
        # One line like every other refusal, not click's four-line usage text.
        (("launch", "--ovmf", "{rom}", "--vcpus", "two"), "--vcpus 'two' is not a number"),
        # Plain decimal only: int() took `1_0` as 10 (and `0x_1` as 1), as sev-snp-measure does.
        (("launch", "--ovmf", "{rom}", "--vcpus", "1_0"), "--vcpus '1_0' is not a number"),
        (("launch", "--ovmf", "{rom}", "--vcpus", "+4"), "--vcpus '+4' is not a number"),
        (("launch", "--ovmf", "{rom}", "--guest-features", "0x_1"),
         "--guest-features '0x_1' is not a number (whole, in decimal digits or 0x-prefixed hex)"),
        (("stage0", "{rom}", "--vcpus", "1,1_0"), "--vcpus '1,1_0' is not a comma-separated"),
        (("stage0", "{junk}"), "no GUID table footer"),
        (("kernel", "{junk}"), "no 'HdrS' boot header magic"),
        (("kernel", "{cut}"), "but its boot header declares 314336 (14336-byte setup and "
                              "syssize 18750 paragraphs): truncated"),
        (("initrd", "{missing}"), "cannot read initrd"),
        (("cmdline", "x", "--regex", "("), "invalid cmdline regex '('"),
        (("cmdline", "caf\udce9"), "the command line is not UTF-8 text (byte 3)"),
        (
            ("launch", "--ovmf", "{rom}", "--kernel", "{junk}", "--vmm-type", "gce"),
            "no SNP_KERNEL_HASHES section",
        ),
        (("launch", "--ovmf", "{rom}", "--vmm-type", "oak"), "is not one of qemu, gce, ec2"),
        (("launch", "--ovmf", "{rom}", "--vcpu-sig", "zz"), "--vcpu-sig 'zz' is not a number"),
        (("launch", "--ovmf", "{rom}", "--append", "quiet"), "--initrd and --append need --kernel"),
        (("launch", "--ovmf", "{rom}"), "needs --vcpu-type or --vcpu-sig"),
        (("evidence", "{junk}"), ""),
    ],
)
def test_bad_input_exits_2(
    run_audit: RunAudit, rom: Path, tmp_path: Path, args: tuple[str, ...], phrase: str
) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x7fELF" + bytes(8188))  # page-sized, no footer
    cut = tmp_path / "bzImage.part"  # an interrupted download: header and setup whole
    cut.write_bytes(build_bzimage()[:-4096])
    paths = {"rom": str(rom), "missing": str(tmp_path / "missing"), "junk": str(junk),
             "cut": str(cut)}
    assert_input_error(run_audit("measure", *(a.format(**paths) for a in args)), phrase)


def test_evidence_reproduces_release_attachments(run_audit: RunAudit) -> None:
    # The release endorsements' inline subjects carry what this real VM should have measured.
    from auditor.oak.proto.attestation import attachment_pb2

    release = OAK / "oak-containers-milan-release"
    path = release / "evidence.binarypb"
    document = as_json(run_audit("measure", "evidence", str(path), "--json"))
    firmware = attachment_pb2.FirmwareAttachment.FromString(
        (release / "components" / "stage0" / "subject.bin").read_bytes()
    )
    kernel = attachment_pb2.KernelAttachment.FromString(
        (release / "components" / "kernel" / "subject.bin").read_bytes()
    )
    initrd_statement = json.loads(
        (release / "components" / "init_ram_fs" / "endorsement.json").read_text()
    )
    stage0 = document["stage0"]
    assert isinstance(stage0, dict)
    assert document["snp_measurement"] == firmware.configs[1].sha2_384
    assert stage0["kernel_measurement"] == kernel.image.sha2_256
    assert stage0["setup_data_digest"] == kernel.setup_data.sha2_256
    assert stage0["ram_disk_digest"] == initrd_statement["subject"][0]["digest"]["sha256"]


def test_sections_declaring_terabytes_are_refused_not_measured_for_hours(
        run_audit: RunAudit, tmp_path: Path) -> None:
    """Every page a metadata section declares is a hash update: a table declaring 300
    4 GiB SEV sections, or a 1 TiB TDVF TEMP_MEM section, measured for hours."""
    import signal

    from synthetic_artifacts import (
        OAK_STAGE0_TDX_SECTIONS,
        TEMP_MEM,
        FirmwareSpec,
        TdvfSection,
        TdvfSpec,
        build_tdvf,
    )

    sev = tmp_path / "sev.bin"
    sev.write_bytes(build_firmware(FirmwareSpec(sections=[(0, 0xFFFF_F000, 1)] * 300)))
    tdx = tmp_path / "tdx.bin"
    huge = TdvfSection(0, 0, 1 << 40, 1 << 40, TEMP_MEM, 0)
    tdx.write_bytes(build_tdvf(TdvfSpec(sections=(*OAK_STAGE0_TDX_SECTIONS, huge))))

    def hung(_signum: int, _frame: object) -> None:
        raise TimeoutError("still measuring")

    previous = signal.signal(signal.SIGALRM, hung)
    try:
        for args in (("stage0", str(sev)), ("stage0", "--tdx", str(tdx))):
            signal.alarm(20)
            assert_input_error(run_audit("measure", *args),
                               "sections declare 0x")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("command", ["stage0 {}", "launch --vcpu-sig 1 --ovmf {}"])
def test_a_firmware_image_past_64_mib_is_refused_unread(
        run_audit: RunAudit, tmp_path: Path, command: str) -> None:
    """A disk image named by mistake (or `/dev/zero`) was read up to 4 GiB into memory, twice
    over, before being refused: an internal error where memory is limited."""
    image = tmp_path / "disk.img"
    with image.open("wb") as handle:
        handle.truncate((64 << 20) + 4096)  # sparse: refused by its size, never read
    result = run_audit("measure", *command.format(image).split())
    assert_input_error(result, "is larger than 67108864 bytes")


@pytest.mark.parametrize("command", ["stage0", "kernel", "initrd", "evidence",
                                     "launch --vcpu-sig 1 --ovmf"])
def test_a_file_name_that_is_not_utf8_is_shown_with_its_bytes_escaped(
        run_audit: RunAudit, tmp_path: Path, command: str) -> None:
    # As every other command shows such names (local_files.path_name), not as the surrogate
    # Python decodes the byte to ('k\udcffernel').
    missing = str(tmp_path / "k\udcffernel")
    result = run_audit("measure", *command.split(), missing)
    assert_input_error(result, "k\\xffernel: No such file or directory")


@pytest.mark.parametrize("command, limit", [
    ("kernel {}", "the kernel limit (1 GiB)"),
    ("launch --vcpu-sig 1 --ovmf {ovmf} --kernel {}", "the kernel limit (1 GiB)"),
    ("launch --vcpu-sig 1 --ovmf {ovmf} --kernel {kernel} --initrd {}",
     "the initrd limit (4 GiB - 1 byte)"),
    ("launch --vcpu-sig 1 --ovmf {}", "the OVMF image limit (64 MiB)"),
    ("stage0 {}", "the stage0 ROM limit (64 MiB)"),
])
def test_an_artifact_past_its_kinds_limit_is_refused_unread_naming_the_limit(
        run_audit: RunAudit, tmp_path: Path, command: str, limit: str) -> None:
    """A bzImage had no limit: a file (or a pipe) of any size was hashed whole. Each kind's
    limit is named; a file that says its size is refused unread (sparse here, never read)."""
    kernel, ovmf = tmp_path / "bzImage", tmp_path / "OVMF.fd"
    kernel.write_bytes(build_bzimage())
    ovmf.write_bytes(build_firmware(ovmf_spec()))
    huge = tmp_path / "huge.img"
    with huge.open("wb") as handle:
        handle.write(build_bzimage())  # a valid header: only the size is wrong
        handle.truncate(5 << 30)
    result = run_audit("measure", *command.format(huge, ovmf=ovmf, kernel=kernel).split())
    assert_input_error(result, "huge.img is larger than ")
    assert " ".join(result.stderr.split()).endswith(f", {limit}"), result.stderr


@pytest.mark.parametrize("flag, size, limit", [
    ("--system-image", (16 << 30) + 1, "the file limit (16 GiB)"),
    ("--initrd", 4 << 30, "the initrd limit (4 GiB - 1 byte)"),
])
def test_reconcile_hashes_an_artifact_no_further_than_its_kinds_limit(
        run_audit: RunAudit, tmp_path: Path, flag: str, size: int, limit: str) -> None:
    # A system image (any `file` component) was hashed whatever its size: a pipe, for ever.
    huge = tmp_path / "huge.img"
    with huge.open("wb") as handle:
        handle.truncate(size)
    result = run_audit("reconcile", flag, str(huge), "--db", f"sqlite:///{tmp_path / 'a.db'}")
    assert_input_error(result, "huge.img is larger than ")
    assert " ".join(result.stderr.split()).endswith(f", {limit}"), result.stderr
