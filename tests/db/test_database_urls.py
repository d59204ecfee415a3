"""Database URLs of odd forms: one line and exit 2, and never the password.

A password may sit after `user:` or in a libpq `password=` parameter; every message that names
the database shows it as ***.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_runner import RunAudit
from tests.postgres import Cluster

SECRET = "S3cr!t"


@pytest.mark.parametrize("url", [
    f"postgresql://u:{SECRET}@db.example:abc/audit",  # a port that is no number
    f"postgresql://u:{SECRET}@[::1/audit",  # an unclosed IPv6 host
    f"postgres ql://u:{SECRET}@db.example/audit?password={SECRET}",  # no URL at all
])
@pytest.mark.parametrize("command", [["entries"], ["db", "upgrade"]])
def test_a_url_that_does_not_parse_is_refused_without_its_password(
        audit: RunAudit, url: str, command: list[str]) -> None:
    """A port that is no number was an internal error (exit 70); a query (`entries`) read the
    URL before the check that names it, and an unparsable one was an internal error too."""
    result = audit(*command, "--db", url)
    assert result.exit_code == 2, result.stderr
    assert "not a valid SQLAlchemy URL" in result.stderr
    assert SECRET not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_server_refusing_the_connection_options_hides_a_password_parameter(
        audit: RunAudit, postgres: Cluster) -> None:
    """A libpq `password=` parameter was printed as given, under "not an auditor database"
    for a server that was never reached (an option it refused)."""
    url = postgres.create_database()
    try:
        result = audit("entries", "--db", f"{url}&password={SECRET}&connect_timeout=abc")
    finally:
        postgres.drop_database(url)
    assert result.exit_code == 2, result.stderr
    assert "cannot open the database" in result.stderr and "password=***" in result.stderr
    assert SECRET not in result.stderr and "not an auditor database" not in result.stderr


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
@pytest.mark.parametrize("command", [["entries"], ["db", "upgrade"],
                                     ["crawl", "--rekor-url", "http://127.0.0.1:9"]])
def test_an_in_memory_sqlite_database_is_refused(audit: RunAudit, url: str,
                                                command: list[str]) -> None:
    """Each connection had a database of its own: `db upgrade` said it created the schema
    (exit 0, nothing kept), and a crawl was refused as "at revision none: run db upgrade"."""
    result = audit(*command, "--db", url)
    assert result.exit_code == 2, result.stderr
    assert "in-memory SQLite database" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["what?.db", "a?b=c.db", "50%41.db", "odd#1.db"])
@pytest.mark.parametrize("given", ["flag", "environment"])
def test_a_plain_path_is_that_file_whatever_it_holds(
        audit: RunAudit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
        given: str) -> None:
    """A plain path is that file exactly: `what?.db` was cut at the `?` by SQLAlchemy's URL
    parser (the database `what`, `.db` a query) and `50%41.db` unquoted to `50A.db`."""
    path = tmp_path / name
    if given == "flag":
        result = audit("db", "upgrade", "--db", str(path))
    else:
        monkeypatch.setenv("AUDITOR_DB", str(path))
        result = audit("db", "upgrade")
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [name]
    assert audit("status", "--db", str(path)).exit_code == 0


def test_a_sqlite_url_keeps_its_meaning(audit: RunAudit, tmp_path: Path) -> None:
    """A URL is SQLAlchemy's: `%3F` is a `?` in the file's name."""
    assert audit("db", "upgrade", "--db", f"sqlite:///{tmp_path}/a%3Fb.db").exit_code == 0
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == ["a?b.db"]
