"""`audit run` on the shipped snapshot of real Oak data: exit codes, suppressions, reports,
queries."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditor.report.validate import validate_report
from auditor.store.database import engine_of, open_database
from auditor.store.lock import RunLock
from testlog import RunningServer
from tests.cli_runner import RunAudit

DEMO = Path(__file__).resolve().parents[1] / "reference_values" / "demo"
SNAPSHOT = DEMO.parent / "snapshot"
KERNEL_KEY = Path(__file__).parent / "data/oak/oak-containers-milan-release/components/kernel/" \
    "endorser_public_key.pem"


def config(tmp_path: Path, *, staging: bool = True, extra: str = "") -> Path:
    """The shipped demo configuration, optionally without the staging release."""
    text = (DEMO / "oak.toml").read_text()
    for name in ("keys", "snapshot"):
        text = text.replace(f'"../{name}/', f'"{DEMO.parent / name}/')
    text = text.replace('manifest = "release.toml"', f'manifest = "{DEMO / "release.toml"}"')
    text = text.replace('manifest = "staging.toml"', f'manifest = "{DEMO / "staging.toml"}"')
    if not staging:
        text = text.replace(f'\n[[releases]]\nname = "oak-containers-milan-staging"\n'
                            f'manifest = "{DEMO / "staging.toml"}"\n', "\n")
        staging_import = f'    "{SNAPSHOT}/oak-containers-milan-staging/endorsements.binarypb",\n'
        text = text.replace(staging_import, "")
    path = tmp_path / "auditor.toml"
    path.write_text(text + extra)
    return path


def run(audit: RunAudit, *args: str) -> tuple[int, dict[str, Any], str]:
    result = audit("run", *args, "--json")
    assert "Traceback" not in result.stderr
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}, result.stderr


def problems(summary: dict[str, Any]) -> list[tuple[str, str | None]]:
    return sorted((f["rule"], f["component"]) for f in summary["findings"]
                  if f["severity"] != "info" and not f["suppressed"])


def test_release_alone_is_clean(audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    code, summary, _ = run(audit, "--config", str(config(tmp_path, staging=False)), "--offline")
    assert code == 0, problems(summary)
    rules = [f["rule"] for f in summary["findings"]]
    assert rules.count("MATCH") == 5 and set(rules) == {"MATCH", "OBSERVED_UNCOVERED"}


def test_shipped_demo_shows_real_findings_and_exits_1(audit: RunAudit, tmp_path: Path,
                                                      db_url: str) -> None:
    code, summary, stderr = run(audit, "--config", str(config(tmp_path)), "--offline")
    assert code == 1
    assert problems(summary) == [
        ("ENDORSED_NOT_LOGGED", "init_ram_fs"), ("ENDORSED_NOT_LOGGED", "kernel"),
        ("ENDORSED_NOT_LOGGED", "stage0"), ("ENDORSED_NOT_LOGGED", "system_image"),
        # Staging's cmdline endorsement is by the development key, which no reference value
        # pins for the cmdline.
        ("WRONG_KEY", "kernel_cmd_line")]
    assert "exit 1" in stderr


def test_fail_on_and_suppressions(audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    suppress = (
        f'\n[[suppressions]]\nrule = "WRONG_KEY"\ncomponent = "kernel_cmd_line"\n'
        f'reason = "staging cmdline is not pinned"\nexpires = {tomorrow}\n')
    code, summary, stderr = run(audit, "--config", str(config(tmp_path, extra=suppress)),
                                "--offline", "--fail-on", "high")
    assert code == 0, problems(summary)
    (suppressed,) = [f for f in summary["findings"] if f["suppressed"]]
    assert suppressed["rule"] == "WRONG_KEY" and suppressed["suppressed"]["expires"] == tomorrow
    assert "expired" not in stderr
    expired = suppress.replace(tomorrow, yesterday)
    code, summary, stderr = run(audit, "--config", str(config(tmp_path, extra=expired)),
                                "--offline", "--fail-on", "high")
    assert code == 1 and not [f for f in summary["findings"] if f["suppressed"]]
    # The finding is back, and the run says why (it said nothing of the suppression).
    assert (f"note: the suppression of WRONG_KEY kernel_cmd_line expired on {yesterday}: what "
            "it suppressed is reported\n") in stderr


def test_config_errors_exit_2(audit: RunAudit, tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[log\n")
    assert run(audit, "--config", str(broken), "--offline")[0] == 2
    no_reason = config(tmp_path, extra='\n[[suppressions]]\nrule = "MATCH"\n'
                       "expires = 2030-01-01\n")
    code, _, stderr = run(audit, "--config", str(no_reason), "--offline")
    assert code == 2 and "needs a reason" in stderr
    assert run(audit, "--config", str(tmp_path / "missing.toml"), "--offline")[0] == 2


def test_log_giving_up_exits_3(audit: RunAudit, tmp_path: Path,
                               rekor_server: RunningServer, db_url: str) -> None:
    rekor_server.faults.server_errors(10_000, status=503)
    (tmp_path / "log.pem").write_bytes(rekor_server.log.signer.public_pem)
    settings = tmp_path / "crawl.toml"
    settings.write_text(f'[log]\nurl = "{rekor_server.url}"\nrekor_keys = ["log.pem"]\n'
                        "max_retries = 2\nbackoff_base = 0.01\n"
                        f'[components.kernel]\nkeys = ["""\n{KERNEL_KEY.read_text()}"""]\n')
    code, summary, _ = run(audit, "--config", str(settings))
    assert code == 3
    assert summary["complete"] is False and "gave up" in summary["crawl"]["incomplete_reason"]


def test_second_run_is_refused_with_75(audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    with RunLock(engine_of(open_database(db_url))):
        code, _, stderr = run(audit, "--config", str(config(tmp_path)), "--offline")
    assert code == 75 and "another audit run holds the lock" in stderr


def test_internal_error_exits_70(audit: RunAudit, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("auditor.service.reconcile_release", broken)
    code, _, stderr = run(audit, "--config", str(config(tmp_path)), "--offline")
    assert code == 70 and "internal error: RuntimeError: simulated bug" in stderr


def test_reports_of_every_format_render_the_same_run(audit: RunAudit, tmp_path: Path,
                                                     db_url: str) -> None:
    out = tmp_path / "reports"
    run(audit, "--config", str(config(tmp_path)), "--offline", "--report-dir", str(out))
    document = json.loads((out / "audit-report.json").read_text())
    validate_report(document)
    assert document["run"]["kind"] == "run" and document["summary"]["exit_code"] == 1
    assert {r["name"] for r in document["releases"]} == {"oak-containers-milan-release",
                                                         "oak-containers-milan-staging"}
    heads = document["logs"][0]["heads"]
    assert heads and heads[0]["checkpoint"].startswith("rekor.sigstore.dev - ")
    sarif = json.loads((out / "audit-report.sarif").read_text())
    assert sarif["version"] == "2.1.0" and len(sarif["runs"][0]["results"]) == len(
        document["findings"])
    assert "ENDORSED_NOT_LOGGED" in (out / "audit-report.md").read_text()
    for fmt in ("csv", "jsonl"):
        result = audit("report", "--format", fmt)
        assert result.exit_code == 0
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(result.stdout)))
            assert len(rows) == len(document["findings"])
        else:
            lines = [json.loads(line) for line in result.stdout.splitlines()]
            assert sum(1 for line in lines if line["type"] == "finding") == len(
                document["findings"])


def test_queries_after_a_run(audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    run(audit, "--config", str(config(tmp_path)), "--offline")
    component = json.loads(audit("component", "kernel", "--json").stdout)
    logged, unlogged = component["endorsements"]
    assert logged["logged"] and logged["matches"] == ["oak-containers-milan-release/kernel"]
    assert not unlogged["logged"]
    assert all(c["ok"] is not False for c in logged["checks"])
    assert [f["rule"] for f in component["open_findings"]] == ["ENDORSED_NOT_LOGGED"]
    findings = json.loads(audit("findings", "--rule", "WRONG_KEY", "--json").stdout)["findings"]
    assert [f["component"] for f in findings] == ["kernel_cmd_line"]
    # A component only findings name (an observed value no key covers) can be asked about;
    # `audit findings` listed it and refused it as unknown.
    acpi = audit("findings", "--component", "acpi", "--json")
    assert acpi.exit_code == 0, acpi.stderr
    assert {f["rule"] for f in json.loads(acpi.stdout)["findings"]} == {"OBSERVED_UNCOVERED"}
    since_future = audit("findings", "--since", "2999-01-01T00:00:00Z", "--json")
    assert json.loads(since_future.stdout)["findings"] == []
    status = json.loads(audit("status", "--json").stdout)
    assert status["last_run"]["kind"] == "run" and status["last_run"]["exit_code"] == 1
    assert status["counts"]["entries"] == 5 and status["counts"]["endorsements"] == 10
    assert status["logs"][0]["name"] == "rekor.sigstore.dev"
    assert "5 entries, 10 endorsements, 1 failed verification, 15 findings, " in \
        audit("status").stderr  # it said "1 failed verifications"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has no session zone
def test_times_read_back_in_utc_whatever_the_database_session_zone(
        audit: RunAudit, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL gives a timestamptz back in the session's zone (the server's TimeZone, or
    libpq's PGTZ): the tables' "(UTC)" columns showed local time, and reports and evidence read
    differently by server."""
    monkeypatch.setenv("PGTZ", "Asia/Kolkata")  # UTC+05:30
    run(audit, "--config", str(config(tmp_path)), "--offline")
    component = json.loads(audit("component", "kernel", "--json").stdout)
    logged = component["endorsements"][0]
    assert logged["integrated_time"].endswith("+00:00"), logged["integrated_time"]
    assert logged["integrated_time"][:19] in audit("component", "kernel").stderr
    report = json.loads(audit("report").stdout)
    assert report["run"]["started_at"].endswith("+00:00"), report["run"]
    assert f"run at {report['run']['started_at'][:19]}," in audit("status").stderr
