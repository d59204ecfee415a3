"""The format seam: every OutputFormat renders, render() validates, the schema is enforced."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from auditor.errors import InputError
from auditor.findings import RULES
from auditor.report.formats import OutputFormat, ReportFormat, formatter, render, validate_report
from auditor.report.model import Rows
from auditor.report.validate import checked, report_schema
from auditor.report.view import sorted_findings
from tests.report.reports import hostile_report, oak_report


@pytest.mark.parametrize("fmt", list(OutputFormat))
@pytest.mark.parametrize("build", [oak_report, hostile_report])
def test_every_format_renders_every_report(fmt: OutputFormat, build: Any) -> None:
    report = build()
    before = copy.deepcopy(report)
    output = render(report, fmt)
    assert output.endswith("\n") and len(output) > 500
    assert isinstance(formatter(fmt), ReportFormat)
    assert report == before, "rendering must not modify the report"


def test_format_names_are_the_cli_contract() -> None:
    # issue 5: `audit report --format json|jsonl|csv|md|html|sarif`
    assert [f.value for f in OutputFormat] == ["json", "jsonl", "csv", "md", "html", "sarif"]
    assert render(oak_report(), "md") == render(oak_report(), OutputFormat.MD)


def test_unknown_format_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown report format 'pdf'"):
        render(oak_report(), "pdf")


def test_hand_built_reports_follow_the_schema() -> None:
    validate_report(oak_report())
    validate_report(hostile_report())


def test_schema_rule_ids_are_the_findings_rules() -> None:
    enum = report_schema()["$defs"]["finding"]["properties"]["rule"]["enum"]
    assert sorted(enum) == sorted(RULES)


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    report = oak_report()
    target: Any = report
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return report


@pytest.mark.parametrize(("path", "value", "where"), [
    (["schema_version"], 2, "$.schema_version"),
    (["findings", 0, "severity"], "urgent", "$.findings[0].severity"),
    (["findings", 0, "fingerprint"], "XYZ", "$.findings[0].fingerprint"),
    (["generated_at"], "yesterday", "$.generated_at"),
    (["generated_at"], "2025-07-01T12:00:00", "$.generated_at"),  # RFC 3339 needs an offset
    (["findings", 8, "suppressed", "expires"], "2099-13-01", "$.findings[8].suppressed.expires"),
    (["releases", 0, "components", 0, "status"], "green", "$.releases[0].components[0].status"),
    (["logs", 0, "log_id"], "not hex", "$.logs[0].log_id"),
    (["summary"], KeyError, "$"),
    (["run", "surprise"], True, "$.run"),
])
def test_schema_violations_are_input_errors_naming_the_place(
        path: list[Any], value: Any, where: str) -> None:
    report = _broken(path, value)
    with pytest.raises(InputError) as caught:
        validate_report(report)
    message = str(caught.value)
    assert f"at {where}:" in message
    assert "\n" not in message


@pytest.mark.parametrize(("path", "value", "where"), [
    (["findings", 0, "severity"], "urgent", "$.findings[0].severity"),
    (["findings", 2, "fingerprint"], "XYZ", "$.findings[2].fingerprint"),
    (["findings", 8, "suppressed", "expires"], "2099-13-01", "$.findings[8].suppressed.expires"),
    (["findings", 1, "surprise"], 1, "$.findings[1]"),
    (["endorsements", 0, "integrated_time"], "2025-07-01T12:00:00", "$.endorsements[0]"),
])
def test_streamed_rows_are_checked_as_they_are_read(path: list[Any], value: Any,
                                                    where: str) -> None:
    # Rows are checked one by one (compiled schema, jsonschema naming the violation).
    member = path[0]
    rows = checked(_broken(path, value))[member]  # type: ignore[literal-required]
    with pytest.raises(InputError) as caught:
        list(rows)
    assert f"at {where}" in str(caught.value) and "\n" not in str(caught.value)
    assert len(list(checked(oak_report())[member])) == len(oak_report()[member])  # type: ignore[literal-required]


def test_schema_error_message_is_one_short_line_whatever_the_data() -> None:
    report = oak_report()
    report["findings"][0]["severity"] = "\x1b[31m" + "x\n" * 500
    with pytest.raises(InputError) as caught:
        render(report, OutputFormat.HTML)
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message and len(message) < 400


def test_json_document_is_the_report() -> None:
    report = hostile_report()
    assert json.loads(render(report, OutputFormat.JSON)) == report


def test_rows_the_store_streams_in_order_are_never_loaded_to_sort() -> None:
    # A report of a large store streams its findings; checking them must keep them streamed.
    report = oak_report()
    findings, reads = list(report["findings"]), []

    def stream() -> Iterator[Any]:
        reads.append(1)
        yield from findings

    report["findings"] = Rows(stream, len(findings), ordered=True)
    rows = checked(report)["findings"]
    assert sorted_findings(rows) is rows and not reads
    unordered = checked({**report, "findings": Rows(stream, 1)})["findings"]
    assert isinstance(sorted_findings(unordered), list) and reads
