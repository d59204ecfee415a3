"""`md`: GitHub-flavoured Markdown for a pull request comment or an Actions step summary.

Every value from the report is escaped before it reaches the Markdown: an untrusted string must
not become a link, an image, HTML, a heading, a mention or an extra table column. Two forms:

- `text()` for prose: every ASCII punctuation character is backslash-escaped (CommonMark §2.4
  allows it for all of them, so no character keeps a Markdown meaning), `@` and `#` go into a
  one-character code span (GFM's e-mail autolinks and GitHub's @mentions and #references ignore
  escapes but skip code), newlines become `<br>`;
- `code()` for identifiers (names, digests, UUIDs): a code span whose backtick fence is longer
  than any backtick run inside it, with `|` escaped in table cells (GFM §4.10).

Evidence goes into a fenced block whose fence is longer than any run of backticks it holds.
The only HTML in the output is written here (`<br>`, `<details>`, `<summary>`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any, TextIO

from auditor.report.interface import ReportFormat
from auditor.report.json_document import dump_json
from auditor.report.model import Report
from auditor.report.text import visible
from auditor.report.view import (
    STATUS_LABELS,
    findings_by_severity,
    logged_by,
    newest_per_component,
    severity_counts,
    sorted_findings,
    status_matrix,
    verdict,
)
from auditor.wording import counted

#: Findings shown in full (most severe first); the rest are counted by rule.
DETAILED_FINDINGS = 200
#: The newest endorsements listed per component; the rest are counted.
ENDORSEMENTS_PER_COMPONENT = 20

_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")  # every ASCII punctuation character
_NO_LINK = {"@": "`@`", "#": "`#`"}
_VERDICT_MARK = {"PASS": "✅", "FAIL": "❌", "INCOMPLETE": "⚠️"}
_STATUS_MARK = {"match": "🟢", "mismatch": "🔴", "not_endorsed": "🔴", "invalid": "🔴",
                "undecidable": "🟡", "not_logged": "🟠", "info": "⚪"}


def _escape_punctuation(match: re.Match[str]) -> str:
    char = match.group()
    return _NO_LINK.get(char, "\\" + char)


def text(value: str | None) -> str:
    """Untrusted prose as inert Markdown text (usable in a table cell too)."""
    if value is None:
        return "—"
    escaped = _PUNCTUATION.sub(_escape_punctuation, visible(value, keep="\n"))
    return escaped.replace("\n", "<br>")


def code(value: str | None, *, in_table: bool = True) -> str:
    """Untrusted identifier as a code span; nothing inside a code span is interpreted."""
    if value is None:
        return "—"
    if value == "":
        return "(empty)"
    content = visible(value, keep="")
    if in_table:
        content = content.replace("|", "\\|")  # GFM tables split on | even inside code spans
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if content.startswith("`") or content.endswith("`") else ""
    return f"{fence}{pad}{content}{pad}{fence}"


def _fenced(body: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}json\n{body}\n{fence}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _headline(report: Report) -> list[str]:
    result = verdict(report)
    summary = report["summary"]
    counts = " · ".join(f"{n} {severity}" for severity, n in severity_counts(report))
    run = report["run"]
    return [
        f"## {_VERDICT_MARK[result]} auditor: {result}",
        "",
        f"**{result}** (exit code {summary['exit_code']}): {counts}; "
        f"{summary['suppressed']} suppressed; {counted(summary['endorsements'], 'endorsement')}"
        f", {counted(summary['failed_entries'], 'failed entry')}.",
        "",
        f"Generated {text(report['generated_at'])} by auditor "
        f"{code(report['tool']['version'], in_table=False)}"
        f" · {run['kind']} started {text(run['started_at'])}, finished "
        f"{text(run['finished_at'])} · config {code(run['config'], in_table=False)}"
        f" · {'offline' if run['offline'] else 'online'}"
        f" · {'complete' if run['complete'] else 'INCOMPLETE'}",
        *_overrides(run),
    ]


def _overrides(run: Mapping[str, Any]) -> list[str]:
    """Trust chosen outside the config file, said where the reader cannot miss it."""
    overrides = run.get("overrides") or {}
    if not overrides:
        return []
    said = "; ".join(f"{text(name)} set by {text(origin)}" for name, origin in overrides.items())
    return ["", f"**Trust overrides** (not from the config file): {said}."]


def _matrix(report: Report) -> list[str]:
    matrix = status_matrix(report)
    if not matrix.releases:
        return ["### Releases", "", "No release was reconciled."]
    rows = []
    for component in matrix.components:
        row = [code(component)]
        for index in range(len(matrix.releases)):
            cells = matrix.cell(component, index)
            row.append("<br>".join(
                f"{_STATUS_MARK[c.status]} **{STATUS_LABELS[c.status]}**" for c in cells) or "—")
        rows.append(row)
    header = ["component", *(code(name) + (f"<br>{code(artifact)}" if artifact else "")
                             for name, artifact in zip(matrix.releases, matrix.artifacts,
                                                       strict=True))]
    return ["### Components × releases", "", *_table(header, rows)]


def _finding(finding: Mapping[str, Any]) -> list[str]:
    where = " · ".join(part for part in (
        code(finding["component"], in_table=False) if finding["component"] else "",
        f"release {code(finding['release'], in_table=False)}" if finding["release"] else "",
    ) if part)
    lines = [f"- **{finding['rule']}** {text(finding['title'])}" + (f" · {where}" if where else "")]
    suppressed = finding["suppressed"]
    if suppressed is not None:
        lines.append(f"  - _Suppressed_ until {text(suppressed['expires'])}: "
                     f"{text(suppressed['reason'])}")
    lines += [
        f"  - {text(finding['detail'])}",
        f"  - Why it matters: {text(finding['explanation'])}",
        f"  - Fingerprint {code(finding['fingerprint'], in_table=False)}",
        "",
        "  <details><summary>Evidence</summary>",
        "",
        *("  " + line for line in _fenced(dump_json(finding["evidence"], indent=2)).split("\n")),
        "",
        "  </details>",
        "",
    ]
    return lines


def _findings(report: Report) -> list[str]:
    """The most severe findings in full, the rest counted by rule (a pull-request comment must
    stay readable; the JSON report keeps every finding)."""
    lines = ["### Findings", ""]
    if not report["findings"]:
        return [*lines, "No findings."]
    counts = findings_by_severity(report["findings"])
    shown = 0
    rest: Counter[tuple[str, str]] = Counter()
    current = None
    for finding in sorted_findings(report["findings"]):
        if shown >= DETAILED_FINDINGS:
            rest[(finding["severity"], finding["rule"])] += 1
            continue
        if finding["severity"] != current:
            current = finding["severity"]
            lines += [f"#### {current.capitalize()} ({counts[current]})", ""]
        lines += _finding(finding)
        shown += 1
    if rest:
        lines += [f"… and {counted(sum(rest.values()), 'more finding')}, in the JSON report:",
                  ""]
        lines += [f"- {n} × **{rule}** ({severity})" for (severity, rule), n in rest.items()]
    return lines


def _checks(entry: Mapping[str, Any]) -> str:
    failed = [c["name"] for c in entry["checks"] if c["ok"] is False]
    if failed:
        return "❌ failed: " + ", ".join(code(name) for name in failed)
    return "✅ verified" if entry["ok"] else "❌ not verified"


def _logged(entry: Mapping[str, Any]) -> str:
    if entry["log_index"] is not None:
        return text(entry["integrated_time"])
    return f"logged by {text(logged_by(entry))}" if entry["logged"] else "**not logged**"


def _endorsements(report: Report) -> list[str]:
    lines = ["### Endorsements", ""]
    if not report["endorsements"]:
        return [*lines, "No endorsement under a component key."]
    sample = newest_per_component(report["endorsements"], ENDORSEMENTS_PER_COMPONENT)
    rows = [[
        code(e["component"]), _logged(e),
        code(None if e["log_index"] is None else str(e["log_index"])), code(e["uuid"]),
        code(e["subject_name"]), _checks(e),
        "<br>".join(code(m) for m in e["matches"]) or "—",
    ] for e in sample.kept]
    header = ["component", "integrated", "log index", "UUID", "subject", "checks", "matches"]
    more = [f"… and {counted(n, 'older endorsement')} of {code(component, in_table=False)}"
            for component, n in sample.more.items()]
    return [*lines, *_table(header, rows), *(["", *more] if more else [])]


def _logs(report: Report) -> list[str]:
    rows = [[
        code(log["name"]), code(log["log_id"]), str(head["tree_id"]), str(head["tree_size"]),
        code(head["root_hash"]), "frozen" if head["frozen"] else "active",
    ] for log in report["logs"] for head in log["heads"]]
    if not rows:
        return ["### Log heads", "", "No log head was used."]
    header = ["log", "log ID", "tree ID", "size", "root hash", "shard"]
    return ["### Log heads", "", *_table(header, rows)]


class MarkdownFormat(ReportFormat):
    def write(self, report: Report, out: TextIO) -> None:
        sections = [_headline(report), _matrix(report), _findings(report),
                    _endorsements(report), _logs(report)]
        out.write("\n\n".join("\n".join(section).rstrip("\n") for section in sections) + "\n")
