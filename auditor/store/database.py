"""Opening the database, and keeping its schema at the migrations' head.

The URL is one setting (`auditor.settings`). A brand-new database is created at head by the
commands that write; read-only commands refuse a database that does not exist. An existing one
at an older revision is refused until `audit db upgrade` (which backs a SQLite file up first)
migrates it; one written by a newer auditor is refused with that reason. Alembic is imported
only to create or migrate a schema: queries start without it.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from auditor.errors import ConfigError, IncompleteError
from auditor.store import planner_statistics

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import ExceptionContext

#: Every schema revision this auditor knows, oldest first (a test checks them against Alembic's
#: scripts). Knowing them without Alembic keeps a query's start-up light.
REVISIONS = ("0001", "0002", "0003", "0004", "0006", "0007", "0008", "0009", "0010")
HEAD_REVISION = REVISIONS[-1]
#: How long to wait out a transiently locked SQLite database when opening it (seconds).
LOCKED_BUDGET = 30.0
#: pg_advisory_xact_lock key (a bigint): one process at a time creates or migrates the schema.
_SCHEMA_LOCK = int.from_bytes(hashlib.sha256(b"auditor schema").digest()[:8], "big") >> 1


def migrations_dir() -> Path:
    """Migrations ship inside the wheel as `auditor/_migrations`; a checkout has `migrations/`."""
    installed = Path(str(resources.files("auditor"))) / "_migrations"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # The busy timeout makes a connection wait for another writer instead of failing at once;
    # it comes first because switching to WAL itself may wait for a writer. WAL lets readers
    # work beside a writer; foreign keys are off by default in SQLite.
    cursor.execute(f"PRAGMA busy_timeout={int(LOCKED_BUDGET * 1000)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_read_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # A query's connection is read-only: it waits for a writer as the others do, and leaves
    # the journal mode as the file has it (switching to WAL writes).
    dbapi_connection.execute(f"PRAGMA busy_timeout={int(LOCKED_BUDGET * 1000)}")


def _postgresql_utc(dbapi_connection: Any, _record: Any) -> None:
    # A timestamptz comes back in the session's zone (the server's TimeZone, or libpq's PGTZ):
    # every stored time is read in UTC, as SQLite gives it, so tables labelled UTC, reports
    # and evidence read alike whatever the server. Outside a transaction, so no rollback of
    # the connection's first transaction undoes it (SQLAlchemy's documented way).
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    cursor = dbapi_connection.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.close()
    dbapi_connection.autocommit = autocommit


def _begin_before_savepoint(connection: Connection, _name: str) -> None:
    # A SAVEPOINT outside a transaction starts one, and its RELEASE commits it. pysqlite opens
    # transactions lazily, at the first INSERT/UPDATE/DELETE, so a session whose first write
    # is in a savepoint (get_or_create) would commit that row alone, mid-transaction, where
    # other writers see it without the rows stored with it. Begin the transaction first;
    # IMMEDIATE takes the write lock now (waiting up to busy_timeout), as the write will.
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection is not None and not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN IMMEDIATE")


def parse_url(url: str | URL) -> URL:
    """The URL parsed, or a ConfigError that shows it without its password (a port that is no
    number was an internal error, and a query's first look at the URL one too)."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"the database URL {_masked(str(url))!r} is not a valid SQLAlchemy "
                          "URL (dialect+driver://user:password@host:port/database)") from None


def _masked(url: str) -> str:
    """A URL with its password (after `user:`, or a `password=` parameter) shown as ***."""
    url = re.sub(r"(://[^/?#@:]*:)[^@]*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&#]*", r"\1***", url)


