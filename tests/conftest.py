"""Shared fixtures.

A test that uses the database says so by requesting `db_url` (directly or through a fixture
that does): it then runs once on SQLite and once on PostgreSQL, each time with its own empty
database, also exported as AUDITOR_DB. PostgreSQL is a throwaway cluster this session starts
(tests/postgres.py). Where it cannot start, its tests are skipped with the reason, except in CI
(CI=true) or with AUDITOR_REQUIRE_POSTGRES=1, where they fail.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_runner import RunAudit, make_runner
from tests.postgres import Cluster, PostgresUnavailable, server_binaries, start_cluster

# The local Rekor log fixtures (rekor_log, rekor_server, endorsers).
pytest_plugins = ["testlog.pytest_plugin"]

BACKENDS = ("sqlite", "postgresql")
REQUIRE_POSTGRES = "AUDITOR_REQUIRE_POSTGRES"


def postgres_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get(REQUIRE_POSTGRES) == "1"


def pytest_report_header(config: pytest.Config) -> str:
    try:
        where = str(server_binaries())
    except PostgresUnavailable:
        where = "no server binaries"
    required = "required" if postgres_required() else f"optional ({REQUIRE_POSTGRES}=1 requires it)"
    return f"database backends: {', '.join(BACKENDS)}; PostgreSQL {required}: {where}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """The session's throwaway PostgreSQL cluster, started on first use."""
    try:
        cluster = start_cluster()
    except PostgresUnavailable as error:
        if postgres_required():
            pytest.fail(f"PostgreSQL is required (CI=true or {REQUIRE_POSTGRES}=1) but "
                        f"unavailable: {error}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {error}")
    yield cluster
    cluster.stop()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This test's own empty database, on each backend in turn; also AUDITOR_DB."""
    cluster: Cluster | None = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres")
        url = cluster.create_database()
    else:
        url = f"sqlite:///{tmp_path / 'auditor.db'}"
    monkeypatch.setenv("AUDITOR_DB", url)
    yield url
    if cluster is not None:
        cluster.drop_database(url)


@pytest.fixture(autouse=True)
def _undeclared_database(request: pytest.FixtureRequest, tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test touches the user's data directory; one that uses a database undeclared is told.

    Such a test would only ever run on SQLite: in CI that fails it, elsewhere it is a warning.
    """
    undeclared = tmp_path / "undeclared.db"
    monkeypatch.setenv("AUDITOR_DB", f"sqlite:///{undeclared}")
    yield
    if "db_url" in request.fixturenames or not undeclared.exists():
        return
    message = (f"{request.node.nodeid} uses the database without requesting the `db_url` "
               "fixture, so it never runs on PostgreSQL: add a `db_url: str` parameter")
    if postgres_required():
        pytest.fail(message, pytrace=False)
    warnings.warn(message, pytest.PytestWarning, stacklevel=1)


@pytest.fixture(autouse=True)
def _sigstore_cache(tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    """sigstore keeps its offline trust roots in the user cache directory, and TUF metadata in
    the user data directory: tests use their own, seeded from the roots embedded in the
    `sigstore` package, never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.getbasetemp() / "xdg-data"))


@pytest.fixture
def audit(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RunAudit:
    """Run the `audit` CLI in process; returns exit code, stdout and stderr."""
    return make_runner(monkeypatch, capsys)
