"""Each SQLite failure of the machine is worded for what it is, on one line naming the file and
SQLite's result code, exit 2. Every error here is SQLite's own, made by a real condition: a
page limit (SQLITE_FULL, as a full disk gives it), a -wal and -shm deleted beneath an open
connection (SQLITE_IOERR), a write through a read-only connection (SQLITE_READONLY). Before,
a disk I/O error was "the disk failed a write (full?)", naming no file, whatever failed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from auditor.cli import _unexpected
from auditor.store.database import make_engine
from tests.cli_runner import RunAudit
from tests.oakdata import RELEASE


def reported(capsys: pytest.CaptureFixture[str], fail: Callable[[], object]) -> str:
    """What the CLI says of the database error `fail` raises, after checking it exits 2 in one
    line."""
    with pytest.raises(DBAPIError) as raised:
        fail()
    capsys.readouterr()
    assert _unexpected(raised.value) == 2
    said = capsys.readouterr().err.strip()
    assert len(said.splitlines()) == 1 and "internal error" not in said, said
    return said


def write(engine: Engine, *statements: str) -> None:
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def test_a_database_that_cannot_grow_is_full_not_an_io_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "small.db"
    engine = make_engine(f"sqlite:///{database}")
    write(engine, "CREATE TABLE t (x BLOB)")
    said = reported(capsys, lambda: write(engine, "PRAGMA max_page_count = 4",
                                          "INSERT INTO t VALUES (zeroblob(100000))"))
    assert said == (f"error: the database {database} cannot grow: its disk is full, or it "
                    "reached its size limit (SQLITE_FULL: database or disk is full)")
    engine.dispose()


def test_a_wal_deleted_beneath_a_connection_is_an_io_error_naming_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "wal.db"
    holder = make_engine(f"sqlite:///{database}")
    with holder.connect() as held:  # keeps the -wal, which holds the table, open
        held.execute(text("CREATE TABLE t (x)"))
        held.execute(text("INSERT INTO t VALUES (1)"))
        held.commit()
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink()
        other = make_engine(f"sqlite:///{database}")
        said = reported(capsys, lambda: write(other, "INSERT INTO t VALUES (2)"))
        other.dispose()
    holder.dispose()
    assert said.startswith(f"error: the operating system failed a read or write of the "
                           f"database {database} or of its -wal or -shm beside it "), said
    assert said.endswith(": disk I/O error)") and "(SQLITE_IOERR" in said, said
    assert "full" not in said


def test_a_write_through_a_read_only_connection_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "ro.db"
    write(make_engine(f"sqlite:///{database}"), "CREATE TABLE t (x)")
    engine = make_engine(f"sqlite:///{database}", read_only=True)
    said = reported(capsys, lambda: write(engine, "INSERT INTO t VALUES (1)"))
    assert said == (f"error: the database {database} cannot be written here (SQLITE_READONLY: "
                    "attempt to write a readonly database)")
    engine.dispose()


def test_a_corrupt_page_is_a_corrupt_file_not_an_internal_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "corrupt.db"
    engine = make_engine(f"sqlite:///{database}")
    write(engine, "CREATE TABLE t (x TEXT)", *["INSERT INTO t VALUES ('" + "x" * 500 + "')"] * 40)
    engine.dispose()  # the -wal copied into the file
    with database.open("r+b") as file:
        file.seek(4096)  # the table's first page, after sqlite_schema's
        file.write(b"\xff" * 64)
    engine = make_engine(f"sqlite:///{database}")
    said = reported(capsys, lambda: write(engine, "SELECT count(*) FROM t WHERE x != ''"))
    assert said == (f"error: the database file {database} is corrupt (SQLITE_CORRUPT: "
                    "database disk image is malformed)")
    engine.dispose()


# -- as the database is opened: the same wording (it was SQLite's words alone, naming no file:
# "cannot open the database: disk I/O error") -----------------------------------------------


def test_a_wal_deleted_before_a_command_opens_the_file_is_an_io_error_naming_it(
        tmp_path: Path, audit: RunAudit) -> None:
    database = tmp_path / "wal.db"
    holder = make_engine(f"sqlite:///{database}")
    with holder.connect() as held:  # keeps the -wal, which holds the table, open
        held.execute(text("CREATE TABLE t (x)"))
        held.commit()
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink()
        result = audit("status", "--db", f"sqlite:///{database}")
    holder.dispose()
    assert result.exit_code == 2, result.stderr
    [said] = result.stderr.strip().splitlines()
    assert said.startswith(f"error: the operating system failed a read or write of the "
                           f"database {database} or of its -wal or -shm beside it "), said
    assert said.endswith(": disk I/O error)") and "(SQLITE_IOERR" in said, said


def test_a_directory_named_as_the_database_cannot_be_opened_naming_it(
        tmp_path: Path, audit: RunAudit) -> None:
    directory = tmp_path / "auditor.db"
    directory.mkdir()
    result = audit("import", str(RELEASE / "endorsements.binarypb"), "--db",
                   f"sqlite:///{directory}")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: cannot open the database file {directory} (SQLITE_CANTOPEN: unable to open "
        "database file)"]
