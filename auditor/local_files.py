"""Files the auditor is handed (documents, receipts, keys, artifacts): opened without blocking,
read into memory only up to a bound.

A directory to import may come out of an archive, and `tar` restores a FIFO or a device node as
faithfully as a file. Opened the usual way, a FIFO blocks until something writes to it (an
import that never ends), and a pipe or `/dev/zero` has no size to check before reading (a read
that never stops). Opened with O_NONBLOCK, a FIFO without a writer reads as empty, which its
parser then refuses like any other malformed file; read in chunks, a file past its bound is
refused as soon as the bound is passed. A pipe with a writer (`<(command)`) still reads to its
end: the descriptor is made blocking again once open.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import BinaryIO

#: The most bytes a document is read into memory with: a Rekor entry, a Sigstore bundle, a
#: receipt, a key or an Oak message is kilobytes (Oak's Endorsements message of a whole release
#: is 40 KB); a document this large is not one.
MAX_DOCUMENT_SIZE = 64 << 20
_CHUNK = 1 << 20


def open_input(path: Path) -> io.BufferedReader:
    """`path` opened for reading; never blocks on a FIFO. Raises OSError as `open` does."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")  # refuses a directory (IsADirectoryError)
    except BaseException:
        os.close(fd)
        raise


def read_at_most(handle: BinaryIO, limit: int | None) -> bytes | None:
    """Everything `handle` holds, or None if that is more than `limit` bytes (`None`: no
    bound). Never reads more than `limit + 1` bytes."""
    if limit is None:
        return handle.read()
    info = os.fstat(handle.fileno())
    if stat.S_ISREG(info.st_mode) and info.st_size > limit:
        return None  # a regular file says its size: refused without reading it
    chunks: list[bytes] = []
    total = 0
    while chunk := handle.read(min(_CHUNK, limit + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
    return None if total > limit else b"".join(chunks)


def path_name(path: Path | str) -> str:
    """How a path is named in stored rows and output. A name that is not UTF-8 (a tar archive
    restores any bytes) reaches Python with surrogates, which no database and no UTF-8 output
    holds: its bytes are shown escaped (`kern\\xffel`)."""
    try:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file name decodes to: text from elsewhere
        return os.fspath(path).encode("utf-8", "backslashreplace").decode("utf-8")
