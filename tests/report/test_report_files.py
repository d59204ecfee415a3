"""Report files: default formats, atomic writes, no symlinks followed, and a report that cannot
be written never hides what the run found."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli_runner import RunAudit
from tests.test_run import config


def test_report_dir_alone_writes_the_default_formats(audit: RunAudit, tmp_path: Path,
                                                     db_url: str) -> None:
    text = config(tmp_path).read_text().replace('formats = ["json", "md", "html", "sarif"]', "")
    (tmp_path / "auditor.toml").write_text(text)
    out = tmp_path / "reports"
    result = audit("run", "--config", str(tmp_path / "auditor.toml"), "--offline",
                   "--report-dir", str(out))
    assert result.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "audit-report.html", "audit-report.json", "audit-report.md", "audit-report.sarif"]


def test_a_symlink_planted_in_the_report_dir_is_refused(audit: RunAudit, tmp_path: Path,
                                                        db_url: str) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0\n")
    (out / "audit-report.json").symlink_to(victim)
    result = audit("run", "--config", str(config(tmp_path)), "--offline", "--report-dir",
                   str(out), "--json")
    assert victim.read_text() == "root:x:0:0\n"
    # The findings' exit code and summary stand; the refusal is one more line.
    assert result.exit_code == 1
    assert json.loads(result.stdout)["exit_code"] == 1
    assert "audit run: 2 releases" in result.stderr
    assert "refusing to write the report" in result.stderr and "symbolic link" in result.stderr


def test_a_clean_run_whose_report_was_refused_is_stored_with_the_exit_it_gave(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    # The run was recorded (exit 0) before its reports were written; the refused report made
    # the process exit 2, and `audit status` and `audit report` still said exit 0.
    out = tmp_path / "reports"
    out.mkdir()
    (out / "audit-report.json").symlink_to(tmp_path / "elsewhere.json")
    result = audit("run", "--config", str(config(tmp_path, staging=False)), "--offline",
                   "--report-dir", str(out), "--metrics-file", str(tmp_path / "auditor.prom"))
    assert result.exit_code == 2, result.stderr
    assert "auditor_last_run_exit_code 2.0" in (tmp_path / "auditor.prom").read_text()
    assert json.loads(audit("status", "--json").stdout)["last_run"]["exit_code"] == 2
    assert "exit 2" in audit("status").stderr
    assert json.loads(audit("report", "--format", "json").stdout)["summary"]["exit_code"] == 2


def test_report_output_never_follows_a_symlink(audit: RunAudit, tmp_path: Path, db_url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    audit("run", "--config", str(config(tmp_path)), "--offline")
    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0\n")
    link = tmp_path / "link.md"
    link.symlink_to(victim)
    result = audit("report", "--format", "md", "-o", str(link))
    assert result.exit_code == 2 and "symbolic link" in result.stderr
    assert victim.read_text() == "root:x:0:0\n" and link.is_symlink()
    written = audit("report", "--format", "md", "-o", str(tmp_path / "real.md"))
    assert written.exit_code == 0 and (tmp_path / "real.md").read_text().startswith("#")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # `-o -` is stdout, as for other tools; it wrote a file named "-" in the working directory.
    monkeypatch.chdir(tmp_path)
    dashed = audit("report", "--format", "md", "-o", "-")
    assert dashed.exit_code == 0 and dashed.stdout.startswith("## ") and "wrote" not in \
        dashed.stderr
    assert not (tmp_path / "-").exists()


def test_unwritable_report_paths_are_one_line_and_exit_2(audit: RunAudit, tmp_path: Path,
                                                         db_url: str) -> None:
    audit("run", "--config", str(config(tmp_path)), "--offline")
    directory = tmp_path / "a-directory"
    directory.mkdir()
    cases = {
        str(directory): "not a regular file",
        str(tmp_path / "missing" / "report.md"): "does not exist",
        # A location nobody can write, root included (tests run as root in CI).
        "/proc/self/report.md": "cannot write the report",
    }
    for target, complaint in cases.items():
        result = audit("report", "--format", "md", "-o", target)
        assert result.exit_code == 2, target
        assert complaint in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_unwritable_report_dir_after_a_clean_run_exits_2(audit: RunAudit, tmp_path: Path,
                                                            db_url: str) -> None:
    clean = config(tmp_path, staging=False)
    # Nothing says so before the run: a directory nobody can make, root included.
    result = audit("run", "--config", str(clean), "--offline", "--report-dir",
                   "/proc/self/reports")
    assert result.exit_code == 2 and "exit 0" in result.stderr
    assert "cannot create the report directory /proc/self/reports" in result.stderr


def test_a_report_dir_under_a_file_is_refused_before_the_run(audit: RunAudit, tmp_path: Path,
                                                             db_url: str) -> None:
    """The run did all its work, said "exit 0", then "cannot create the report directory
    ...: File exists" and exit 2."""
    clean = config(tmp_path, staging=False)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    for directory in (blocker, blocker / "reports"):
        result = audit("run", "--config", str(clean), "--offline", "--report-dir",
                       str(directory))
        assert result.exit_code == 2 and "audit run:" not in result.stderr, result.stderr
        assert result.stderr == (f"error: cannot write reports into {directory}: {blocker} is "
                                 "not a directory\n")
    assert os.path.getsize(blocker) == 0
    assert "last run: run at" not in audit("status").stderr  # none recorded: none was made
