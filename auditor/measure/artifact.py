"""Reading local artifacts: every OS error becomes an `InputError` naming the file."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

from auditor.errors import InputError
from auditor.local_files import open_input, path_name, read_at_most

_CHUNK = 1 << 20


def unreadable(what: str, path: Path, error: OSError) -> InputError:
    """The error for a file that cannot be read, naming it as path_name shows names (a name
    that is not UTF-8 with its bytes escaped, `k\\xffernel`, not as Python's surrogates)."""
    return InputError(f"cannot read {what} {path_name(path)}: {error.strerror or error}")


def read_artifact(path: Path, what: str, max_size: int) -> bytes:
    """The whole file, for artifacts small enough to hold in memory (firmware images, evidence),
    read no further than `max_size` (auditor.local_files: a pipe or device has no size)."""
    try:
        with open_input(path) as handle:
            data = read_at_most(handle, max_size)
    except OSError as error:
        raise unreadable(what, path, error) from None
    if data is None:
        raise InputError(f"{what} {path_name(path)} is larger than {max_size} bytes")
    return data


def sha256_file(path: Path, what: str, max_size: int | None = None) -> bytes:
    """SHA-256 of a file in constant memory (hashlib.file_digest reads into one buffer), read
    no further than `max_size` bytes when given (`/dev/zero` or an endless pipe never ends)."""
    try:
        with open_input(path) as handle:
            if max_size is None:
                return hashlib.file_digest(handle, "sha256").digest()
            return _bounded_sha256(handle, f"{what} {path_name(path)}", max_size)
    except OSError as error:
        raise unreadable(what, path, error) from None


def _bounded_sha256(handle: BinaryIO, name: str, max_size: int) -> bytes:
    info = os.fstat(handle.fileno())
    if stat.S_ISREG(info.st_mode) and info.st_size > max_size:
        raise InputError(f"{name} is larger than {max_size} bytes")  # refused unread
    digest = hashlib.sha256()
    total = 0
    while chunk := handle.read(_CHUNK):
        total += len(chunk)
        if total > max_size:
            raise InputError(f"{name} is larger than {max_size} bytes")
        digest.update(chunk)
    return digest.digest()
