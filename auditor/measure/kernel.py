"""Kernel (bzImage): what stage0 measures into its event log, in both VMM variants.

The VMM splits the bzImage into the real-mode setup (`setup_sects + 1` sectors) and the
protected-mode kernel, and stage0 measures each (Oak oak_kernel_measurement; Linux
Documentation/arch/x86/boot.rst for the header fields). Oak's VMM edits the setup header the
way QEMU's x86_load_linux does before handing it over; QEMU with SEV-SNP ships it unmodified.
Stage0 zeroes the ramdisk address and size before measuring, so both variants zero those.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from auditor.errors import InputError
from auditor.local_files import open_input, path_name
from auditor.measure.artifact import bounded_chunks, refuse_oversized, unreadable
from auditor.measure.interface import JsonValue

SETUP_SECTS_OFFSET = 0x1F1
SYSSIZE_OFFSET = 0x1F4  # u32: the protected-mode kernel's size in 16-byte paragraphs
HEADER_MAGIC_OFFSET = 0x202
HEADER_MAGIC = b"HdrS"
PROTOCOL_OFFSET = 0x206
# boot.rst: before protocol 2.04 syssize is two bytes wide and "cannot be trusted".
SYSSIZE_PROTOCOL = 0x0204
PARAGRAPH = 16
#: The most bytes of a bzImage read. fw_cfg's kernel size is a u32 (4 GiB), but a bzImage is a
#: compressed kernel loaded below 4 GiB with its decompression room: a distribution's is 10 to
#: 20 MiB, and this is far beyond any. A FIFO or pipe that never ends after a valid header was
#: hashed for ever; a larger file is refused unread.
MAX_KERNEL_SIZE = 1 << 30


class SetupVariant(StrEnum):
    OAK_VMM = "oak_vmm"  # Oak's published value: the setup as Oak's VMM edits it
    QEMU_SNP = "qemu_snp"  # QEMU with SEV-SNP: the setup as shipped


@dataclass(frozen=True)
class KernelMeasurement:
    sha256: bytes  # of the bzImage file
    kernel_measurement: bytes  # sha256 of everything after the setup
    setup_data_digest: dict[SetupVariant, bytes]

    def setup_variant_for(self, digest: bytes) -> SetupVariant | None:
        """Which variant an observed setup_data_digest corresponds to, if any."""
        for variant, ours in self.setup_data_digest.items():
            if ours == digest:
                return variant
        return None

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "sha256": self.sha256.hex(),
            "kernel_measurement": self.kernel_measurement.hex(),
            "setup_data_digest": {v.value: d.hex() for v, d in self.setup_data_digest.items()},
        }


def measure_kernel_file(path: Path, max_size: int = MAX_KERNEL_SIZE) -> KernelMeasurement:
    try:
        with open_input(path) as handle:
            refuse_oversized(handle, path_name(path), "kernel", max_size)
            return measure_kernel(handle, path_name(path), max_size)
    except OSError as error:
        raise unreadable("kernel", path, error) from None


def measure_kernel(stream: BinaryIO, name: str = "kernel",
                   max_size: int = MAX_KERNEL_SIZE) -> KernelMeasurement:
    """Measure a bzImage read from `stream`, hashing the kernel part in constant memory and
    reading no more than `max_size` bytes in all."""
    head = stream.read(SETUP_SECTS_OFFSET + 1)
    if len(head) <= SETUP_SECTS_OFFSET:
        raise InputError(f"{name} is {len(head)} bytes, too short for a bzImage boot header")
    setup_size = setup_size_of(head[SETUP_SECTS_OFFSET])
    setup = head + stream.read(setup_size - len(head))
    if len(setup) < setup_size:
        raise InputError(
            f"{name} is {len(setup)} bytes but its boot header declares a {setup_size}-byte "
            "setup: truncated or not a bzImage"
        )
    if setup[HEADER_MAGIC_OFFSET : HEADER_MAGIC_OFFSET + 4] != HEADER_MAGIC:
        raise InputError(f"{name} has no 'HdrS' boot header magic at 0x202: not a bzImage")
    file_hash = hashlib.sha256(setup)
    kernel_hash = hashlib.sha256()
    kernel_size = 0
    for chunk in bounded_chunks(stream, name, "kernel", max_size, already=len(setup)):
        file_hash.update(chunk)
        kernel_hash.update(chunk)
        kernel_size += len(chunk)
    if kernel_size == 0:
        raise InputError(f"{name} ends after its setup: no protected-mode kernel, not a bzImage")
    _check_kernel_size(setup, kernel_size, name)
    return KernelMeasurement(
        sha256=file_hash.digest(),
        kernel_measurement=kernel_hash.digest(),
        setup_data_digest={
            v: hashlib.sha256(setup_as_measured(setup, v)).digest() for v in SetupVariant
        },
    )


def _check_kernel_size(setup: bytes, kernel_size: int, name: str) -> None:
    """Refuse a bzImage shorter than its header says: hashing what is there of a truncated
    download or copy gives a kernel_measurement no VM ever reports, with no sign of why.

    The kernel build writes exactly `syssize` paragraphs after the setup (arch/x86/boot:
    build.c before Linux 6.7, `syssize = ZO__edata / 16` since); a signed image carries its
    signature after them, so a longer file is whole, and the VMM hands all of it to stage0.
    """
    protocol = int.from_bytes(setup[PROTOCOL_OFFSET : PROTOCOL_OFFSET + 2], "little")
    if protocol < SYSSIZE_PROTOCOL:
        return
    declared = PARAGRAPH * int.from_bytes(setup[SYSSIZE_OFFSET : SYSSIZE_OFFSET + 4], "little")
    if kernel_size < declared:
        raise InputError(
            f"{name} is {len(setup) + kernel_size} bytes but its boot header declares "
            f"{len(setup) + declared} ({len(setup)}-byte setup and syssize {declared // PARAGRAPH} "
            "paragraphs): truncated"
        )


def setup_size_of(setup_sects: int) -> int:
    # boot.rst: "If this field is 0, the real value is 4."
    return 512 * ((setup_sects or 4) + 1)


def setup_as_measured(setup: bytes, variant: SetupVariant) -> bytes:
    """The setup bytes stage0 hashes, after the VMM's and stage0's own edits."""
    edited = bytearray(setup)
    if variant is SetupVariant.OAK_VMM:
        edited[0x210] = 0xB0  # type_of_loader: QEMU
        edited[0x211] |= 0x80  # loadflags: CAN_USE_HEAP
        edited[0x224:0x226] = (0x20000 - 0x10000 - 0x200).to_bytes(2, "little")  # heap_end_ptr
        edited[0x228:0x22C] = (0x20000).to_bytes(4, "little")  # cmd_line_ptr
    # Stage0 zeroes ramdisk_image and ramdisk_size so the digest does not depend on the initrd.
    edited[0x218:0x220] = bytes(8)
    return bytes(edited)
