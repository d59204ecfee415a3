"""Queries on a SQLite database the user cannot write: a copy handed to a reviewer, mode 0444
in a directory of mode 0555. Queries answer from it (they failed: WAL mode wants a `-shm`
file beside it), never wrongly (committed changes still in its `-wal` are read, or the query is
refused); commands that write refuse it in one line, as before.

Root writes whatever the modes say: each command runs in a forked child that first gives up
the capabilities that let root do so (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER), and
proves it cannot write the directory before it runs; another user runs as it is.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from auditor.cli import main
from tests.cli_runner import CliResult, RunAudit

RELEASE = Path(__file__).parents[1] / "data" / "oak" / "oak-containers-milan-release"
_CANNOT_DROP = 97  # the child could still write the directory: the test would prove nothing
# linux/capability.h: _LINUX_CAPABILITY_VERSION_3 and the bits root writes past modes with.
_CAPABILITY_VERSION_3 = 0x20080522
_FILE_CAPABILITIES = (1 << 1) | (1 << 2) | (1 << 3)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _give_up_writing_past_modes() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    data[0].effective &= ~_FILE_CAPABILITIES
    data[0].permitted &= ~_FILE_CAPABILITIES
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _audit_without_write_access(directory: Path, *args: str) -> CliResult:
    """`audit ARGS` in a child that cannot write `directory` (checked: the test is honest)."""
    out, err = directory.parent / "out.txt", directory.parent / "err.txt"
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            _give_up_writing_past_modes()
            try:
                (directory / "probe").touch()
                code = _CANNOT_DROP
            except PermissionError:
                with open(out, "w") as sys.stdout, open(err, "w") as sys.stderr:
                    sys.argv = ["audit", *args]
                    try:
                        main()
                    except SystemExit as exit_:
                        code = exit_.code if isinstance(exit_.code, int) else 0
        finally:
            os._exit(code)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    assert code != _CANNOT_DROP, "the child could write the read-only directory"
    return CliResult(code, out.read_text(), err.read_text())


@contextmanager
def _read_only(directory: Path) -> Iterator[Path]:
    """Every file in `directory` mode 0444 and the directory 0555, for the block."""
    for path in directory.iterdir():
        path.chmod(0o444)
    directory.chmod(0o555)
    try:
        yield directory
    finally:
        directory.chmod(0o755)


def _copy(database: Path, directory: Path, suffixes: tuple[str, ...]) -> Path:
    directory.mkdir()
    for suffix in ("", *suffixes):
        shutil.copyfile(f"{database}{suffix}", directory / f"auditor.db{suffix}")
    return directory / "auditor.db"


@pytest.fixture
def imported(tmp_path: Path, audit: RunAudit) -> Path:
    """A database holding the release's 5 endorsements, checkpointed into the file alone."""
    database = tmp_path / "made" / "auditor.db"
    database.parent.mkdir()
    result = audit("import", str(RELEASE / "endorsements.binarypb"), "--db",
                   f"sqlite:///{database}")
    assert result.exit_code == 0, result.stderr
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return database


def test_queries_answer_from_a_database_in_a_directory_they_cannot_write(
        imported: Path, tmp_path: Path) -> None:
    """Each failed with "cannot open the database: attempt to write a readonly database"."""
    copy = _copy(imported, tmp_path / "handed", ())
    url = f"sqlite:///{copy}"
    with _read_only(copy.parent) as directory:
        status = _audit_without_write_access(directory, "status", "--db", url)
        assert status.exit_code == 0, status.stderr
        assert "5 entries, 5 endorsements" in status.stderr
        for query in (["entries"], ["findings"], ["component", "kernel"]):
            result = _audit_without_write_access(directory, *query, "--db", url)
            assert result.exit_code == 0, (query, result.stderr)
        assert sorted(p.name for p in directory.iterdir()) == ["auditor.db"]


def test_commands_that_write_refuse_a_database_they_cannot_write_in_one_line(
        imported: Path, tmp_path: Path) -> None:
    copy = _copy(imported, tmp_path / "handed", ())
    with _read_only(copy.parent) as directory:
        for command in (["import", str(RELEASE / "endorsements.binarypb")], ["db", "upgrade"]):
            result = _audit_without_write_access(directory, *command, "--db", f"sqlite:///{copy}")
            assert result.exit_code == 2, (command, result.stderr)
            # It said "cannot open the database: attempt to write a readonly database", naming
            # no file: worded by SQLite's result code now, as a write mid-command is.
            assert result.stderr.strip().splitlines() == [
                f"error: the database {copy} cannot be written here (SQLITE_READONLY_DIRECTORY: "
                "attempt to write a readonly database)"]


def test_a_query_reads_what_is_committed_in_the_wal_or_refuses(imported: Path,
                                                                tmp_path: Path) -> None:
    """The copy's endorsements are committed in its `-wal` only: opened immutable, the file
    alone would answer "0 entries". With the `-shm` beside it SQLite reads the log; without it
    (and no directory to create it in) the query is refused, naming the `-wal`."""
    reader = sqlite3.connect(imported)  # open: the deletes below stay in the -wal
    reader.execute("PRAGMA wal_autocheckpoint=0")
    with reader:
        reader.execute("PRAGMA foreign_keys=OFF")
        reader.execute("DELETE FROM endorsements WHERE component = 'kernel'")
    try:
        whole = _copy(imported, tmp_path / "whole", ("-wal", "-shm"))
        cut = _copy(imported, tmp_path / "cut", ("-wal",))
    finally:
        reader.close()
    with _read_only(whole.parent) as directory:
        status = _audit_without_write_access(directory, "status", "--db", f"sqlite:///{whole}")
    assert status.exit_code == 0, status.stderr
    assert "5 entries, 4 endorsements" in status.stderr
    with _read_only(cut.parent) as directory:
        refused = _audit_without_write_access(directory, "status", "--db", f"sqlite:///{cut}")
    assert refused.exit_code == 2, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"error: the database {cut} has changes not yet in the file, in {cut}-wal, which "
        "SQLite reads only by writing beside the file, and it cannot here: copy the database "
        "with its journal to a directory you can write, and query the copy"]