def _refuse_other_names(path: Path) -> None:
    """Refuse a SQLite file with more than one name (hard links; a symlink is resolved).

    SQLite keeps its -wal and -shm beside the name a file is opened by, and documents a link
    count other than 1 as undefined behaviour: runs under two names wrote through two logs,
    and each took a run lock of its own (the lock sits beside the name too), so they went on
    at once; a query under one name missed what the other's log held. No lock can mend the
    logs, so the file is refused under every name.
    """
    try:
        links = path.stat().st_nlink if path.is_file() else 1
    except OSError:
        return  # a file that cannot be looked at: opening it says why
    if links > 1:
        raise ConfigError(
            f"the database {path} has {links} names (hard links), and SQLite keeps its journal "
            "beside the name it opens, so runs under two names lose or corrupt what is "
            "stored: keep one name (`find / -xdev -samefile FILE` lists them) and remove the "
            "others, or copy the file")


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine on the database; `read_only`: SQLite opened for queries alone (see
    `auditor.store.read_only`), which work on a file or directory they cannot write."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            # Each connection would get a database of its own, dropped as it closes: `db
            # upgrade` said it created the schema, then a crawl was refused as "at revision
            # none".
            raise ConfigError(f"the database URL {url!r} is an in-memory SQLite database, "
                              "which keeps nothing past the connection that made it: name a "
                              "file")
        directory = Path(parsed.database or "").parent
        if not directory.is_dir():
            raise ConfigError(f"the database {parsed.database!r} is in a directory that does not "
                              f"exist ({str(directory)!r}): create it, or name another")
        _refuse_other_names(Path(parsed.database or ""))
        if parsed.query:
            # SQLAlchemy's SQLite driver takes none but `uri=true` and warns of the rest, which
            # it drops: `?mode=ro` opened the file read-write, with a warning of two lines.
            raise ConfigError(f"the SQLite database {_shown(parsed)} is named with query "
                              f"arguments ({', '.join(sorted(parsed.query))}), which the "
                              "auditor does not take: name the file alone")
    # A server's connection may end while it waits in the pool (idle_session_timeout, a
    # restart between batches): tested as it is taken out, and replaced, so the next batch
    # is stored instead of the run ending on a dead connection. SQLite's never end.
    options = {} if parsed.get_backend_name() == "sqlite" else {"pool_pre_ping": True}
    try:
        engine = create_engine(url, **options)
    except Exception as error:  # missing driver, bad options: a config error, not a crash
        raise ConfigError(f"cannot open database {_shown(parsed)}: {error}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "handle_error", _name_sqlite_file)
    if engine.dialect.name == "sqlite" and read_only:
        _open_read_only(engine, parsed.database or "")
    elif engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _begin_before_savepoint)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgresql_utc)
    return engine


