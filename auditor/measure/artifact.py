"""Reading local artifacts: every OS error becomes an `InputError` naming the file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from auditor.errors import InputError
from auditor.local_files import open_input, read_at_most


def read_artifact(path: Path, what: str, max_size: int) -> bytes:
    """The whole file, for artifacts small enough to hold in memory (firmware images, evidence),
    read no further than `max_size` (auditor.local_files: a pipe or device has no size)."""
    try:
        with open_input(path) as handle:
            data = read_at_most(handle, max_size)
    except OSError as error:
        raise InputError(f"cannot read {what} {path}: {error.strerror or error}") from None
    if data is None:
        raise InputError(f"{what} {path} is larger than {max_size} bytes")
    return data


def sha256_file(path: Path, what: str) -> bytes:
    """SHA-256 of a file in constant memory (hashlib.file_digest reads into one buffer)."""
    try:
        with open_input(path) as handle:
            return hashlib.file_digest(handle, "sha256").digest()
    except OSError as error:
        raise InputError(f"cannot read {what} {path}: {error.strerror or error}") from None
