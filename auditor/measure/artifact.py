"""Reading local artifacts: every OS error becomes an `InputError` naming the file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from auditor.errors import InputError


def read_artifact(path: Path, what: str, max_size: int | None = None) -> bytes:
    """The whole file, for artifacts small enough to hold in memory (firmware images)."""
    try:
        with path.open("rb") as handle:
            if max_size is not None and os.fstat(handle.fileno()).st_size > max_size:
                raise InputError(f"{what} {path} is larger than {max_size} bytes")
            return handle.read()
    except OSError as error:
        raise InputError(f"cannot read {what} {path}: {error.strerror or error}") from None


def sha256_file(path: Path, what: str) -> bytes:
    """SHA-256 of a file in constant memory (hashlib.file_digest reads into one buffer)."""
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").digest()
    except OSError as error:
        raise InputError(f"cannot read {what} {path}: {error.strerror or error}") from None