def _open_read_only(engine: Engine, database: str) -> None:
    """Every connection of the engine opens the file by its read-only URI; the engine's URL,
    which messages and the run lock name, stays the file's."""
    from auditor.store.read_only import read_only_uri

    uri = read_only_uri(database)

    def by_uri(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        cargs[0] = uri
        cparams["uri"] = True

    event.listen(engine, "do_connect", by_uri)
    event.listen(engine, "connect", _sqlite_read_pragmas)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    return HEAD_REVISION


def current_revision(engine: Engine) -> str | None:
    # SQLite answers "database is locked" without waiting in a few cases its busy handler
    # does not cover (switching a new file to WAL while another connection creates the
    # schema, lock upgrades that could deadlock): such a lock is transient, so wait it out.
    deadline = time.monotonic() + LOCKED_BUDGET
    delay = 0.02
    while True:
        try:
            with connect(engine) as connection:
                return _revision(connection)
        except _Locked:
            if time.monotonic() + delay > deadline:
                raise IncompleteError(locked_too_long()) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


class _Locked(Exception):
    """SQLite said "database is locked": transient, for the caller to wait out."""


def locked_too_long() -> str:
    """Why a command stopped on a SQLite database another process held past the busy timeout.

    One wording and one exit code (3, incomplete: cron tries again) whether the lock is met as
    the database is opened or mid-run: at the open it was a usage error (exit 2), which a job
    treats as a configuration to mend, not a moment to retry.
    """
    return (f"the database stayed locked by another process for {LOCKED_BUDGET:g} s: what was "
            "stored before is kept; try again")


def connect(engine: Engine) -> Connection:
    """A connection to the database, or the one reason a command cannot have one (see
    `_refusal`): every command opens the database through this, to read, create or migrate it.
    """
    try:
        return engine.connect()
    except DatabaseError as error:
        if engine.dialect.name != "sqlite" and not isinstance(error, OperationalError):
            # A server refusing the connection's options (psycopg: ProgrammingError) has no
            # database to be foreign: it was "not an auditor database".
            raise ConfigError(f"cannot open the database {_shown(engine.url)}: "
                              f"{first_line(error.orig)}") from None
        raise _refusal(error, engine.url) from None


def _refusal(error: DatabaseError, url: str | URL) -> Exception:
    """What to raise for a database that failed to open or to answer: a server that refuses, a
    missing database or bad credentials is "cannot open the database"; a file that is not a
    database (SQLite fails as it opens one: "file is not a database") or holds a foreign schema
    is "not an auditor database"; a SQLite lock is `_Locked`; any other failure of the machine
    is worded by SQLite's result code (`sqlite_failure`), as it is mid-command."""
    if isinstance(error, OperationalError) and "locked" in str(error.orig):
        return _Locked()
    machine = None if _not_a_database(error) else sqlite_failure(error, _shown(url))
    if machine is not None:
        return ConfigError(machine)
    if isinstance(error, OperationalError):
        return ConfigError(f"cannot open the database: {error.orig}")
    return ConfigError(f"{_shown(url)} is not an auditor database ({first_line(error.orig)})")


def _revision(connection: Connection) -> str | None:
    try:
        if "alembic_version" not in inspect(connection).get_table_names():
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DatabaseError as error:  # "file is not a database", a foreign schema
        raise _refusal(error, connection.engine.url) from None


def _shown(url: str | URL) -> str:
    """The database as messages name it: a SQLite file's path; a server's URL without its
    password, in the user part or a libpq `password` parameter (printed whole before)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ""
    return _masked(parsed.render_as_string(hide_password=True))


#: What each SQLite primary result code (sqlite.org/rescode.html) that a command meets from
#: its machine means, worded for the user; `{file}` is the database file.
_SQLITE_FAILURES = {
    sqlite3.SQLITE_FULL: "the database {file} cannot grow: its disk is full, or it reached its "
                         "size limit",
    sqlite3.SQLITE_IOERR: "the operating system failed a read or write of the database {file} "
                          "or of its -wal or -shm beside it (removed beneath a running command, "
                          "a failing device, a file size limit)",
    sqlite3.SQLITE_READONLY: "the database {file} cannot be written here",
    sqlite3.SQLITE_CANTOPEN: "cannot open the database file {file}",
    sqlite3.SQLITE_PERM: "the operating system denied access to the database {file}",
    sqlite3.SQLITE_CORRUPT: "the database file {file} is corrupt",
    sqlite3.SQLITE_NOTADB: "{file} is not a SQLite database",
    sqlite3.SQLITE_NOMEM: "SQLite ran out of memory on the database {file}",
}
#: The attribute an engine's errors carry their SQLite file in (`_name_sqlite_file`).
_SQLITE_FILE = "auditor_sqlite_file"


def _name_sqlite_file(context: ExceptionContext) -> None:
    """Keep the SQLite file's path with each error of its engine: SQLite's own messages
    ("disk I/O error") never name it."""
    if context.sqlalchemy_exception is not None and context.engine is not None:
        setattr(context.sqlalchemy_exception, _SQLITE_FILE, context.engine.url.database)


def sqlite_failure(error: BaseException, file: str | None = None) -> str | None:
    """What a SQLite error from the machine means, on one line, naming the file (`file`, or the
    one its engine recorded), SQLite's result code and its words (`... (SQLITE_IOERR_SHORT_READ:
    disk I/O error)`); None for any other error."""
    code = _sqlite_code(error)
    meaning = None if code is None else _SQLITE_FAILURES.get(code & 0xFF)
    if meaning is None:
        return None
    cause = getattr(error, "orig", None) or error
    assert isinstance(cause, sqlite3.Error)
    file = file or getattr(error, _SQLITE_FILE, None)
    return (f"{meaning.format(file=file or '(unnamed)')} ({cause.sqlite_errorname}: "
            f"{first_line(cause)})")


def _sqlite_code(error: BaseException) -> int | None:
    """SQLite's extended result code of a driver error; None for any other error."""
    cause = getattr(error, "orig", None) or error
    return cause.sqlite_errorcode if isinstance(cause, sqlite3.Error) else None


def _not_a_database(error: BaseException) -> bool:
    """A file SQLite does not read as a database when it opens it: the user named another
    file, which "not an auditor database" says better than SQLITE_NOTADB."""
    code = _sqlite_code(error)
    return code is not None and code & 0xFF == sqlite3.SQLITE_NOTADB


def first_line(error: BaseException | None) -> str:
    """A driver error's first line (libpq adds hints and the SQL on lines of their own), or
    its type when it says nothing."""
    text = str(error).strip() if error is not None else ""
    return text.splitlines()[0] if text else type(error).__name__


def _is_empty(engine: Engine | Connection) -> bool:
    return not inspect(engine).get_table_names()


def _manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite commits before every DDL statement unless it leaves transactions to us; and
    # batch migrations recreate tables, which enforced foreign keys would forbid.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def _schema_lock(url: str) -> Iterator[Connection]:
    """A transaction that alone may create or migrate the schema, committed on exit.

    Several processes may open one new database at once: each must see no schema or all of
    it, and only one may create it. PostgreSQL: a transaction-scoped advisory lock, with the
    DDL in the transaction. SQLite: BEGIN IMMEDIATE takes the write lock before anything is
    read, and the DDL runs inside that transaction.
    """
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _manual_transactions)
        event.listen(engine, "begin", _begin_immediate)
    try:
        try:
            connection = connect(engine)  # a lock: SQLite's busy timeout already waited
        except _Locked:
            raise IncompleteError(locked_too_long()) from None
        with connection, connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": _SCHEMA_LOCK})
            yield connection
    finally:
        engine.dispose()


def _migrate(connection: Connection, url: str) -> None:
    from alembic import command

    config = alembic_config(url)
    config.attributes["connection"] = connection  # migrations/env.py runs on it
    command.upgrade(config, "head")


def backup_sqlite(url: str) -> Path | None:
    """Copy a SQLite database beside itself; None for other databases or no file yet.

    SQLite's online backup, not a file copy: in WAL mode committed pages may still live in
    the -wal file, which a copy of the main file alone would lose.
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    path = Path(parsed.database)
    if not path.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup = path.with_name(f"{path.name}.{stamp}.bak")
    # Written under another name and renamed once whole: a full disk or a kill mid-copy left
    # a cut file under the backup's name, which a restore would have taken for the database.
    partial = path.with_name(f"{backup.name}.partial")
    try:
        source, target = sqlite3.connect(path), sqlite3.connect(partial)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, backup)
    except (sqlite3.Error, OSError) as error:
        raise ConfigError(f"cannot back up {path} to {backup} ({error}; a full disk?): nothing "
                          "was migrated") from None
    finally:
        for leftover in (partial, partial.with_name(f"{partial.name}-journal")):
            leftover.unlink(missing_ok=True)
    return backup


def upgrade(url: str) -> tuple[str | None, str, Path | None]:
    """Migrate to head; returns (revision before, revision after, SQLite backup path)."""
    with _schema_lock(url) as connection:
        before = _revision(connection)
        _refuse_unknown(before, url)
        if before is None:
            _refuse_unrevisioned(connection, url)
        foreign = before is None and not _is_empty(connection)
        with _no_run_beside(connection, before):
            backup = backup_sqlite(url) if before != head_revision() and (
                foreign or before is not None) else None
            try:
                _migrate(connection, url)
            except DatabaseError as error:
                if not foreign:
                    raise
                # Tables but no revision: another program's database, whose tables are in the
                # way (rolled back: nothing of the auditor's schema is left in it).
                raise ConfigError(f"{_shown(url)} is not an auditor database: it holds other "
                                  "tables and the auditor's schema cannot be created beside "
                                  f"them ({first_line(error.orig)})") from None
        _refuse_missing_tables(connection, url)
    return before, head_revision(), backup


def _refuse_missing_tables(connection: Connection, url: str) -> None:
    """A schema at its revision that lacks tables the revision has (dropped by hand, a
    partial restore): `db upgrade` said "database at revision 0010" and repaired nothing,
    and every command then failed on the missing table."""
    from sqlalchemy import inspect

    from auditor.store.tables import metadata

    missing = sorted(set(metadata.tables) - set(inspect(connection).get_table_names()))
    if missing:
        raise ConfigError(f"the database {_shown(url)} is at schema revision "
                          f"{_revision(connection)} but lacks its table(s) {', '.join(missing)}: "
                          "it was changed outside the auditor; restore it from a backup or "
                          "start a new one")


@contextmanager
def _no_run_beside(connection: Connection, before: str | None) -> Iterator[None]:
    """Hold the run lock while an existing schema is migrated: a run of an older auditor, still
    going, would write on into tables changed beneath it (it was migrated regardless). Exit 75,
    as for a second run; a schema already at head, or none yet, needs no lock."""
    if before is None or before == HEAD_REVISION:
        yield
        return
    from auditor.store.lock import RunLock

    with RunLock(connection.engine):
        yield


def _create_schema(url: str) -> None:
    with _schema_lock(url) as connection:
        # Another process may have created it while this one waited for the lock.
        if _is_empty(connection):
            _migrate(connection, url)


def _refuse_unknown(revision: str | None, url: str) -> None:
    """Refuse a schema revision none of our migrations made. Revision ids are zero-padded
    counters: an unknown one beyond our head is from the future; one below it (0005 was never
    released) is another build's, which no migration of ours starts from: commands said "run
    `audit db upgrade`", and that ended with an internal error, after a backup."""
    if revision is None or revision in REVISIONS:
        return
    if revision > HEAD_REVISION:
        raise ConfigError(
            f"the database {_shown(url)} was written by a newer auditor (schema revision "
            f"{revision}; this auditor knows up to {HEAD_REVISION}): upgrade the auditor")
    raise ConfigError(
        f"the database {_shown(url)} is at schema revision {revision!r}, which no release of "
        f"this auditor made (it knows {', '.join(REVISIONS)}): it was written by another "
        "build of the auditor; open it with that build, or restore a backup")


def _refuse_unrevisioned(connection: Engine | Connection, url: str) -> None:
    """Refuse tables of the auditor's schema without the revision they are at (no
    alembic_version: dropped, or the tables copied without it). Every command said "run `audit
    db upgrade`", which could not create the schema over them and refused: no migration can
    start from a revision nobody knows, so both now say what can be done."""
    ours = _auditor_tables(connection)
    if not ours:
        return
    named = ", ".join(ours[:3]) + (f" and {len(ours) - 3} more" if len(ours) > 3 else "")
    raise ConfigError(
        f"the database {_shown(url)} holds tables of the auditor's schema ({named}) but no "
        "schema revision (no alembic_version table), so no migration can start from it and "
        "`audit db upgrade` refuses it too: restore the database from a backup (`audit db "
        "upgrade` keeps a SQLite file's beside it as <file>.<timestamp>.bak), or name another "
        "database")


