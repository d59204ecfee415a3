"""initrd: `ram_disk_digest` = SHA-256 of the file, streamed in constant memory."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import InputError
from auditor.local_files import path_name
from auditor.measure.artifact import sha256_file
from auditor.measure.interface import JsonValue

# Stage0 records 32 zero bytes when the VMM supplies no initrd (Stage0Measurements).
ABSENT_RAM_DISK_DIGEST = bytes(32)
_EMPTY_SHA256 = hashlib.sha256().digest()
#: The largest initrd a VMM can hand over: fw_cfg's initrd size, which stage0 reads (and QEMU's
#: kernel-hashes table covers), is a u32. A larger file, or an endless pipe, boots no VM.
MAX_INITRD_SIZE = (1 << 32) - 1


@dataclass(frozen=True)
class InitrdMeasurement:
    sha256: bytes

    def to_json(self) -> dict[str, JsonValue]:
        return {"sha256": self.sha256.hex()}


def measure_initrd(path: Path | None) -> InitrdMeasurement:
    """The ram_disk_digest stage0 reports for `path`, or for no initrd at all."""
    if path is None:
        return InitrdMeasurement(ABSENT_RAM_DISK_DIGEST)
    digest = sha256_file(path, "initrd", MAX_INITRD_SIZE)
    if digest == _EMPTY_SHA256:
        # Stage0 takes an initrd of size 0 for none (fw_cfg get_initrd_file) and reports 32
        # zero bytes, never this digest; a FIFO without a writer reads as empty too.
        raise InputError(
            f"initrd {path_name(path)} is empty: stage0 boots without an initrd then and reports "
            "ram_disk_digest as 32 zero bytes, not the SHA-256 of an empty file"
        )
    return InitrdMeasurement(digest)
