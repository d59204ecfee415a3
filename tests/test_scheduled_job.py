"""The shipped crontab line and systemd units run a command line the CLI accepts."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import RunAudit
from tests.test_run import config

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def exec_start() -> list[str]:
    line = next(line for line in (SCRIPTS / "systemd/auditor.service").read_text().splitlines()
                if line.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def cron_command() -> list[str]:
    line = next(line for line in (SCRIPTS / "auditor.crontab").read_text().splitlines()
                if line and line[0].isdigit())
    command = line.split(None, 5)[5].split(";")[0]
    return shlex.split(command)


@pytest.mark.parametrize("command", [exec_start, cron_command], ids=["systemd", "cron"])
def test_scheduled_command_runs(audit: RunAudit, tmp_path: Path, command: object,
                                db_url: str) -> None:
    argv = command()  # type: ignore[operator]
    assert Path(argv[0]).name == "audit" and argv[1] == "run"
    args = argv[2:]
    args[args.index("--config") + 1] = str(config(tmp_path))
    args[args.index("--report-dir") + 1] = str(tmp_path / "reports")
    result = audit("run", *args, "--offline")
    assert result.exit_code == 1  # the demo's real findings
    assert (tmp_path / "reports" / "audit-report.json").exists()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed")
def test_systemd_units_verify(tmp_path: Path) -> None:
    # The console script installed beside the interpreter running the tests.
    audit_binary = str(Path(sys.executable).with_name("audit"))
    assert Path(audit_binary).exists()
    for name in ("auditor.service", "auditor.timer"):
        text = (SCRIPTS / "systemd" / name).read_text()
        (tmp_path / name).write_text(text.replace("/usr/local/bin/audit", audit_binary))
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "auditor.service"),
                             str(tmp_path / "auditor.timer")],
                            capture_output=True, text=True, check=False)
    problems = [line for line in result.stderr.splitlines() if str(tmp_path) in line]
    assert result.returncode == 0 and problems == [], result.stderr
