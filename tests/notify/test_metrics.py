"""The metrics file: parsed back with prometheus_client, written atomically, documented rules."""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import subprocess
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from auditor.errors import ConfigError
from auditor.findings import RULES, Severity
from auditor.metrics import (
    RunMetrics,
    ShardHead,
    count_findings,
    metrics_registry,
    write_metrics_file,
)
from auditor.report.text import visible
from tests.notify.conftest import readme_section
from tests.notify.findings import release_findings, suppressed
from tests.report.reports import NEWLINES

STARTED = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
HOSTILE_COMPONENT = 'kernel"} 1\nauditor_last_run_exit_code 0\n\\' + NEWLINES


def run_metrics() -> RunMetrics:
    findings = release_findings()
    findings[0] = suppressed(findings[0])  # ENTRY_INVALID no longer counts
    return RunMetrics(
        started=STARTED, duration_seconds=12.5, exit_code=1, complete=True,
        findings=count_findings(findings),
        endorsements={"kernel": 3, "stage0": 2, HOSTILE_COMPONENT: 1},
        entries={"kernel": 4, "stage0": 2},
        log_heads=[ShardHead("rekor.sigstore.dev", "1193050959916656506", 182_345_678,
                             datetime(2026, 3, 2, 5, 59, tzinfo=UTC)),
                   ShardHead("rekor.sigstore.dev", "3904496407287907110", 11_000_000,
                             datetime(2022, 10, 1, tzinfo=UTC), active=False)],
        requests={"rekor.sigstore.dev": 41}, retries={"rekor.sigstore.dev": 3},
        alerts_delivered={"webhook": 2, "github": 1}, alert_failures={"email": 2})


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_file_parses_back_to_the_numbers_given(tmp_path: Path) -> None:
    path = tmp_path / "auditor.prom"
    write_metrics_file(run_metrics(), path)
    got = samples(path.read_bytes().decode())
    assert got[("auditor_last_run_timestamp_seconds", ())] == STARTED.timestamp()
    assert got[("auditor_last_run_duration_seconds", ())] == 12.5
    assert got[("auditor_last_run_exit_code", ())] == 1
    assert got[("auditor_last_run_complete", ())] == 1
    findings = {labels: v for (name, labels), v in got.items() if name == "auditor_findings"}
    assert len(findings) == len(RULES)  # every rule, so a dashboard's series never vanish
    assert findings[(("rule", "UNEXPECTED_ENDORSEMENT"), ("severity", "high"))] == 1
    assert findings[(("rule", "ENTRY_INVALID"), ("severity", "critical"))] == 0  # suppressed
    assert findings[(("rule", "MATCH"), ("severity", "info"))] == 1
    assert sum(findings.values()) == 4
    assert got[("auditor_endorsements", (("component", "kernel"),))] == 3
    # No raw CR or LF in the file; its backslash doubled (one series per name).
    shown = visible(HOSTILE_COMPONENT.replace("\\", "\\\\"), keep="")
    assert got[("auditor_endorsements", (("component", shown),))] == 1
    assert got[("auditor_log_entries", (("component", "stage0"),))] == 2
    active = (("log", "rekor.sigstore.dev"), ("shard", "1193050959916656506"),
              ("state", "active"))
    assert got[("auditor_log_head_size", active)] == 182_345_678
    assert got[("auditor_log_head_growth_timestamp_seconds", active)] == datetime(
        2026, 3, 2, 5, 59, tzinfo=UTC).timestamp()
    frozen = (("log", "rekor.sigstore.dev"), ("shard", "3904496407287907110"),
              ("state", "frozen"))
    assert got[("auditor_log_head_size", frozen)] == 11_000_000
    assert got[("auditor_last_run_http_requests", (("log", "rekor.sigstore.dev"),))] == 41
    assert got[("auditor_last_run_http_retries", (("log", "rekor.sigstore.dev"),))] == 3
    assert got[("auditor_last_run_alerts_delivered", (("channel", "webhook"),))] == 2
    assert got[("auditor_last_run_alert_failures", (("channel", "email"),))] == 2
    # A hostile label value stays one label value: no sample was injected.
    assert [v for (n, _), v in got.items() if n == "auditor_last_run_exit_code"] == [1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert b"\r" not in path.read_bytes()


def test_names_that_look_alike_once_made_visible_stay_two_series(tmp_path: Path) -> None:
    # A real NUL is shown as the four characters \x00: a component named so by a log took
    # over the series of one whose name is those four characters (one value was lost).
    path = tmp_path / "auditor.prom"
    metrics = replace(run_metrics(), endorsements={"k\x00": 5, "k\\x00": 6},
                      requests={"log\u202e": 7, "log\\u202e": 8})
    write_metrics_file(metrics, path)
    got = samples(path.read_text())
    assert got[("auditor_endorsements", (("component", "k\\x00"),))] == 5
    assert got[("auditor_endorsements", (("component", "k\\\\x00"),))] == 6
    assert got[("auditor_last_run_http_requests", (("log", "log\\u202e"),))] == 7
    assert got[("auditor_last_run_http_requests", (("log", "log\\\\u202e"),))] == 8


def test_count_findings_counts_only_unsuppressed_findings() -> None:
    findings = release_findings()
    assert count_findings(findings)[(Severity.CRITICAL, "ENTRY_INVALID")] == 1
    assert (Severity.CRITICAL, "ENTRY_INVALID") not in count_findings(
        [suppressed(f) for f in findings])


def test_a_symlinked_target_is_refused_and_left_alone(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not yours")
    link = tmp_path / "auditor.prom"
    link.symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="is a symlink; refusing to replace it"):
        write_metrics_file(run_metrics(), link)
    assert link.is_symlink() and elsewhere.read_text() == "not yours"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auditor.prom", "elsewhere.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_partial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "auditor.prom"
    write_metrics_file(run_metrics(), path)
    before = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ConfigError, match="No space left on device"):
        write_metrics_file(replace(run_metrics(), exit_code=3), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["auditor.prom"]


def test_a_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "auditor.prom"
    versions = [replace(run_metrics(), exit_code=code,
                        endorsements={f"component-{i}": i for i in range(300 * code)})
                for code in (0, 1)]
    write_metrics_file(versions[0], path)
    expected = {path.read_text()}
    write_metrics_file(versions[1], path)
    expected.add(path.read_text())
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append(path.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(200):
            write_metrics_file(versions[i % 2], path)
    finally:
        done.set()
        reader.join()
    assert seen and set(seen) <= expected
    assert [p.name for p in tmp_path.iterdir()] == ["auditor.prom"]


def test_an_unwritable_place_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write the metrics file"):
        write_metrics_file(run_metrics(), tmp_path / "missing-dir" / "auditor.prom")
    (tmp_path / "adir.prom").mkdir()
    (tmp_path / "adir.prom" / "x").write_text("")
    with pytest.raises(ConfigError, match="cannot write the metrics file"):
        write_metrics_file(run_metrics(), tmp_path / "adir.prom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir.prom"]


# -- the documented alerting rules -------------------------------------------------------------


def documented_rules() -> str:
    [block] = re.findall(r"```yaml\n(.*?)```", readme_section(), re.S)
    return str(block)


def test_the_documented_rules_and_table_name_only_metrics_the_file_has() -> None:
    written = {family.name for family in metrics_registry(run_metrics()).collect()}
    section = readme_section()
    table = set(re.findall(r"^\| `(auditor_[a-z_]+)`", section, re.M))
    assert table == written
    assert set(re.findall(r"auditor_[a-z_]+(?=[{ )])", documented_rules())) <= written


def promtool() -> str:
    """Prometheus's rule checker; CI installs it (.ci/run), elsewhere its absence skips."""
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package",
                        pytrace=False)
        pytest.skip("promtool (Debian package prometheus) is not installed")
    return found


def test_the_documented_rules_fire_when_they_should(tmp_path: Path) -> None:
    tool = promtool()
    (tmp_path / "rules.yml").write_text(documented_rules())
    shutil.copy(Path(__file__).parent / "data" / "alerting-rules.test.yml", tmp_path / "t.yml")
    for command in ([tool, "check", "rules", "rules.yml"], [tool, "test", "rules", "t.yml"]):
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
