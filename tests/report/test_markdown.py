"""md: rendered with GitHub's own cmark-gfm, hostile text stays text and tables keep shape."""

from __future__ import annotations

import re

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from auditor.report.formats import OutputFormat, render
from auditor.report.markdown import code, text
from tests.report import reports
from tests.report.htmltree import Inspector, inspect
from tests.report.reports import hostile_report, oak_report

# What our own Markdown produces; nothing else may appear, whatever the data.
ALLOWED_TAGS = {"h2", "h3", "h4", "p", "strong", "em", "code", "table", "thead", "tbody", "tr",
                "th", "td", "ul", "li", "br", "details", "summary", "pre"}
ALLOWED_ATTRS = {("pre", "lang"), ("code", "class"), ("th", "align"), ("td", "align")}


def github_html(markdown: str) -> Inspector:
    # UNSAFE keeps raw HTML in the output, so any HTML the data smuggled in would show up here.
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    return inspect(html)


@pytest.mark.parametrize("hostile", reports.HOSTILE)
def test_text_renders_as_exactly_the_visible_string(hostile: str) -> None:
    from auditor.report.text import visible

    page = github_html(f"| h |\n|---|\n| {text(hostile)} |\n")
    assert page.tags() <= {"table", "thead", "tbody", "tr", "th", "td", "br", "code"}
    cell_text = "".join(data for data, parents in page.texts if "td" in parents)
    assert cell_text == visible(hostile, keep="\n").replace("\n", "")
    assert sum(1 for e in page.elements if e.tag == "td") == 1


@pytest.mark.parametrize("hostile", reports.HOSTILE)
def test_code_renders_as_exactly_the_visible_string(hostile: str) -> None:
    from auditor.report.text import visible

    for markdown, inside in ((f"| h |\n|---|\n| {code(hostile)} |\n", "td"),
                             (f"- {code(hostile, in_table=False)}\n", "li")):
        page = github_html(markdown)
        spans = [e for e in page.elements if e.tag == "code"]
        assert len(spans) == 1
        rendered = "".join(data for data, parents in page.texts if "code" in parents)
        # A code span turns its edges' single spaces into nothing (CommonMark §6.1).
        assert rendered.strip() == visible(hostile, keep="").strip(), inside


def test_report_markdown_holds_no_markup_from_the_data() -> None:
    page = github_html(render(hostile_report(), OutputFormat.MD))
    assert page.tags() <= ALLOWED_TAGS
    for element in page.elements:
        for name, _ in element.attrs:
            assert (element.tag, name) in ALLOWED_ATTRS, (element.tag, name)
    assert not page.comments
    body = page.text
    assert reports.SCRIPT in body and reports.IMG in body and reports.MD_LINK in body
    assert "\x1b" not in body and "\u202e" not in body


def test_mentions_and_email_autolinks_stay_inside_code() -> None:
    page = github_html(render(hostile_report(), OutputFormat.MD))
    for data, parents in page.texts:
        if "@" in data:
            assert "code" in parents or "pre" in parents, data


def test_tables_keep_their_shape() -> None:
    html = cmarkgfm.github_flavored_markdown_to_html(
        render(hostile_report(), OutputFormat.MD), options=Options.CMARK_OPT_UNSAFE)
    tables = re.findall(r"<table>.*?</table>", html, flags=re.S)
    assert len(tables) == 3  # matrix, endorsements, log heads
    for table in tables:
        rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
        widths = {len(re.findall(r"<t[hd][ >]", row)) for row in rows}
        assert len(widths) == 1, widths


def test_headline_and_sections() -> None:
    report = oak_report()
    markdown = render(report, OutputFormat.MD)
    assert markdown.startswith("## ❌ auditor: FAIL\n")
    assert "1 critical · 2 high · 1 medium · 0 low · 6 info" in markdown
    page = github_html(markdown)
    headings = [data for data, parents in page.texts if parents and parents[-1] in ("h3", "h4")]
    # Medium holds the undecidable digest and the suppressed not-logged finding.
    assert headings == ["Components × releases", "Findings", "Critical (1)", "High (2)",
                        "Medium (2)", "Info (6)", "Endorsements", "Log heads"]
    # The matrix row for the kernel: a match in the real release, a mismatch in the candidate.
    assert "| `kernel` | 🟢 **MATCH** | 🔴 **MISMATCH** |" in markdown


def test_pass_and_incomplete_headlines() -> None:
    report = oak_report()
    report["summary"]["exit_code"] = 0
    assert render(report, OutputFormat.MD).startswith("## ✅ auditor: PASS\n")
    report["run"]["complete"] = False
    report["summary"]["exit_code"] = 3
    assert render(report, OutputFormat.MD).startswith("## ⚠️ auditor: INCOMPLETE\n")
