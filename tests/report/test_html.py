"""html: parsed back with html.parser; no element or attribute comes from the data."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest

from auditor.report.formats import OutputFormat, render
from auditor.report.html_page import STATUS_COLOURS
from auditor.report.text import visible
from auditor.report.view import STATUS_LABELS
from tests.report import reports
from tests.report.htmltree import Inspector, inspect
from tests.report.reports import hostile_report, oak_report

# Every element and attribute the renderer itself writes; the data may add none.
TAGS = {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3", "div",
        "span", "br", "dl", "dt", "dd", "table", "tr", "th", "td", "code", "p", "strong",
        "details", "summary", "pre", "svg", "rect", "g", "text", "line", "circle", "path"}
ATTRIBUTES = {"class", "id", "open", "lang", "charset", "http-equiv", "content", "name",
              "xmlns", "viewbox", "role", "aria-label", "x", "y", "width", "height", "fill",
              "stroke", "stroke-width", "stroke-dasharray", "font-weight", "text-anchor", "x1",
              "y1", "x2", "y2", "cx", "cy", "r", "d"}


@pytest.fixture(scope="module")
def hostile() -> Inspector:
    return inspect(render(hostile_report(), OutputFormat.HTML))


def test_no_element_or_attribute_from_the_data(hostile: Inspector) -> None:
    assert hostile.tags() <= TAGS, hostile.tags() - TAGS
    for element in hostile.elements:
        for name, value in element.attrs:
            assert name in ATTRIBUTES, (element.tag, name)
            assert not name.startswith("on")
            if name == "class":
                assert re.fullmatch(r"[a-z0-9 _-]+", value or ""), value
    assert not hostile.comments
    assert sum(1 for e in hostile.elements if e.tag == "svg") == 1
    assert sum(1 for e in hostile.elements if e.tag == "style") == 1


def test_hostile_payloads_are_text(hostile: Inspector) -> None:
    body = hostile.text
    for payload in (reports.SCRIPT, reports.IMG, reports.SVG_BREAKOUT, reports.HYPERLINK,
                    reports.MD_LINK, reports.HTML_ENTITY, reports.LONG):
        assert payload in body, payload[:40]
    assert visible(reports.ANSI) in body and "\x1b" not in body
    assert visible(reports.BIDI) in body and "\u202e" not in body
    # Inside the SVG too: the component name is a <title> and (shortened) label text.
    svg_text = "".join(d for d, parents in hostile.texts if "svg" in parents)
    assert "kernel" + reports.SCRIPT + reports.IMG in svg_text


def test_self_contained_with_strict_content_security_policy(hostile: Inspector) -> None:
    csp = next(dict(e.attrs)["content"] for e in hostile.elements
               if dict(e.attrs).get("http-equiv") == "Content-Security-Policy")
    assert csp is not None
    style = "".join(d for d, parents in hostile.texts if parents and parents[-1] == "style")
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    directives = {part.split()[0]: part.split()[1:] for part in csp.split("; ")}
    assert directives["default-src"] == ["'none'"]
    assert directives["style-src"] == [f"'sha256-{digest}'"]
    assert directives["script-src"] == ["'none'"]
    assert "url(" not in style and "@import" not in style
    for element in hostile.elements:
        for name, value in element.attrs:
            if name != "xmlns":
                assert "://" not in (value or ""), (element.tag, name)


def test_matrix_cells_carry_text_and_a_status_colour() -> None:
    page = render(oak_report(), OutputFormat.HTML)
    matrix = re.search(r'<table class="matrix" id="matrix">(.*?)</table>', page, flags=re.S)
    assert matrix is not None
    rows = re.findall(r"<tr>(.*?)</tr>", matrix.group(1), flags=re.S)
    assert len(rows) == 1 + 6  # header, five components and the observed-only acpi
    cells = re.findall(r'<td class="status st-([a-z_]+)">(.*?)</td>', matrix.group(1), flags=re.S)
    seen = {status for status, _ in cells}
    assert seen == set(STATUS_COLOURS) | {"none"}
    for status, content in cells:
        if status != "none":
            assert STATUS_LABELS[status] in content  # never colour alone
    for status, colour in STATUS_COLOURS.items():
        assert f"td.st-{status}{{background:{colour}}}" in page


@pytest.mark.parametrize("build", [oak_report, hostile_report])
def test_every_id_is_unique(build: Callable[[], dict[str, Any]]) -> None:
    """A fragment link (#timeline) names one element; the timeline's heading and its chart
    both had the id `timeline`, which HTML does not allow."""
    ids = re.findall(r' id="([^"]*)"', render(build(), OutputFormat.HTML))
    assert len(ids) == len(set(ids)) >= 8, ids


def test_timeline_marks_every_logged_endorsement() -> None:
    report = oak_report()
    report["endorsements"][0]["ok"] = False
    page = render(report, OutputFormat.HTML)
    svg = re.search(r"<svg .*?</svg>", page, flags=re.S)
    assert svg is not None
    assert svg.group().count("<circle ") == 4 and svg.group().count('stroke="#b3261e"') == 1
    assert svg.group().count(">2025-06-0") == 5  # five dated ticks on the time axis


def test_findings_are_details_sorted_by_severity() -> None:
    report = oak_report()
    page = inspect(render(report, OutputFormat.HTML))
    badges = [d for d, parents in page.texts
              if parents[-2:] == ("summary", "span") and d in ("critical", "high", "medium",
                                                               "low", "info")]
    assert badges == ["critical", "high", "high", "medium", "medium"] + ["info"] * 6
    details = [e for e in page.elements if e.tag == "details"]
    assert len(details) == len(report["findings"])
    opened = [e for e in details if any(name == "open" for name, _ in e.attrs)]
    assert len(opened) == 4  # critical, high, high, medium; the suppressed one stays shut


def test_log_heads_and_checkpoints_are_shown() -> None:
    report = oak_report()
    page = inspect(render(report, OutputFormat.HTML)).text
    head = report["logs"][0]["heads"][0]
    assert head["checkpoint"].strip() in page
    assert head["root_hash"] in page and str(head["tree_id"]) in page
