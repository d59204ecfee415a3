"""The run lock on a shared server: held for the whole run whatever the server's idle timeouts,
and released without hiding why a run ended.

Each test runs on SQLite (a file lock) and PostgreSQL (a session advisory lock), where the
server settings a team's database may have (idle timeouts, a terminated session) apply.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from auditor.errors import LockedError, LockLostError
from auditor.store.database import engine_of, open_database
from auditor.store.lock import RunLock
from tests.cli_runner import RunAudit

RELEASE = Path(__file__).parents[1] / "data" / "oak" / "oak-containers-milan-release"


def _server_sets(db_url: str, setting: str, value: str) -> None:
    """What a DBA sets for every session of the database (new sessions take it)."""
    engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        name = make_url(db_url).database
        connection.execute(text(f'ALTER DATABASE "{name}" SET {setting} = \'{value}\''))
    engine.dispose()


@pytest.mark.parametrize("setting", ["idle_in_transaction_session_timeout",
                                     "idle_session_timeout"])
def test_an_idle_timeout_of_the_server_does_not_end_the_lock_of_a_running_run(
        db_url: str, setting: str) -> None:
    """The lock's session sat idle in a transaction for the whole run: the server ended it
    after its timeout, the lock went with it, and a second run started beside the first."""
    if db_url.startswith("postgresql"):
        _server_sets(db_url, setting, "200ms")
    first, second = engine_of(open_database(db_url)), engine_of(open_database(db_url))
    with RunLock(first):
        time.sleep(0.5)  # the run works on other connections meanwhile
        with pytest.raises(LockedError):
            RunLock(second).acquire()
    with RunLock(second):  # released as the first run ended: the next run takes it
        pass
    first.dispose()
    second.dispose()


def end_other_sessions(db_url: str) -> None:
    """As a server restart or an administrator does: every other session of the database."""
    killer = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with killer.connect() as connection:
        connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    killer.dispose()


def test_a_lock_whose_session_the_server_ended_is_released_without_an_error(
        db_url: str) -> None:
    """A session that is gone (a server restart, an administrator) took its lock with it:
    releasing it raised, and the CLI showed that error instead of the one that ended the run."""
    engine = engine_of(open_database(db_url))
    lock = RunLock(engine)
    lock.acquire()
    if db_url.startswith("postgresql"):
        end_other_sessions(db_url)
    lock.release()
    with RunLock(engine):
        pass
    engine.dispose()


def test_a_database_named_through_a_symlink_has_the_same_lock(db_url: str,
                                                              tmp_path: Path) -> None:
    """SQLite: the lock file sat beside the name the URL gave, so a run through a symlink
    locked a file of its own and went on beside the run holding the lock (PostgreSQL: one
    database, one advisory lock, whatever the URL)."""
    engine = engine_of(open_database(db_url))
    url = make_url(db_url)
    if db_url.startswith("sqlite"):
        (tmp_path / "link.db").symlink_to(url.database or "")
        url = url.set(database=str(tmp_path / "link.db"))
    other = engine_of(open_database(url.render_as_string(hide_password=False)))
    with RunLock(engine), pytest.raises(LockedError):
        RunLock(other).acquire()
    engine.dispose()
    other.dispose()


def test_a_run_whose_lock_session_the_server_ended_stops(db_url: str) -> None:
    """The pool replaces a session the server ended as it is taken out; the lock's session,
    ended with it, is not replaced: the run went on without its lock, beside the next run to
    take it. Now the first connection taken afterwards stops the run (exit 3), and every later
    one says the same; SQLite's file lock cannot be ended so."""
    engine = engine_of(open_database(db_url))
    lock = RunLock(engine)
    lock.acquire()
    with engine.connect() as connection:  # the run at work: a session waits in the pool
        connection.execute(text("SELECT 1"))
    if db_url.startswith("postgresql"):
        end_other_sessions(db_url)
        for _ in range(2):
            with pytest.raises(LockLostError, match="ended the session holding this run's lock"):
                engine.connect().close()
    else:
        engine.connect().close()
    lock.release()
    with RunLock(engine), engine.connect() as connection:  # the next run works
        assert connection.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()


def test_a_database_with_two_names_is_refused_under_either(audit: RunAudit,
                                                           tmp_path: Path) -> None:
    """SQLite: each name of a hard-linked file took a run lock of its own (the lock sits beside
    the name), and each keeps a -wal of its own (SQLite: undefined behaviour), so two runs went
    on at once through two logs. No shared lock mends the logs: every command refuses the
    file under either name (exit 2, one line), and the one name left works again."""
    path, other = tmp_path / "auditor.db", tmp_path / "other.db"
    engine_of(open_database(f"sqlite:///{path}")).dispose()
    os.link(path, other)
    for name in (path, other):
        for command in (["import", str(RELEASE / "endorsements.binarypb")], ["status"]):
            result = audit(*command, "--db", str(name))
            assert result.exit_code == 2, (command, result.stderr)
            assert result.stderr.strip().splitlines() == [
                f"error: the database {name} has 2 names (hard links), and SQLite keeps its "
                "journal beside the name it opens, so runs under two names lose or corrupt "
                "what is stored: keep one name (`find / -xdev -samefile FILE` lists them) and "
                "remove the others, or copy the file"]
    other.unlink()
    assert audit("import", str(RELEASE / "endorsements.binarypb"), "--db", str(path)).exit_code == 0
