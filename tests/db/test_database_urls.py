"""Database URLs of odd forms: one line and exit 2, and never the password.

A password may sit after `user:` or in a libpq `password=` parameter; every message that names
the database shows it as ***.
"""

from __future__ import annotations

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
