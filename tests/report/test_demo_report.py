"""The reports of the shipped demo (`audit run --config reference_values/demo/oak.toml`), as a
new user first reads them: what they credit, count and place must be true of the real data.

The demo reconciles Oak's June 2025 release and its staging build (reference_values/snapshot):
the release's keys come from `keys/oak_containers_release.toml`, the development key only from
staging's `reference_values.binarypb`; both releases run the same kernel command line, which the
release's logged endorsement vouches for and the development key also signed (unlogged).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import RunAudit
from tests.report.htmltree import inspect

DEMO = Path(__file__).resolve().parents[2] / "reference_values" / "demo"
RELEASE_KEYS = str(DEMO / ".." / "keys" / "oak_containers_release.toml")
STAGING_VALUES = str(DEMO / ".." / "snapshot" / "oak-containers-milan-staging" /
                     "reference_values.binarypb")
#: The development key (single-entry-2024's), which staging's reference values pin.
DEVELOPMENT_KEY = "1cb29b92808fd0d1b399c4510c2849b75a97e27e002586f5b05283d38d9fb1ef"
RELEASES = ("oak-containers-milan-release", "oak-containers-milan-staging")


@pytest.fixture
def demo(audit: RunAudit, tmp_path: Path, db_url: str) -> tuple[str, Path]:
    """The demo's run: its stderr, and the directory of its reports."""
    reports = tmp_path / "reports"
    result = audit("run", "--config", str(DEMO / "oak.toml"), "--offline", "--report-dir",
                   str(reports), "--format", "json", "--format", "html", "--format", "md")
    assert result.exit_code == 1, result.stderr
    return result.stderr, reports


def document(reports: Path) -> dict[str, Any]:
    return json.loads((reports / "audit-report.json").read_text())  # type: ignore[no-any-return]


def test_each_key_is_credited_to_the_sources_that_name_it(demo: tuple[str, Path]) -> None:
    components = {c["name"]: c for c in document(demo[1])["components"]}
    for name, component in components.items():
        for key in component["keys"]:
            expected = STAGING_VALUES if key["sha256"] == DEVELOPMENT_KEY else RELEASE_KEYS
            assert key["source"] == expected, (name, key)
    # The development key is pinned for four components, never for the cmdline.
    assert sum(DEVELOPMENT_KEY in [k["sha256"] for k in c["keys"]]
               for c in components.values()) == 4
    assert [k["sha256"] for k in components["kernel_cmd_line"]["keys"]] != [DEVELOPMENT_KEY]


def test_a_value_two_releases_share_lists_both_matches(demo: tuple[str, Path]) -> None:
    cmdlines = [e for e in document(demo[1])["endorsements"]
                if e["component"] == "kernel_cmd_line"]
    (logged,) = [e for e in cmdlines if e["logged"]]
    assert logged["matches"] == [f"{release}/kernel_cmd_line" for release in RELEASES]


def test_the_cli_and_the_reports_count_findings_alike(demo: tuple[str, Path]) -> None:
    stderr, reports = demo
    summary = document(reports)["summary"]
    (line,) = [line for line in stderr.splitlines() if line.startswith("audit run: ")]
    said = {severity: int(n) for n, severity in re.findall(
        r"(\d+) (critical|high|medium|low|info)\b", line)}
    assert said == summary["by_severity"] == {"critical": 1, "medium": 4, "info": 10}
    assert "(6 MATCH)" in line and line.startswith("audit run: 2 releases, ")
    page = inspect((reports / "audit-report.html").read_text())
    badges = {text.split()[1]: int(text.split()[0]) for text, parents in page.texts
              if parents[-2:] == ("div", "span") and re.fullmatch(r"\d+ [a-z]+", text)}
    assert {s: n for s, n in badges.items() if n} == said
    headline = (reports / "audit-report.md").read_text().splitlines()[2]
    assert "1 critical · 0 high · 4 medium · 0 low · 10 info" in headline


def test_counts_are_singular_or_plural_as_they_should_be(demo: tuple[str, Path]) -> None:
    _, reports = demo
    assert document(reports)["summary"]["failed_entries"] == 1
    page = inspect((reports / "audit-report.html").read_text()).text
    markdown = (reports / "audit-report.md").read_text()
    for text in (page, markdown):
        assert "1 failed entry" in text and "10 endorsements" in text
        assert "1 failed entries" not in text and "(s)" not in text


def _matrix(reports: Path) -> str:
    page = (reports / "audit-report.html").read_text()
    found = re.search(r'<table class="matrix" id="matrix">(.*?)</table>', page, flags=re.S)
    assert found is not None
    return found.group(1)


def test_matrix_names_each_releases_evidence_once_relative_to_the_config(
        demo: tuple[str, Path]) -> None:
    header, *rows = re.findall(r"<tr>(.*?)</tr>", _matrix(demo[1]), flags=re.S)
    for release in RELEASES:
        shown = f"../snapshot/{release}/evidence.binarypb (evidence)"
        assert header.count(shown) == 1
    assert "evidence.binarypb" not in "".join(rows)
    assert str(DEMO.parent) not in header and "/.." not in header


def test_a_wrong_key_endorsement_of_a_matched_value_shows_in_its_cell(
        demo: tuple[str, Path]) -> None:
    """The cmdline MATCHes the release's logged endorsement, and the same regex is also
    endorsed by the development key, which the cmdline does not pin (the critical WRONG_KEY of
    the run): the cell says both, and is coloured by the worse."""
    rows = re.findall(r"<tr>(.*?)</tr>", _matrix(demo[1]), flags=re.S)
    (cmdline,) = [row for row in rows if "<code>kernel_cmd_line</code>" in row]
    cells = re.findall(r'<td class="status st-([a-z_]+)">(.*?)</td>', cmdline, flags=re.S)
    assert len(cells) == len(RELEASES)
    for status, content in cells:
        assert status == "invalid"
        assert "MATCH" in content and "INVALID" in content and "WRONG_KEY" in content
    markdown = (demo[1] / "audit-report.md").read_text()
    matrix_md = markdown.split("### Components × releases", 1)[1].split("###", 1)[0]
    (cmdline_md,) = [row for row in matrix_md.splitlines()
                     if row.startswith("| `kernel_cmd_line` |")]
    assert cmdline_md.count("**INVALID**") == len(RELEASES)
