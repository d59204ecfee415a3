"""Writing report files safely: never through a symlink, never half-written.

A report directory may be shared (a CI workspace, /var/lib): a symlink planted at the report's
path must not make the auditor overwrite `/etc/passwd`. Each report is written to a temporary
file in the same directory and renamed over the target (atomic on POSIX); a target that is a
symlink, a directory, or in a missing or read-only directory is refused with one line.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from auditor.errors import ConfigError


class ReportWriteError(ConfigError):
    """A report could not be written where it was asked for."""


def write_report(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, refusing symlinks and non-files."""
    with report_file(path) as out:
        out.write(text)


@contextmanager
def report_file(path: Path) -> Iterator[TextIO]:
    """A file to write the report into: a temporary file beside `path`, renamed over it when
    the block ends without error (atomic on POSIX), removed otherwise. Symlinks, non-files,
    missing or unwritable directories are refused with one line."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        info = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise ReportWriteError(f"cannot write the report {path}: {error.strerror}") from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise ReportWriteError(f"refusing to write the report {path}: it is a symbolic link")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise ReportWriteError(f"cannot write the report {path}: it is not a regular file")
    if not directory.is_dir():
        raise ReportWriteError(f"cannot write the report {path}: the directory {directory} "
                               "does not exist")
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.",
                                             suffix=".tmp")
    except OSError as error:
        raise ReportWriteError(f"cannot write the report {path}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            yield out
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)  # rename(2) replaces a symlink itself, never its target
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ReportWriteError(f"cannot write the report {path}: {error.strerror}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def check_directory(directory: Path, what: str = "reports") -> None:
    """Refuse now what `prepare_directory` would refuse once a run has ended: a directory that
    is a symbolic link, or a file where it or a directory above it should be (a run did all
    its work, then said "cannot create the report directory ...: File exists")."""
    if directory.is_symlink():
        raise ReportWriteError(f"refusing to write {what} into {directory}: it is a symbolic "
                               "link")
    existing = next((p for p in (directory, *directory.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ReportWriteError(f"cannot write {what} into {directory}: {existing} is not a "
                               "directory")


def prepare_directory(directory: Path) -> None:
    """Create the report directory (not through a symlinked final component)."""
    check_directory(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportWriteError(f"cannot create the report directory {directory}: "
                               f"{error.strerror}") from None
    if not directory.is_dir():
        raise ReportWriteError(f"cannot write reports into {directory}: not a directory")
