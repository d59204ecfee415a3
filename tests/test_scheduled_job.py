"""The shipped crontab line and systemd units run a command line the CLI accepts, and cron
mails only what needs a person."""

from __future__ import annotations

import re
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


def cron_line() -> str:
    """The job's shell command: the crontab line after its five time fields."""
    line = next(line for line in (SCRIPTS / "auditor.crontab").read_text().splitlines()
                if line and line[0].isdigit())
    return line.split(None, 5)[5]


def cron_command() -> list[str]:
    match = re.search(r"\$\(timeout [^$]*?(audit run .*?) 2>&1\)", cron_line())
    assert match, cron_line()
    return shlex.split(match.group(1))


def cron_timeout() -> list[str]:
    """The `timeout ...` prefix that bounds the cron job's run."""
    match = re.search(r"\$\((timeout .*?) audit run ", cron_line())
    assert match, cron_line()
    return shlex.split(match.group(1))


def service_setting(name: str) -> str:
    return next(line.removeprefix(f"{name}=") for line in
                (SCRIPTS / "systemd/auditor.service").read_text().splitlines()
                if line.startswith(f"{name}="))


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


@pytest.mark.parametrize(("code", "mailed"), [(0, False), (75, False), (1, True), (2, True),
                                              (3, True), (70, True)])
def test_cron_mails_only_a_run_that_needs_a_person(tmp_path: Path, code: int,
                                                   mailed: bool) -> None:
    """cron mails any output, and `audit run` prints its summary on every run: the shipped line
    mailed every clean hour. An `audit` that prints what a run prints (the shell's handling of
    its output is what is tested) and exits `code`."""
    command = cron_line()
    assert "%" not in command  # cron makes a newline of it
    (tmp_path / "audit").write_text("#!/bin/sh\necho 'HIGH NOT_ENDORSED kernel'\n"
                                    "echo 'audit run: 1 release; exit $1' >&2\n"
                                    f"exit {code}\n")
    (tmp_path / "audit").chmod(0o755)
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                            env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, check=False)
    mail = result.stdout + result.stderr
    if mailed:
        assert "HIGH NOT_ENDORSED kernel" in mail and "audit run: 1 release" in mail
        assert f"audit run exited {code}" in mail
    else:
        assert mail == ""


def test_both_jobs_bound_a_run_alike() -> None:
    """Neither job bounded a run: one hung on a connection or a database held the run lock,
    and every later run exited 75, for ever. Both stop it after the same 3 hours."""
    bound = service_setting("TimeoutStartSec")
    assert cron_timeout() == ["timeout", "--preserve-status", "--kill-after=2m", bound]
    # systemd-analyze verify (above) checks the unit parses; here, what systemd reads it as.
    if shutil.which("systemd-analyze") is not None:
        parsed = subprocess.run(["systemd-analyze", "timespan", bound], capture_output=True,
                                text=True, check=True).stdout
        assert f"μs: {3 * 3600 * 10**6}\n" in parsed, parsed


def test_cron_stops_a_run_past_its_time_and_mails_it(tmp_path: Path) -> None:
    """The cron line's bound, with a second for its 3 hours: an `audit` that hangs is sent
    SIGTERM (the auditor then stops cleanly, exit 143) and the mail says so."""
    command = cron_line().replace(" 3h ", " 1 ")
    (tmp_path / "audit").write_text("#!/bin/sh\necho 'crawling'\nexec sleep 60\n")
    (tmp_path / "audit").chmod(0o755)
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                            env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, check=False, timeout=30)
    mail = result.stdout + result.stderr
    assert "crawling" in mail and "audit run exited 143" in mail, mail
