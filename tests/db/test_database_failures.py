"""A database that fails beneath a command: one line and exit 3, never an internal error.

SQLite locked by another process past the busy timeout; a PostgreSQL statement cancelled by
the server (a lock timeout here: a statement timeout or a lost connection is the same class of
error). What was stored before stays stored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from auditor.store import database
from auditor.store.database import engine_of, open_database
from tests.cli_runner import RunAudit

RELEASE = Path(__file__).parents[1] / "data" / "oak" / "oak-containers-milan-release"


@contextmanager
def _writer_holding_the_database(db_url: str) -> Iterator[None]:
    """Another process's open write transaction: SQLite's write lock, or PostgreSQL's lock on
    the entries table."""
    if db_url.startswith("sqlite"):
        holder = sqlite3.connect(make_url(db_url).database or "", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = create_engine(db_url)
    with engine.connect() as connection, connection.begin():
        connection.execute(text("LOCK TABLE entries IN ACCESS EXCLUSIVE MODE"))
        yield
    engine.dispose()


def test_a_database_held_by_another_writer_ends_an_import_in_one_line(
        db_url: str, audit: RunAudit, monkeypatch: pytest.MonkeyPatch) -> None:
    """It was an internal error (exit 70) quoting the SQL and its parameters."""
    engine_of(open_database(db_url)).dispose()
    monkeypatch.setattr(database, "LOCKED_BUDGET", 0.3)  # SQLite waits 30 s for a lock
    # A server that bounds how long a statement waits for a lock, as a shared one may.
    url = db_url if db_url.startswith("sqlite") else f"{db_url}&options=-c%20lock_timeout%3D300"
    with _writer_holding_the_database(db_url):
        result = audit("import", str(RELEASE / "endorsements.binarypb"), "--db", url)
    assert result.exit_code == 3, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "internal error" not in result.stderr and "SQL" not in result.stderr
    assert ("locked by another process for 0.3 s" in result.stderr
            if db_url.startswith("sqlite") else "lock timeout" in result.stderr), result.stderr
    again = audit("import", str(RELEASE / "endorsements.binarypb"), "--db", db_url)
    assert again.exit_code == 0, again.stderr


@contextmanager
def _held_exclusively(path: Path) -> Iterator[None]:
    """Another process's exclusive lock, which keeps even readers out (`PRAGMA locking_mode =
    EXCLUSIVE`, an open EXCLUSIVE transaction): a run meets it as it opens the database."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("SELECT count(*) FROM sqlite_master").fetchone()
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("moment", ["opening", "creating"])
def test_a_database_locked_as_a_command_opens_it_is_incomplete_as_mid_run(
        moment: str, audit: RunAudit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same lock exited 2 (a usage error: mend the config) when met as the database was
    opened or its schema created, and 3 (incomplete: try again) when met mid-run; cron
    retries only the second. Now both are exit 3, in the same words."""
    path = tmp_path / "auditor.db"
    url = f"sqlite:///{path}"
    if moment == "opening":
        engine_of(open_database(url)).dispose()
        holding = _held_exclusively(path)
    else:  # a new, empty database another process is writing to
        path.touch()
        holding = _writer_holding_the_database(url)
    monkeypatch.setattr(database, "LOCKED_BUDGET", 0.3)
    with holding:
        result = audit("import", str(RELEASE / "endorsements.binarypb"), "--db", url)
    assert result.exit_code == 3, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: the database stayed locked by another process for 0.3 s: what was stored "
        "before is kept; try again"], result.stderr
    again = audit("import", str(RELEASE / "endorsements.binarypb"), "--db", url)
    assert again.exit_code == 0, again.stderr
