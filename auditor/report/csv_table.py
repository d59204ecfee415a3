"""`csv`: one row per finding, for spreadsheets, safe against formula injection.

Columns: rule, severity, title, component, release, detail, fingerprint, suppressed (the
suppression reason, empty when not suppressed), suppression_expires, evidence (compact,
sorted, ASCII JSON).

A spreadsheet evaluates a cell that starts with `=`, `+`, `-` or `@` as a formula (and a
leading tab or carriage return can hide such a character), so `=HYPERLINK(...)` from a log would
become a live link or worse. Following OWASP's "CSV Injection" guidance, every such cell is
prefixed with a single quote, which spreadsheets treat as "this is text", and every cell is
quoted. Control and bidi characters are shown as escapes (see `auditor.report.text`).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from typing import Any, TextIO

from auditor.report.interface import ReportFormat
from auditor.report.json_document import dump_json
from auditor.report.model import Report
from auditor.report.text import visible

COLUMNS = ("rule", "severity", "title", "component", "release", "detail", "fingerprint",
           "suppressed", "suppression_expires", "evidence")
# OWASP CSV Injection: the characters a spreadsheet reads as the start of a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: str | None) -> str:
    """`value` as a cell no spreadsheet evaluates: empty for None, quote-prefixed if a formula."""
    if value is None:
        return ""
    text = visible(value, keep="\n")
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _row(finding: Mapping[str, Any]) -> list[str]:
    suppressed = finding["suppressed"] or {}
    values: list[str | None] = [
        finding["rule"], finding["severity"], finding["title"], finding["component"],
        finding["release"], finding["detail"], finding["fingerprint"],
        suppressed.get("reason"), suppressed.get("expires"), dump_json(finding["evidence"]),
    ]
    return [spreadsheet_cell(value) for value in values]


class CsvFormat(ReportFormat):
    def write(self, report: Report, out: TextIO) -> None:
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")  # RFC 4180
        writer.writerow(COLUMNS)
        for finding in report["findings"]:
            writer.writerow(_row(finding))
