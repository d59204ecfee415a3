from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.cli_runner import RunAudit

# The helper modules beside the tests import the same way under pytest's `prepend` and
# `importlib` import modes.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def run_audit(audit: RunAudit) -> RunAudit:
    """The root conftest's in-process CLI runner, under this folder's historical name."""
    return audit
