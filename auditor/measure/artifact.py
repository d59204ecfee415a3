"""Reading local artifacts: every OS error becomes an `InputError` naming the file."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from auditor.errors import InputError
from auditor.local_files import open_input, path_name, read_at_most

_CHUNK = 1 << 20


def unreadable(what: str, path: Path, error: OSError) -> InputError:
    """The error for a file that cannot be read, naming it as path_name shows names (a name
    that is not UTF-8 with its bytes escaped, `k\\xffernel`, not as Python's surrogates)."""
    return InputError(f"cannot read {what} {path_name(path)}: {error.strerror or error}")


#: The most bytes hashed of an artifact no VMM bounds (a system image, a container bundle: a
#: component of kind `file`). Oak's are megabytes; past this it is not a measured artifact but,
#: say, a disk image named by mistake, or an endless pipe, which was hashed for ever.
MAX_FILE_SIZE = 16 << 30


def too_large(name: str, what: str, max_size: int) -> InputError:
    """The error for an artifact past its kind's limit, naming the limit (`what`: the kind)."""
    return InputError(f"{name} is larger than {max_size} bytes, the {what} limit"
                      f"{_in_units(max_size)}")


def _in_units(size: int) -> str:
    """` (64 MiB)`, ` (4 GiB - 1 byte)` (fw_cfg's u32), or nothing for other sizes."""
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if size and size % (1 << shift) == 0:
            return f" ({size >> shift} {unit})"
        if (size + 1) % (1 << shift) == 0:
            return f" ({(size + 1) >> shift} {unit} - 1 byte)"
    return ""


def read_artifact(path: Path, what: str, max_size: int) -> bytes:
    """The whole file, for artifacts small enough to hold in memory (firmware images, evidence),
    read no further than `max_size` (auditor.local_files: a pipe or device has no size)."""
    try:
        with open_input(path) as handle:
            data = read_at_most(handle, max_size)
    except OSError as error:
        raise unreadable(what, path, error) from None
    if data is None:
        raise too_large(f"{what} {path_name(path)}", what, max_size)
    return data


def sha256_file(path: Path, what: str, max_size: int, kind: str | None = None) -> bytes:
    """SHA-256 of a file in constant memory, read no further than `max_size` bytes (`/dev/zero`
    or an endless pipe never ends); `kind`: whose limit that is (default: `what`'s)."""
    name = f"{what} {path_name(path)}"
    kind = kind or what
    try:
        with open_input(path) as handle:
            refuse_oversized(handle, name, kind, max_size)
            digest = hashlib.sha256()
            for chunk in bounded_chunks(handle, name, kind, max_size):
                digest.update(chunk)
            return digest.digest()
    except OSError as error:
        raise unreadable(what, path, error) from None


def refuse_oversized(handle: BinaryIO, name: str, what: str, max_size: int) -> None:
    """Refuse, unread, a regular file whose size is past `max_size` (a pipe has none)."""
    info = os.fstat(handle.fileno())
    if stat.S_ISREG(info.st_mode) and info.st_size > max_size:
        raise too_large(name, what, max_size)


def bounded_chunks(stream: BinaryIO, name: str, what: str, max_size: int,
                   already: int = 0) -> Iterator[bytes]:
    """The rest of `stream` in chunks, refused once more than `max_size` bytes are read in all
    (`already`: how many were read before): never more than a chunk past the limit is read."""
    total = already
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
        if total > max_size:
            raise too_large(name, what, max_size)
        yield chunk
