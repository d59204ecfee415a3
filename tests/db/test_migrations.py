"""Alembic revisions keep data across upgrades and downgrade cleanly, on both databases.

Rows are written at each revision with that revision's own schema (reflected, not today's
models), so every later migration runs over real data; downgrades must keep what the older
schema can hold, down to an empty base. An out-of-date schema is refused through the CLI.
"""

from __future__ import annotations

import itertools
import resource
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    select,
)

from auditor.store.database import alembic_config, head_revision, make_engine
from auditor.store.lock import RunLock
from auditor.store.models import Base
from tests.cli_runner import RunAudit

Rows = dict[str, list[dict[str, Any]]]
#: Row numbers, unique across calls so unique constraints hold across revisions.
ROW_NUMBERS = itertools.count()


def revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def reflect(connection: Connection) -> MetaData:
    """The schema as the database has it now, without Alembic's own table."""
    metadata = MetaData()
    metadata.reflect(connection)
    if "alembic_version" in metadata.tables:
        metadata.remove(metadata.tables["alembic_version"])
    return metadata


def value(table: Table, column_name: str, row: int) -> Any:
    """A distinct, valid value for a column of the reflected schema."""
    column = table.c[column_name]
    kind = column.type
    if isinstance(kind, Boolean):
        return row % 2 == 0
    if isinstance(kind, Integer):  # BigInteger too
        return 1_700_000_000 + 1000 * row + len(column_name)
    if isinstance(kind, DateTime):
        return datetime(2026, 1, 1, 12, 0, tzinfo=UTC) + timedelta(days=row)
    if isinstance(kind, LargeBinary):
        return bytes([0, 255]) + row.to_bytes(4, "big") + column_name.encode()
    if isinstance(kind, String | Text):
        length = getattr(kind, "length", None) or 64
        return f"{table.name[:3]}{row}{column_name}"[:length]
    raise AssertionError(f"no sample value for {table.name}.{column_name} ({kind!r})")


def insert_rows(connection: Connection, tables: list[Table], per_table: int = 2) -> Rows:
    """Fill `tables` (parents first); foreign keys point at rows inserted here, the n-th row
    of a table at the n-th row of its parent (so a unique pair of foreign keys stays unique)."""
    inserted: Rows = {}
    ids: dict[str, list[int]] = {}
    for table in tables:
        for position, row in enumerate(itertools.islice(ROW_NUMBERS, per_table)):
            values: dict[str, Any] = {}
            for column in table.columns:
                if column.primary_key:
                    continue
                if column.foreign_keys:
                    # The parent row of the same position: a unique constraint over two
                    # foreign keys (run_findings) must not see the same pair twice.
                    parent = next(iter(column.foreign_keys)).column.table.name
                    values[column.name] = ids[parent][position % len(ids[parent])]
                else:
                    values[column.name] = value(table, column.name, row)
            key = connection.execute(table.insert().values(values)).inserted_primary_key
            assert key is not None
            ids.setdefault(table.name, []).append(key[0])
        inserted[table.name] = read(connection, table)
    return inserted


def read(connection: Connection, table: Table) -> list[dict[str, Any]]:
    rows = connection.execute(select(table).order_by(table.c.id)).mappings()
    return [dict(row) for row in rows]


def assert_kept(connection: Connection, rows: Rows) -> None:
    """Every row written earlier is still there, in every column both schemas have."""
    metadata = reflect(connection)
    for name, before in rows.items():
        if name not in metadata.tables or not before:
            continue
        after = read(connection, metadata.tables[name])
        columns = set(metadata.tables[name].c.keys()) & set(before[0])
        assert [{k: r[k] for k in columns} for r in before] == [
            {k: r[k] for k in columns} for r in after], name


