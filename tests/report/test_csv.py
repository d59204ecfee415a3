"""csv: one row per finding, parsed back; no cell a spreadsheet would evaluate."""

from __future__ import annotations

import csv
import io
import json

import pytest

from auditor.report.csv_table import COLUMNS, spreadsheet_cell
from auditor.report.formats import OutputFormat, render
from tests.report import reports
from tests.report.reports import hostile_report, oak_report


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(("hostile", "cell"), [
    # OWASP "CSV Injection" payloads: each would run or link in Excel/LibreOffice/Sheets.
    (reports.HYPERLINK, "'" + reports.HYPERLINK),
    (reports.DDE, "'" + reports.DDE),
    (reports.MINUS, "'" + reports.MINUS),
    (reports.AT, "'" + reports.AT),
    ("=1+1", "'=1+1"),
    ("=cmd|' /C notepad'!'A1'", "'=cmd|' /C notepad'!'A1'"),
    ("-1", "'-1"),
    # A leading tab or CR is made visible, and the escaped cell starts with a backslash.
    (reports.TAB_FORMULA, "\\x09=1+1"),
    (reports.CR_FORMULA, "\\x0d=1+1"),
    ("plain text", "plain text"),
    ("a=1", "a=1"),
    (None, ""),
])
def test_spreadsheet_cell(hostile: str | None, cell: str) -> None:
    assert spreadsheet_cell(hostile) == cell


def test_csv_parses_back_one_row_per_finding() -> None:
    report = oak_report()
    rows = _rows(render(report, OutputFormat.CSV))
    assert rows[0] == list(COLUMNS)
    assert len(rows) == 1 + len(report["findings"])
    for row, finding in zip(rows[1:], report["findings"], strict=True):
        record = dict(zip(COLUMNS, row, strict=True))
        assert record["rule"] == finding["rule"]
        assert record["severity"] == finding["severity"]
        assert record["fingerprint"] == finding["fingerprint"]
        assert record["component"] == (finding["component"] or "")
        assert json.loads(record["evidence"]) == finding["evidence"]
        suppressed = finding["suppressed"]
        assert record["suppressed"] == (suppressed["reason"] if suppressed else "")
        assert record["suppression_expires"] == (suppressed["expires"] if suppressed else "")


def test_no_hostile_cell_starts_a_formula() -> None:
    text = render(hostile_report(), OutputFormat.CSV)
    rows = _rows(text)
    cells = [cell for row in rows for cell in row]
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert "\x1b" not in text and "\u202e" not in text
    record = dict(zip(COLUMNS, rows[4], strict=True))  # the fourth finding's detail is HYPERLINK
    assert record["detail"].startswith("'=HYPERLINK(")
    suppressed = [dict(zip(COLUMNS, r, strict=True)) for r in rows[1:] if r[7]]
    assert [r["suppressed"] for r in suppressed] == ["'" + reports.DDE + reports.MD_LINK]


def test_every_cell_is_quoted_and_rows_end_with_crlf() -> None:
    text = render(oak_report(), OutputFormat.CSV)
    first = text.split("\r\n")[0]
    assert first == ",".join(f'"{c}"' for c in COLUMNS)
