"""initrd: `ram_disk_digest` = SHA-256 of the file, streamed in constant memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditor.measure.artifact import sha256_file
from auditor.measure.interface import JsonValue

# Stage0 records 32 zero bytes when the VMM supplies no initrd (Stage0Measurements).
ABSENT_RAM_DISK_DIGEST = bytes(32)


@dataclass(frozen=True)
class InitrdMeasurement:
    sha256: bytes

    def to_json(self) -> dict[str, JsonValue]:
        return {"sha256": self.sha256.hex()}


def measure_initrd(path: Path | None) -> InitrdMeasurement:
    """The ram_disk_digest stage0 reports for `path`, or for no initrd at all."""
    if path is None:
        return InitrdMeasurement(ABSENT_RAM_DISK_DIGEST)
    return InitrdMeasurement(sha256_file(path, "initrd"))