def check_0003_backfill(connection: Connection) -> None:
    """0003 copies each logged endorsement's time and signer from its entry."""
    metadata = reflect(connection)
    endorsements, entries = metadata.tables["endorsements"], metadata.tables["entries"]
    joined = connection.execute(select(
        endorsements.c.integrated_time, endorsements.c.signer_key_sha256,
        entries.c.integrated_time, entries.c.signer_key_sha256,
    ).join(entries, endorsements.c.entry_pk == entries.c.id)).all()
    assert joined and all(row[0] == row[2] and row[1] == row[3] for row in joined)


DATA_CHECKS = {"0003": check_0003_backfill}


def test_every_revision_upgrades_with_data_in_place_and_downgrades_to_empty(
        db_url: str) -> None:
    config = alembic_config(db_url)
    engine = make_engine(db_url)
    kept: Rows = {}
    try:
        for revision in revisions():
            command.upgrade(config, revision)
            with engine.begin() as connection:
                assert_kept(connection, kept)
                DATA_CHECKS.get(revision, lambda _c: None)(connection)
                metadata = reflect(connection)
                new = [t for t in metadata.sorted_tables if t.name not in kept]
                # Tables of earlier revisions get more rows too: a migration must carry rows
                # written under the schema just before it, not only the first one.
                more = insert_rows(connection, list(metadata.sorted_tables), per_table=1)
                assert set(more) >= {t.name for t in new}
                for name in metadata.tables:
                    kept[name] = read(connection, metadata.tables[name])
        assert revisions()[-1] == head_revision()
        for older in [*reversed(revisions()[:-1]), "base"]:
            command.downgrade(config, older)
            with engine.begin() as connection:
                assert_kept(connection, kept)
        with engine.connect() as connection:
            assert list(reflect(connection).tables) == []
        command.upgrade(config, "head")  # and back up from nothing
    finally:
        engine.dispose()


def test_models_match_the_migrations(db_url: str) -> None:
    """`alembic check` on each backend: autogenerate finds nothing left to migrate."""
    command.upgrade(alembic_config(db_url), "head")
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_db_upgrade_backs_up_a_sqlite_file_with_its_old_data_first(
        audit: RunAudit, tmp_path: Path) -> None:
    """SQLite only: the backup is a file. Rows still in the WAL must be in it too."""
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    previous = revisions()[-2]
    command.upgrade(alembic_config(url), previous)
    engine = make_engine(url)  # WAL mode
    with engine.connect():
        pass
    # An open connection that has read keeps the WAL from being folded into the main file.
    keeper = sqlite3.connect(path)
    try:
        keeper.execute("SELECT count(*) FROM alembic_version").fetchall()
        with engine.begin() as connection:
            rows = insert_rows(connection, list(reflect(connection).sorted_tables))
        engine.dispose()
        assert Path(f"{path}-wal").stat().st_size > 0
        result = audit("db", "upgrade", "--db", url)
    finally:
        keeper.close()
    assert result.exit_code == 0, result.stderr
    (backup,) = tmp_path.glob("old.db.*.bak")
    assert f"backed up {backup}" in result.stderr.replace("\n", "")
    assert f"database at revision {head_revision()} (was {previous})" in result.stderr
    old = make_engine(f"sqlite:///{backup}")
    try:
        with old.connect() as connection:
            assert connection.exec_driver_sql(
                "SELECT version_num FROM alembic_version").scalar() == previous
            assert_kept(connection, rows)
    finally:
        old.dispose()
    upgraded = make_engine(url)
    try:
        with upgraded.connect() as connection:
            assert_kept(connection, rows)
    finally:
        upgraded.dispose()


def test_a_backup_cut_short_by_a_full_disk_leaves_no_backup_and_nothing_migrated(
        tmp_path: Path) -> None:
    """SQLite only. A full disk (or a kill) mid-copy left a cut file under the backup's name,
    which a restore would take for the database: it is written under another name, renamed
    once whole, and removed when the copy fails."""
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    previous = revisions()[-2]
    command.upgrade(alembic_config(url), previous)
    with sqlite3.connect(path) as padding:  # a database larger than the disk has room for
        padding.execute("CREATE TABLE other_program (data BLOB)")
        padding.execute("INSERT INTO other_program VALUES (zeroblob(2000000))")
    limit = 1_000_000

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([sys.executable, "-m", "auditor", "db", "upgrade", "--db", url],
                            capture_output=True, text=True, timeout=60, preexec_fn=small_disk)
    assert [p.name for p in tmp_path.iterdir() if ".bak" in p.name] == []
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "cannot back up" in result.stderr
    with sqlite3.connect(path) as database:
        assert database.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (previous,)]


