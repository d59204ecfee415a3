"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_runner import RunAudit, make_runner

# The local Rekor log fixtures (rekor_log, rekor_server, endorsers).
pytest_plugins = ["testlog.pytest_plugin"]


@pytest.fixture(autouse=True)
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test gets its own database; none ever touches the user's data directory."""
    url = f"sqlite:///{tmp_path / 'auditor.db'}"
    monkeypatch.setenv("AUDITOR_DB", url)
    return url


@pytest.fixture
def audit(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RunAudit:
    """Run the `audit` CLI in process; returns exit code, stdout and stderr."""
    return make_runner(monkeypatch, capsys)
