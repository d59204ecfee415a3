"""What a person reads from the CLI: tables on stderr, digests whole when piped, machine output
alone on stdout, and the findings table in reading order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.errors import AuditorError
from tests.cli_runner import RunAudit
from tests.oakdata import RELEASE

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "reference_values" / "demo" / "oak.toml"
EVIDENCE = RELEASE / "evidence.binarypb"


def piped(*args: str) -> subprocess.CompletedProcess[str]:
    """`audit ARGS | grep ...` in a narrow terminal's environment: stdout and stderr are pipes."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "40"}
    return subprocess.run([sys.executable, "-m", "auditor", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_piped_measurement_keeps_every_digest_whole_on_its_line() -> None:
    document = json.loads(piped("measure", "evidence", str(EVIDENCE), "--json").stdout)
    table = piped("measure", "evidence", str(EVIDENCE))
    assert table.returncode == 0 and table.stdout == ""  # the table is for people: stderr
    rows = {line.split()[0]: line.split()[1:] for line in table.stderr.splitlines()}
    assert rows["snp_measurement"] == [document["snp_measurement"]]
    assert len(document["snp_measurement"]) == 96
    for name in ("kernel_measurement", "setup_data_digest", "ram_disk_digest", "acpi_digest"):
        assert rows[f"stage0.{name}"] == [document["stage0"][name]]
    assert rows["stage0.kernel_cmdline"] == document["stage0"]["kernel_cmdline"].split()


def test_json_goes_alone_to_stdout() -> None:
    result = piped("measure", "evidence", str(EVIDENCE), "--json")
    assert result.returncode == 0 and result.stderr == ""
    assert json.loads(result.stdout)["system_image"]


def test_the_findings_table_has_a_release_column_and_reads_most_severe_first(
        audit: RunAudit, db_url: str) -> None:
    assert audit("run", "--config", str(DEMO), "--offline").exit_code == 1
    result = audit("findings")
    assert result.exit_code == 0 and result.stdout == ""
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    header = next(line for line in lines if "severity" in line)
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == [
        "severity", "rule", "component", "release", "last seen", "detail"]
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines
            if line.startswith("│")]
    severities = [row[0] for row in rows]
    order = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]
    assert severities == sorted(severities, key=order.index)
    assert severities[0] == "CRITICAL" and severities[-1] == "INFO"
    staging = [row for row in rows if row[1] == "ENDORSED_NOT_LOGGED"]
    assert len(staging) == 4 and {row[3] for row in staging} == {"oak-containers-milan-staging"}


def test_main_takes_its_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    from auditor import __version__

    with pytest.raises(SystemExit) as stopped:
        main(["version"])
    assert stopped.value.code == 0 and capsys.readouterr().out.strip() == __version__


@pytest.mark.parametrize("command", [("status",), ("db", "upgrade"), ("findings",)])
def test_a_refused_database_connection_is_one_line_of_error(audit: RunAudit,
                                                            command: tuple[str, ...]) -> None:
    # libpq says "Connection refused" and adds a hint on a line of its own; nothing listens on
    # port 1, so no server is needed.
    result = audit(*command, "--db", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and "Connection refused; Is the server" in \
        result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize("command", [("status",), ("findings",), ("entries",), ("report",),
                                     ("component", "kernel")])
def test_a_query_on_an_empty_file_says_so_and_leaves_it_empty(
        audit: RunAudit, tmp_path: Path, command: tuple[str, ...]) -> None:
    """An empty file is no database: the query refused it, but wrote SQLite's header (and
    WAL mode) into it first."""
    empty = tmp_path / "placeholder.db"
    empty.touch()
    result = audit(*command, "--db", f"sqlite:///{empty}")
    assert result.exit_code == 2 and result.stderr.startswith("error: no database at ")
    assert empty.stat().st_size == 0 and sorted(p.name for p in tmp_path.iterdir()) == [
        "placeholder.db"]


@pytest.mark.parametrize("raised, prefix", [
    (RuntimeError("first line\n  second line\n"), "internal error: RuntimeError: "),
    (AuditorError("first line\n\n  second line"), "error: "),
])
def test_every_error_is_one_line(audit: RunAudit, monkeypatch: pytest.MonkeyPatch,
                                 raised: Exception, prefix: str) -> None:
    import auditor.cli.query

    def fail(*_args: object) -> None:
        raise raised

    monkeypatch.setattr(auditor.cli.query, "read_store", fail)
    result = audit("status")
    assert result.stderr.startswith(prefix + "first line; second line")
    assert len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize("args, says", [
    (("entries", "--limit", "abc"), "Invalid value for '--limit': 'abc' is not a number "
     "(whole, in decimal digits) (see 'audit entries --help')"),
    (("--bogus",), "No such option: --bogus (see 'audit --help')"),
    (("nosuchcmd",), "No such command 'nosuchcmd' (see 'audit --help')"),
    (("measure", "kernel"), "Missing argument 'BZIMAGE' (see 'audit measure kernel --help')"),
    (("run", "--format", "x\x1b[2Jml"), "'x\\x1b[2Jml' is not one of 'json'"),
])
def test_a_usage_error_is_one_line_naming_the_help_to_read(audit: RunAudit,
                                                           args: tuple[str, ...],
                                                           says: str) -> None:
    """click's own usage error is four lines on stderr (usage, hint, a blank, the error last):
    a log line or a cron mail showed "Usage: ..." and the reason only at the end."""
    result = audit(*args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and says in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_a_group_named_alone_still_shows_its_help(audit: RunAudit) -> None:
    result = audit("db")
    assert result.exit_code == 2 and result.stderr.startswith("Usage: audit db")
    assert "upgrade" in result.stderr
    assert audit("db", "--help").exit_code == 0


@pytest.mark.parametrize("args", [("version",), ("measure", "evidence", str(EVIDENCE), "--json")])
def test_a_closed_standard_output_is_one_line_of_error(args: tuple[str, ...]) -> None:
    """Started with its standard output closed (`audit report >&-`), Python has no sys.stdout:
    the first thing written there was an internal error (AttributeError, exit 70)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "auditor", *args], env=env,
                            preexec_fn=lambda: os.close(1),  # closed before Python starts
                            stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr == "error: [Errno 9] cannot write the output: standard output is " \
                            "closed\n"


@pytest.mark.parametrize("args", [("version",), ("measure", "evidence", str(EVIDENCE), "--json")])
def test_a_reader_gone_is_exit_141_not_1(args: tuple[str, ...]) -> None:
    """`audit report | head`: the reader closes the pipe, the write fails with EPIPE, and typer
    quietly exits 1, which a script reads as "findings". A shell shows 141 (SIGPIPE) for any
    other program cut off so."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "auditor", *args], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.close()  # before it writes: it starts in about half a second
    _, stderr = process.communicate(timeout=120)
    assert (process.returncode, stderr) == (141, b"")
