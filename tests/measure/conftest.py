from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The helper modules beside the tests import the same way under pytest's `prepend` and
# `importlib` import modes.
sys.path.insert(0, str(Path(__file__).parent))

from measure_cli_runner import RunAudit, make_runner


@pytest.fixture
def run_audit(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RunAudit:
    return make_runner(monkeypatch, capsys)
