"""The README's test command on a machine without Chromium: the browser tests skip, saying why;
under CI=true they fail instead (CI must prove the report in a real browser)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ONE_BROWSER_TEST = "tests/report/test_browser.py::test_the_dom_check_detects_a_script_that_runs"


def without_chromium(ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "AUDITOR_SKIP_BROWSER")}
    env["AUDITOR_CHROMIUM"] = str(REPO / "no-such-chromium")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", ONE_BROWSER_TEST, "-q", "-rsf",
                           "-p", "no:cacheprovider", "-n", "0"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_a_missing_chromium_skips_with_the_reason(ci: str | None) -> None:
    result = without_chromium(ci)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout and "Chromium not found" in result.stdout
    assert "apt-get install" in result.stdout


def test_under_ci_a_missing_chromium_fails() -> None:
    result = without_chromium("true")
    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout or "1 failed" in result.stdout
    assert "Chromium not found" in result.stdout
