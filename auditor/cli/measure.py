"""`audit measure ...`: recompute measurements from local artifacts.

Every command prints the measurement's contract JSON on stdout with `--json`, otherwise a table
on stderr. Arguments are validated here or in the library as `InputError`s, so bad input is
one line and exit code 2 (choices are plain strings for that reason, not click choices).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from auditor.cli.app import app, err_console, print_json, terminal_safe
from auditor.errors import InputError
from auditor.measure.interface import JsonValue, Measurement
from auditor.numbers import integer

measure_app = typer.Typer(
    help="Recompute boot-component measurements from local artifacts.", no_args_is_help=True
)
app.add_typer(measure_app, name="measure")

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the contract JSON on stdout.")]


_SNP_VCPUS = "1,2,4,8,16,32,64"
_SNP_MODE = "both"


@measure_app.command("stage0")
def stage0(
    rom: Annotated[Path, typer.Argument(metavar="ROM", help="The stage0 firmware ROM image.")],
    vcpus: Annotated[str, typer.Option(metavar="COUNTS",
                                       help="Comma-separated vCPU counts.")] = _SNP_VCPUS,
    mode: Annotated[
        str, typer.Option(metavar="oak|qemu|both",
                          help="oak (Oak's VMM, what Oak publishes), qemu, or both.")
    ] = _SNP_MODE,
    tdx: Annotated[
        bool,
        typer.Option(
            "--tdx",
            help="Intel TDX instead: the MRTD of a 2 MiB TDVF stage0, as Oak's tdx_measurement.",
        ),
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """SHA-256 of a stage0 ROM and its SEV-SNP launch digest per vCPU count (or TDX MRTD)."""
    if tdx:
        from auditor.measure.tdx import measure_tdx_file

        if vcpus != _SNP_VCPUS or mode != _SNP_MODE:
            raise InputError("--vcpus and --mode are SEV-SNP options; --tdx takes neither")
        _emit(measure_tdx_file(rom), json_output)
        return

    from auditor.measure.stage0 import MODE_CHOICES, measure_stage0_file, parse_vcpu_counts

    modes = _pick(MODE_CHOICES, mode, "--mode")
    _emit(measure_stage0_file(rom, parse_vcpu_counts(vcpus), modes), json_output)


@measure_app.command("kernel")
def kernel(
    bzimage: Annotated[Path, typer.Argument(metavar="BZIMAGE", help="The kernel bzImage.")],
    json_output: JsonFlag = False,
) -> None:
    """kernel_measurement and setup_data_digest (Oak VMM and QEMU SEV-SNP variants)."""
    from auditor.measure.kernel import measure_kernel_file

    _emit(measure_kernel_file(bzimage), json_output)


@measure_app.command("initrd")
def initrd(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The initrd (initial RAM disk).")],
    json_output: JsonFlag = False,
) -> None:
    """SHA-256 of an initrd (stage0's ram_disk_digest), streamed."""
    from auditor.measure.initrd import measure_initrd

    _emit(measure_initrd(file), json_output)


@measure_app.command("cmdline")
def cmdline(
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The kernel command line.")],
    regex: Annotated[
        list[str] | None,
        typer.Option("--regex", metavar="REGEX",
                     help="An endorsed regex to match (repeatable)."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Digests of a kernel command line, its length check and endorsed-regex matches."""
    from auditor.measure.cmdline import measure_cmdline

    _emit(measure_cmdline(text, regex or []), json_output)


@measure_app.command("launch")
def launch(
    ovmf: Annotated[Path, typer.Option(metavar="FILE", help="The OVMF firmware image.")],
    kernel: Annotated[Path | None, typer.Option(
        metavar="BZIMAGE", help="Kernel for measured direct boot.")] = None,
    initrd: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Initrd (needs --kernel).")] = None,
    append: Annotated[str | None, typer.Option(
        metavar="TEXT", help="Command line (needs --kernel).")] = None,
    # A string, like every value here: click's own refusal of "abc" is a four-line usage text.
    vcpus: Annotated[str, typer.Option(metavar="N", help="Number of vCPUs.")] = "1",
    vcpu_type: Annotated[str | None, typer.Option(
        metavar="MODEL", help="QEMU CPU model, e.g. EPYC-Milan.")] = None,
    vcpu_sig: Annotated[str | None, typer.Option(
        metavar="EAX", help="CPUID(1).EAX, e.g. 0xa00f11.")] = None,
    guest_features: Annotated[str, typer.Option(
        metavar="BITS", help="VMSA SEV_FEATURES (decimal or 0x-prefixed hex).")] = "0x1",
    vmm_type: Annotated[str, typer.Option(
        metavar="qemu|gce|ec2", help="The VMM that launches the guest.")] = "qemu",
    json_output: JsonFlag = False,
) -> None:
    """SEV-SNP launch digest of OVMF, with kernel/initrd/cmdline hashes (kernel-hashes=on)."""
    from auditor.measure.launch import (
        LAUNCH_VMMS,
        DirectBoot,
        LaunchConfig,
        measure_launch_file,
        vcpu_sig_for,
    )
    from auditor.measure.vmm import Vmm

    if kernel is None and (initrd is not None or append is not None):
        raise InputError("--initrd and --append need --kernel")
    sig = None if vcpu_sig is None else integer(vcpu_sig, "--vcpu-sig", hex_too=True)
    config = LaunchConfig(
        vcpus=integer(vcpus, "--vcpus"),
        vmm_type=_choice(Vmm, vmm_type, "--vmm-type", LAUNCH_VMMS),
        vcpu_sig=vcpu_sig_for(vcpu_type, sig),
        guest_features=integer(guest_features, "--guest-features", hex_too=True),
        direct_boot=None if kernel is None else DirectBoot(kernel, initrd, append),
    )
    _emit(measure_launch_file(ovmf, config), json_output)


@measure_app.command("evidence")
def evidence(
    file: Annotated[Path, typer.Argument(metavar="FILE",
                                         help="An Oak Evidence message (binary or text).")],
    json_output: JsonFlag = False,
) -> None:
    """The measurements an Oak attestation reports: SNP MEASUREMENT, stage0 event, system image."""
    from auditor.local_files import MAX_DOCUMENT_SIZE
    from auditor.measure.artifact import read_artifact
    from auditor.measure.evidence import read_evidence

    _emit(read_evidence(read_artifact(file, "evidence", MAX_DOCUMENT_SIZE)), json_output)


def _emit(measurement: Measurement, json_output: bool) -> None:
    document = measurement.to_json()
    if json_output:
        print_json(document)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")  # digests are shown whole, never ellipsized
    for key, value in _flatten(document):
        # Text() is never parsed as markup; control characters are escaped besides.
        table.add_row(Text(key), Text(terminal_safe(value)))
    err_console().print(table)


def _flatten(document: JsonValue, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(document, dict):
        rows: list[tuple[str, str]] = []
        for key, value in document.items():
            rows += _flatten(value, f"{prefix}.{key}" if prefix else key)
        return rows
    if isinstance(document, list):
        # Recursing keeps scalar lists as they were and spells out lists of objects.
        return [row for i, v in enumerate(document) for row in _flatten(v, f"{prefix}[{i}]")]
    return [(prefix, _scalar(document))]


def _scalar(value: JsonValue) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _choice(enum: type[E], value: str, flag: str, allowed: tuple[E, ...] = ()) -> E:
    return _pick({member.value: member for member in allowed or tuple(enum)}, value, flag)


def _pick(choices: Mapping[str, T], value: str, flag: str) -> T:
    """What `value` (any case) names among `choices`; an error lists every name accepted."""
    try:
        return choices[value.lower()]
    except KeyError:
        raise InputError(f"{flag} {value!r} is not one of {', '.join(choices)}") from None


