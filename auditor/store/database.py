"""Opening the database, and keeping its schema at the migrations' head.

The URL is one setting: `--db`, else `AUDITOR_DB`, else a SQLite file in the user's data
directory. A brand-new database is created at head; an existing one at an older revision is
refused until `audit db upgrade` (which backs a SQLite file up first) migrates it.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from auditor.errors import ConfigError

ENV_DB = "AUDITOR_DB"


def default_url() -> str:
    data_dir = Path(platformdirs.user_data_dir("auditor", appauthor=False))
    return f"sqlite:///{data_dir / 'auditor.db'}"


def resolve_url(flag: str | None) -> str:
    """flag > environment > default (STYLE.md precedence)."""
    return flag or os.environ.get(ENV_DB) or default_url()


def migrations_dir() -> Path:
    """Migrations ship inside the wheel as `auditor/_migrations`; a checkout has `migrations/`."""
    installed = Path(str(resources.files("auditor"))) / "_migrations"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers work beside a writer; the busy timeout makes concurrent writers wait
    # instead of failing at once; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database URL {url!r} is not a valid SQLAlchemy URL") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url)
    except Exception as error:  # missing driver, bad options: a config error, not a crash
        raise ConfigError(f"cannot open database {parsed!r}: {error}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as error:
        raise ConfigError(f"cannot connect to the database: {error.orig}") from None


def _is_empty(engine: Engine) -> bool:
    return not inspect(engine).get_table_names()


def backup_sqlite(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    path = Path(parsed.database)
    if not path.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup = path.with_name(f"{path.name}.{stamp}.bak")
    shutil.copy2(path, backup)
    return backup


def upgrade(url: str) -> tuple[str | None, str, Path | None]:
    """Migrate to head; returns (revision before, revision after, SQLite backup path)."""
    engine = make_engine(url)
    before = current_revision(engine)
    backup = None
    if before != head_revision() and not _is_empty(engine):
        backup = backup_sqlite(url)
    engine.dispose()
    command.upgrade(alembic_config(url), "head")
    return before, head_revision(), backup


def open_database(url: str) -> sessionmaker[Session]:
    """A session factory on an up-to-date schema; a new, empty database is created at head."""
    engine = make_engine(url)
    revision = current_revision(engine)
    if revision is None and _is_empty(engine):
        engine.dispose()
        command.upgrade(alembic_config(url), "head")
        engine = make_engine(url)
    elif revision != head_revision():
        raise ConfigError(
            f"the database schema is at revision {revision or 'none'} but this auditor needs "
            f"{head_revision()}: run `audit db upgrade` (SQLite files are backed up first)"
        )
    return sessionmaker(engine, expire_on_commit=False)


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    engine = sessions.kw["bind"]
    assert isinstance(engine, Engine)
    return engine