def _auditor_tables(connection: Engine | Connection) -> list[str]:
    """The tables that are the auditor's, at whatever revision: named as one of the schema's,
    with at least half their columns its columns (another program's `endorsements (mine)` is
    not; a table of an older revision lacks only columns added since)."""
    from auditor.store.tables import metadata

    inspector = inspect(connection)
    ours = []
    for name in sorted(set(metadata.tables) & set(inspector.get_table_names())):
        columns = {column["name"] for column in inspector.get_columns(name)}
        if 2 * len(columns & set(metadata.tables[name].columns.keys())) >= len(columns):
            ours.append(name)
    return ours


def _exists(url: str) -> bool:
    """Whether a database is there to read (a SQLite file; any server database). An empty file
    holds none, and opening it would write SQLite's header into it."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return True
    path = Path(parsed.database)
    return path.exists() and (not path.is_file() or path.stat().st_size > 0)


def open_database(url: str, *, create: bool = True) -> sessionmaker[Session]:
    """A session factory on an up-to-date schema.

    `create`: a new, empty database is created at head (commands that write); otherwise a
    missing or empty database is a ConfigError (queries must not invent an empty store and
    report "nothing found"), and a SQLite file is opened read-only.
    """
    missing = (f"no database at {_shown(url)}: run `audit run` (or `audit db upgrade`) "
               "first, or point --db / AUDITOR_DB at the right one")
    if not create and not _exists(url):
        raise ConfigError(missing)
    engine = make_engine(url, read_only=not create)
    revision = current_revision(engine)
    if revision is None:
        # No schema, or another process creating it right now: what it creates appears at
        # once when it commits, possibly between our two looks. Creating takes the schema
        # lock and looks again under it (nothing to do if the other process finished);
        # either way the revision is read again.
        if not create and _is_empty(engine):
            engine.dispose()
            raise ConfigError(missing)
        engine.dispose()
        if create:
            _create_schema(url)
        revision = current_revision(engine)
        if revision is None:
            _refuse_unrevisioned(engine, url)
    _refuse_unknown(revision, url)
    if revision != HEAD_REVISION:
        raise ConfigError(
            f"the database schema is at revision {revision or 'none'} but this auditor needs "
            f"{HEAD_REVISION}: run `audit db upgrade` (SQLite files are backed up first)"
        )
    return sessionmaker(engine, expire_on_commit=False,
                        info=planner_statistics.session_info(engine))


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    engine = sessions.kw["bind"]
    assert isinstance(engine, Engine)
    return engine


def works_apart(sessions: sessionmaker[Session]) -> bool:
    """Whether the database does its work in server processes of its own (PostgreSQL), not in
    this process (SQLite): only then does a thread storing beside a verifying one pay."""
    return engine_of(sessions).dialect.name != "sqlite"
