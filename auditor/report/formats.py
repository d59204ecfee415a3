"""Report formats: one enum member per `audit report --format` value, one renderer each.

`render(report, fmt)` validates the document against the published schema first, so every
renderer may rely on its shape; a document that does not follow it is an `InputError`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, TextIO, cast

from auditor.errors import InputError
from auditor.report.csv_table import CsvFormat
from auditor.report.html_page import HtmlFormat
from auditor.report.interface import ReportFormat
from auditor.report.json_document import JsonFormat
from auditor.report.jsonl import JsonLinesFormat
from auditor.report.kinds import OutputFormat
from auditor.report.markdown import MarkdownFormat
from auditor.report.model import Report
from auditor.report.sarif import SarifFormat
from auditor.report.validate import checked, validate_report

__all__ = ["OutputFormat", "ReportFormat", "render", "validate_report", "write"]


def formatter(fmt: OutputFormat) -> ReportFormat:
    return _FORMATTERS[fmt]()


_FORMATTERS: dict[OutputFormat, Callable[[], ReportFormat]] = {
    OutputFormat.JSON: JsonFormat,
    OutputFormat.JSONL: JsonLinesFormat,
    OutputFormat.CSV: CsvFormat,
    OutputFormat.MD: MarkdownFormat,
    OutputFormat.HTML: HtmlFormat,
    OutputFormat.SARIF: SarifFormat,
}


def _format(fmt: OutputFormat | str) -> OutputFormat:
    try:
        return OutputFormat(fmt)
    except ValueError:
        choices = ", ".join(member.value for member in OutputFormat)
        raise InputError(f"unknown report format {fmt!r}: choose one of {choices}") from None


def write(report: Report | dict[str, Any], fmt: OutputFormat | str, out: TextIO) -> None:
    """`report` written as `fmt` to `out`, checked against report-v1.schema.json as it goes
    (a row that does not follow the schema stops the writing with an `InputError`)."""
    output = _format(fmt)
    formatter(output).write(checked(cast(Report, report)), out)


def render(report: Report | dict[str, Any], fmt: OutputFormat | str) -> str:
    """`report` rendered as `fmt` (a string: for small reports and tests)."""
    buffer = io.StringIO()
    write(report, fmt, buffer)
    return buffer.getvalue()