@pytest.mark.parametrize("args", [
    ["entries"],
    ["status"],
    ["run", "--rekor-url", "http://127.0.0.1:9"],
    ["crawl", "--rekor-url", "http://127.0.0.1:9"],
], ids=lambda a: a[0])
def test_commands_refuse_an_out_of_date_schema_with_exit_2(
        audit: RunAudit, db_url: str, args: list[str]) -> None:
    previous = revisions()[-2]
    command.upgrade(alembic_config(db_url), previous)
    result = audit(*args, "--db", db_url)
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert f"the database schema is at revision {previous}" in message
    assert "run `audit db upgrade`" in message
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:  # refused, not migrated behind the user's back
            assert connection.exec_driver_sql(
                "SELECT version_num FROM alembic_version").scalar() == previous
    finally:
        engine.dispose()
    assert audit("db", "upgrade", "--db", db_url).exit_code == 0
    assert audit("entries", "--db", db_url).exit_code == 0


def test_a_revision_no_release_made_is_refused_before_any_backup(
        audit: RunAudit, db_url: str, tmp_path: Path) -> None:
    """0005 was never released: commands said "run `audit db upgrade`", which then ended with
    an internal error (exit 70) after backing the file up."""
    assert audit("db", "upgrade").exit_code == 0
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0005'")
    engine.dispose()
    for args in (["entries"], ["db", "upgrade"], ["crawl", "--rekor-url", "http://127.0.0.1:9"]):
        result = audit(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert "schema revision '0005', which no release of this auditor made" in result.stderr
        assert "audit db upgrade" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.bak"))


def test_the_auditors_tables_without_a_revision_get_one_answer_from_every_command(
        audit: RunAudit, db_url: str, tmp_path: Path) -> None:
    """No alembic_version (dropped, or the tables copied without it): commands said "run `audit
    db upgrade`", and `db upgrade` (after a backup) said "not an auditor database: it holds
    other tables". Now each command, `db upgrade` too, says the same: what can be done."""
    assert audit("db", "upgrade").exit_code == 0
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")
    engine.dispose()
    for args in (["entries"], ["db", "upgrade"], ["import", "."]):
        result = audit(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "holds tables of the auditor's schema (alert_deliveries, check_results, " \
            "checkpoints and " in result.stderr, result.stderr
        assert "more) but no schema revision (no alembic_version table), so no migration can " \
            "start from it and `audit db upgrade` refuses it too: restore the database from a " \
            "backup" in result.stderr, result.stderr
    assert not list(tmp_path.glob("*.bak"))


def test_a_schema_is_not_migrated_beneath_a_running_run(audit: RunAudit, db_url: str,
                                                       tmp_path: Path) -> None:
    """A run of the older auditor holds the run lock: `db upgrade` exits 75 and leaves the
    schema as that run knows it (it was migrated beneath the run)."""
    previous = revisions()[-2]
    command.upgrade(alembic_config(db_url), previous)
    engine = make_engine(db_url)
    try:
        with RunLock(engine):
            result = audit("db", "upgrade")
            assert result.exit_code == 75, result.stderr
            assert "another audit run holds the lock" in result.stderr
            assert not list(tmp_path.glob("*.bak"))  # nothing backed up either
        with engine.connect() as connection:
            assert connection.exec_driver_sql(
                "SELECT version_num FROM alembic_version").scalar() == previous
    finally:
        engine.dispose()
    assert audit("db", "upgrade").exit_code == 0
