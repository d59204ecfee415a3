"""Report formats: one enum member per `audit report --format` value, one renderer each.

`render(report, fmt)` validates the document against the published schema first, so every
renderer may rely on its shape; a document that does not follow it is an `InputError`.
"""

from __future__ import annotations

from typing import Any

from auditor.errors import InputError
from auditor.report.csv_table import CsvFormat
from auditor.report.html_page import HtmlFormat
from auditor.report.interface import ReportFormat
from auditor.report.json_document import JsonFormat
from auditor.report.jsonl import JsonLinesFormat
from auditor.report.kinds import OutputFormat
from auditor.report.markdown import MarkdownFormat
from auditor.report.sarif import SarifFormat
from auditor.report.validate import validate_report

__all__ = ["OutputFormat", "ReportFormat", "render", "validate_report"]


def formatter(fmt: OutputFormat) -> ReportFormat:
    return _FORMATTERS[fmt]()


_FORMATTERS: dict[OutputFormat, type[ReportFormat]] = {
    OutputFormat.JSON: JsonFormat,
    OutputFormat.JSONL: JsonLinesFormat,
    OutputFormat.CSV: CsvFormat,
    OutputFormat.MD: MarkdownFormat,
    OutputFormat.HTML: HtmlFormat,
    OutputFormat.SARIF: SarifFormat,
}


def render(report: dict[str, Any], fmt: OutputFormat | str) -> str:
    """`report` rendered as `fmt`, after checking it against report-v1.schema.json."""
    try:
        output = OutputFormat(fmt)
    except ValueError:
        choices = ", ".join(member.value for member in OutputFormat)
        raise InputError(f"unknown report format {fmt!r}: choose one of {choices}") from None
    validate_report(report)
    return formatter(output).render(report)
