"""`html`: one self-contained page for a security reviewer.

The page needs no network and runs no script: all CSS is in one `<style>` element whose SHA-256
is the only style source the Content-Security-Policy allows (`default-src 'none'`), the
timeline is inline SVG, and there is no JavaScript at all. Every value from the report goes
through `html.escape(..., quote=True)` after `visible()` (control and bidi characters shown as
escapes), in text, in attributes and inside SVG; CSS classes come from fixed tables keyed by
schema enums, never from the data.

Sections: headline (verdict and counts), run metadata, the components × releases matrix
(coloured by status and always labelled in text), the endorsement timeline per component,
findings sorted by severity with their evidence in `<details>`, endorsements, components and
keys, and the log heads and checkpoints the run used.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any, TextIO

from auditor.report.interface import ReportFormat
from auditor.report.json_document import dump_json
from auditor.report.model import Report
from auditor.report.text import visible
from auditor.report.view import (
    STATUS_LABELS,
    Matrix,
    Sample,
    logged_by,
    newest_per_component,
    severity_counts,
    sorted_findings,
    status_matrix,
    verdict,
)
from auditor.wording import counted

#: Findings shown in full (most severe first); every further one is a row of a compact table.
DETAILED_FINDINGS = 200
#: The newest endorsements shown (table and timeline) per component; the rest are counted.
ENDORSEMENTS_PER_COMPONENT = 50

#: Matrix cell colours (tests look for these exact colours in a screenshot). Never colour alone:
#: every cell also carries its STATUS_LABELS text and a symbol.
STATUS_COLOURS = {
    "match": "#6cc783",
    "mismatch": "#ef8a8a",
    "not_endorsed": "#ef8a8a",
    "invalid": "#ef8a8a",
    "undecidable": "#f5c542",
    "not_logged": "#f59e42",
    "info": "#c4c9cf",
}
STATUS_SYMBOLS = {"match": "✔", "mismatch": "✘", "not_endorsed": "✘", "invalid": "✘",
                  "undecidable": "?", "not_logged": "⚠", "info": "ℹ"}
SEVERITY_COLOURS = {"critical": "#7a0b0b", "high": "#b3261e", "medium": "#9a5200",
                    "low": "#2f5f9e", "info": "#59636e"}
#: Endorsement table columns and their widths (percent of the table).
_ENTRY_COLUMNS = {"Component": 10, "Logged": 14, "Validity": 17, "Subject": 16,
                  "Measurements": 15, "Checks": 8, "Matches": 9, "UUID": 11}
_VERDICT_CLASS = {"PASS": "pass", "FAIL": "fail", "INCOMPLETE": "incomplete"}
_SEVERITY_CLASS = {name: name for name in SEVERITY_COLOURS}
#: A cell with several entries is coloured by its most harmful status.
_STATUS_HARM = ["info", "match", "not_logged", "undecidable", "mismatch", "not_endorsed", "invalid"]

_CSS = "\n".join([
    "body{margin:0;background:#fff;color:#1b1f24;"
    "font:15px/1.45 'DejaVu Sans','Liberation Sans',system-ui,sans-serif}",
    "main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}",
    "h1{font-size:24px;margin:8px 0}",
    "h2{font-size:19px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}",
    "code,pre,.mono{font-family:'DejaVu Sans Mono','Liberation Mono',monospace;font-size:13px}",
    "pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:4px;padding:8px;"
    "white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0}",
    "table{border-collapse:collapse;width:100%;margin:8px 0}",
    "th,td{border:1px solid #d0d7de;padding:5px 8px;text-align:left;vertical-align:top;"
    "overflow-wrap:anywhere}",
    "th{background:#f6f8fa}",
    # Fixed layout: long hashes wrap inside their column instead of squeezing the others.
    "table.entries{font-size:13px;table-layout:fixed}table.heads th{white-space:nowrap}",
    *(f"th.w{width}{{width:{width}%}}" for width in sorted(set(_ENTRY_COLUMNS.values()))),
    ".verdict{border:3px solid;border-radius:8px;padding:12px 16px;margin:8px 0 12px}",
    ".verdict-pass{border-color:#1f7a35;background:#eef9f0}",
    ".verdict-fail{border-color:#b3261e;background:#fdeeee}",
    ".verdict-incomplete{border-color:#9a5200;background:#fff4e0}",
    ".verdict .word{font-size:22px;font-weight:bold;letter-spacing:.04em;margin-right:12px}",
    ".badge{display:inline-block;color:#fff;border-radius:10px;padding:1px 9px;"
    "margin:2px 4px 2px 0;font-size:13px;font-weight:bold}",
    *(f".sev-{name}{{background:{colour}}}" for name, colour in SEVERITY_COLOURS.items()),
    ".muted{color:#57606a}",
    "dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}",
    "dl.meta dt{font-weight:bold}dl.meta dd{margin:0;overflow-wrap:anywhere;white-space:pre-line}",
    "table.matrix td.status{font-weight:bold;color:#111}",
    *(f"td.st-{name}{{background:{colour}}}" for name, colour in STATUS_COLOURS.items()),
    "td.st-none{background:#fff;color:#57606a}",
    ".cell-detail{display:block;font-weight:normal;font-size:12px;white-space:pre-line}",
    ".legend span{display:inline-block;margin-right:14px}",
    "details.finding{border:1px solid #d0d7de;border-radius:6px;margin:8px 0;padding:4px 10px}",
    "details.finding>summary{cursor:pointer;padding:4px 0}",
    "details.suppressed{opacity:.75;border-style:dashed}",
    "svg.timeline{width:100%;height:auto;border:1px solid #d0d7de;border-radius:4px}",
    "svg text{font-family:'DejaVu Sans',sans-serif;font-size:12px;fill:#1b1f24}",
])
_CSP = (f"default-src 'none'; style-src 'sha256-"
        f"{base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()}'; "
        "img-src 'none'; script-src 'none'; base-uri 'none'; form-action 'none'")


def esc(value: object) -> str:
    """Any report value as HTML text or attribute content."""
    if value is None:
        return "—"
    return escape(visible(str(value), keep="\n"), quote=True)


def _code(value: object) -> str:
    return "<span class=\"muted\">—</span>" if value is None else f"<code>{esc(value)}</code>"


def _headline(report: Report) -> str:
    result = verdict(report)
    summary = report["summary"]
    badges = "".join(f'<span class="badge sev-{severity}">{count} {severity}</span>'
                     for severity, count in severity_counts(report))
    return (
        f'<div class="verdict verdict-{_VERDICT_CLASS[result]}" id="verdict">'
        f'<span class="word">{result}</span> exit code {esc(summary["exit_code"])}<br>{badges}'
        f'<span class="muted">{esc(summary["suppressed"])} suppressed · '
        f'{esc(counted(summary["endorsements"], "endorsement"))} · '
        f'{esc(counted(summary["failed_entries"], "failed entry"))}</span></div>'
    )


def _metadata(report: Report) -> str:
    run = report["run"]
    rows = [
        ("Generated", esc(report["generated_at"])),
        ("Tool", f"{esc(report['tool']['name'])} {esc(report['tool']['version'])}"),
        ("Run", f"{esc(run['kind'])} · started {esc(run['started_at'])} · finished "
                f"{esc(run['finished_at'])}"),
        ("Complete", "yes" if run["complete"] else "<strong>NO: the audit is incomplete</strong>"),
        ("Network", "offline (stored data only)" if run["offline"] else "online"),
        ("Configuration", _code(run["config"])),
        *(("Trust override", f"<strong>{esc(name)}</strong> set by {esc(origin)}")
          for name, origin in (run.get("overrides") or {}).items()),
        ("Report schema", f"version {esc(report['schema_version'])}"),
    ]
    items = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    return f'<dl class="meta">{items}</dl>'


def _matrix_cell(matrix: Matrix, component: str, index: int) -> str:
    cells = matrix.cell(component, index)
    if not cells:
        return '<td class="status st-none">— not in release</td>'
    status = max((c.status for c in cells), key=_STATUS_HARM.index)
    lines = "".join(
        f"<span>{STATUS_SYMBOLS[c.status]} {STATUS_LABELS[c.status]}</span>"
        f'<span class="cell-detail">{esc(c.detail)}</span>'
        + (f'<span class="cell-detail mono">{esc(c.artifact)}</span>' if c.artifact else "")
        for c in cells)
    return f'<td class="status st-{status}">{lines}</td>'


def _matrix(report: Report) -> str:
    matrix = status_matrix(report)
    if not matrix.releases:
        return "<p>No release was reconciled.</p>"
    header = "".join(
        f"<th>{esc(name)}"
        + (f'<span class="cell-detail mono">{esc(artifact)}</span>' if artifact else "")
        + "</th>" for name, artifact in zip(matrix.releases, matrix.artifacts, strict=True))
    rows = "".join(
        f"<tr><th><code>{esc(component)}</code></th>"
        + "".join(_matrix_cell(matrix, component, i) for i in range(len(matrix.releases)))
        + "</tr>"
        for component in matrix.components)
    legend = "".join(f"<span>{STATUS_SYMBOLS[s]} {label}</span>"
                     for s, label in STATUS_LABELS.items())
    return (f'<table class="matrix" id="matrix"><tr><th>component \\ release</th>{header}</tr>'
            f'{rows}</table><p class="legend muted">{legend}</p>')


# Timeline geometry (SVG user units; the SVG scales to the page width).
_WIDTH, _LEFT, _RIGHT, _LANE, _TOP, _AXIS = 1140, 250, 40, 48, 8, 40
_MAX_LABEL = 30
_STAGGER = (0, -9, 9)


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)  # validate_report checked RFC 3339 with an offset


def _short(value: str) -> str:
    return value if len(value) <= _MAX_LABEL else value[: _MAX_LABEL - 1] + "…"


Lane = tuple[str, str | None]  # (component, signing key sha256)


def _lanes(report: Report, sample: Sample) -> dict[Lane, list[Mapping[str, Any]]]:
    """One timeline lane per component key: a key that signs too much stands out."""
    lanes: dict[Lane, list[Mapping[str, Any]]] = {
        (c["name"], k["sha256"]): [] for c in report["components"] for k in c["keys"]}
    for entry in sample.kept:
        lane = (entry["component"] or "(no component)", entry.get("key_sha256"))
        lanes.setdefault(lane, []).append(entry)
    return lanes


def _key_label(key: str | None) -> str:
    return f"key {key[:12]}…" if key else "key unknown"


def _mark(entry: Mapping[str, Any], cx: float, cy: float) -> str:
    tip = esc(f"{'verified' if entry['ok'] else 'FAILED verification'}: "
              f"{entry['integrated_time']} · log index {entry['log_index']} · "
              f"uuid {entry['uuid']} · subject {entry['subject_name']}")
    if entry["ok"]:
        shape = (f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="#1f7a35" '
                 'stroke="#ffffff" stroke-width="1.5"/>')
    else:  # a cross, not only a red dot: shape carries the meaning as well as colour
        d = (f"M{cx - 6:.1f},{cy - 6:.1f}L{cx + 6:.1f},{cy + 6:.1f}"
             f"M{cx - 6:.1f},{cy + 6:.1f}L{cx + 6:.1f},{cy - 6:.1f}")
        shape = f'<path d="{d}" stroke="#b3261e" stroke-width="3.5"/>'
    return f"<g><title>{tip}</title>{shape}</g>"


def _lane(row: int, lane: Lane, entries: list[Mapping[str, Any]],
          x: Callable[[datetime], float]) -> str:
    component, key = lane
    top = _TOP + row * _LANE
    mid = top + _LANE / 2
    unlogged = sum(1 for e in entries if not e["logged"])
    note = f"{len(entries) - unlogged} logged"
    if unlogged:
        note += f", {unlogged} not logged"
    parts = [
        f'<rect x="0" y="{top}" width="{_WIDTH}" height="{_LANE}" '
        f'fill="{"#f6f8fa" if row % 2 == 0 else "#ffffff"}"/>'
        f'<g><title>{esc(component)}</title><text x="8" y="{top + 19}" font-weight="bold">'
        f"{esc(_short(component))}</text></g>"
        f'<text x="8" y="{top + 36}" fill="#57606a">{esc(_key_label(key))}'
        f" · {esc(note)}</text>"
        f'<line x1="{_LEFT}" y1="{mid}" x2="{_WIDTH - _RIGHT}" y2="{mid}" stroke="#c9d1d9"/>']
    logged = sorted((e for e in entries if e["integrated_time"] is not None),
                    key=lambda e: _when(e["integrated_time"]))
    # Entries logged close together are staggered over three rows so each stays visible.
    parts += [_mark(entry, x(_when(entry["integrated_time"])), mid + _STAGGER[index % 3])
              for index, entry in enumerate(logged)]
    return "".join(parts)


#: The first and last instants a datetime holds: a log may integrate an entry at either.
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def _padded(lo: datetime, hi: datetime) -> tuple[datetime, datetime]:
    """The timeline's ends: a margin around the entries, within the instants a datetime holds
    (an entry logged at 9999-12-31T23:59:59Z, which the log may claim, is drawn at the edge)."""
    pad = max((hi - lo) * 0.03, timedelta(hours=12))
    return (lo - pad if lo - _EARLIEST > pad else _EARLIEST,
            hi + pad if _LATEST - hi > pad else _LATEST)


def _timeline(report: Report, sample: Sample) -> str:
    lanes = _lanes(report, sample)
    times = [_when(e["integrated_time"]) for e in sample.kept if e["integrated_time"] is not None]
    if not lanes or not times:
        return "<p>No logged endorsement to place on a timeline.</p>"
    lo, hi = _padded(min(times), max(times))
    span = (hi - lo).total_seconds()
    usable = _WIDTH - _LEFT - _RIGHT

    def x(moment: datetime) -> float:
        return _LEFT + (moment - lo).total_seconds() / span * usable

    parts = [_lane(row, lane, entries, x) for row, (lane, entries) in enumerate(lanes.items())]
    axis_y = _TOP + len(lanes) * _LANE
    for tick in range(5):
        moment = lo + (hi - lo) * (tick / 4)
        tx = x(moment)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{_TOP}" x2="{tx:.1f}" y2="{axis_y + 5}" stroke="#d0d7de" '
            f'stroke-dasharray="3,3"/><text x="{tx:.1f}" y="{axis_y + 20}" text-anchor="middle">'
            f"{esc(moment.astimezone(UTC).strftime('%Y-%m-%d'))}</text>")
    height = axis_y + _AXIS
    return (f'<svg class="timeline" id="timeline-chart" xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {_WIDTH} {height}" role="img" '
            f'aria-label="Endorsements per component by integrated time">{"".join(parts)}</svg>'
            '<p class="legend muted"><span>● verified entry</span><span>✘ entry that failed '
            "verification</span><span>horizontal axis: integrated time (UTC)</span></p>"
            + _hidden_note(sample))


def _hidden_note(sample: Sample) -> str:
    if not sample.hidden:
        return ""
    counts = ", ".join(f"{n} of <code>{esc(c)}</code>" for c, n in sample.more.items())
    older = counted(sample.hidden, "older one")
    return (f'<p class="muted">Showing the newest {ENDORSEMENTS_PER_COMPONENT} endorsements '
            f"of each component; {older} ({counts}) {'is' if sample.hidden == 1 else 'are'} "
            "in the JSON report.</p>")


def _finding(finding: Mapping[str, Any]) -> str:
    severity = finding["severity"]
    suppressed = finding["suppressed"]
    opened = "" if suppressed or severity in ("info", "low") else " open"
    where = "".join(
        f' · {label} <code>{esc(finding[key])}</code>'
        for key, label in (("component", "component"), ("release", "release"))
        if finding[key] is not None)
    mark = ' <span class="badge sev-info">suppressed</span>' if suppressed else ""
    rows = [("Detail", esc(finding["detail"])), ("Why it matters", esc(finding["explanation"])),
            ("Fingerprint", _code(finding["fingerprint"]))]
    if suppressed is not None:
        rows.append(("Suppressed", f"until {esc(suppressed['expires'])}: "
                                   f"{esc(suppressed['reason'])}"))
    items = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    return (
        f'<details class="finding{" suppressed" if suppressed else ""}"{opened}><summary>'
        f'<span class="badge sev-{_SEVERITY_CLASS[severity]}">{_SEVERITY_CLASS[severity]}</span>'
        f'<code>{esc(finding["rule"])}</code> {esc(finding["title"])}{where}{mark}</summary>'
        f'<dl class="meta">{items}</dl><p><strong>Evidence</strong></p>'
        f"<pre>{esc(dump_json(finding['evidence'], indent=2))}</pre></details>")


def _write_findings(report: Report, out: TextIO) -> None:
    """Every finding: the most severe in full, each further one as a compact table row."""
    if not report["findings"]:
        out.write("<p>No findings.</p>")
        return
    compact = 0
    for index, finding in enumerate(sorted_findings(report["findings"])):
        if index < DETAILED_FINDINGS:
            out.write(_finding(finding))
            continue
        if compact == 0:
            more = counted(len(report["findings"]) - DETAILED_FINDINGS, "more finding")
            out.write(f"<p>{more}, one row each (the JSON report has their evidence):</p>"
                      "<table><tr>"
                      "<th>Severity</th><th>Rule</th><th>Component</th><th>Release</th>"
                      "<th>Detail</th><th>Fingerprint</th></tr>")
        compact += 1
        out.write(_compact_row(finding))
    if compact:
        out.write("</table>")


def _compact_row(finding: Mapping[str, Any]) -> str:
    severity = finding["severity"]
    mark = " (suppressed)" if finding["suppressed"] else ""
    cells = [f'<span class="badge sev-{_SEVERITY_CLASS[severity]}">'
             f"{_SEVERITY_CLASS[severity]}</span>{mark}", _code(finding["rule"]),
             _code(finding["component"]), _code(finding["release"]),
             esc(_short_detail(finding["detail"])), _code(finding["fingerprint"])]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _short_detail(detail: str, limit: int = 300) -> str:
    return detail if len(detail) <= limit else detail[: limit - 1] + "…"


def _pairs(values: dict[str, str]) -> str:
    return "<br>".join(f"{esc(name)}: <code>{esc(value)}</code>"
                       for name, value in sorted(values.items()))


def _checks(entry: Mapping[str, Any]) -> str:
    doubtful = [c for c in entry["checks"] if c["ok"] is not True]
    if not doubtful:
        state = "✔ verified" if entry["ok"] else "✘ not verified"
        return f"{state} ({counted(len(entry['checks']), 'check')} passed)"
    return "<br>".join(
        f"{'✘ failed' if c['ok'] is False else '? not run'} <code>{esc(c['name'])}</code>: "
        f"{esc(c['detail'])}" for c in doubtful)


def _endorsement_row(entry: Mapping[str, Any]) -> str:
    logged = (f"{esc(entry['integrated_time'])}<br>index {esc(entry['log_index'])}<br>"
              f"<span class=\"muted\">tree {esc(entry['tree_id'])}</span>"
              if entry["log_index"] is not None
              else f"logged by {esc(logged_by(entry))}" if entry["logged"]
              else "<strong>not logged</strong>")
    subject = (f"{_code(entry['subject_name'])}<br>{_pairs(entry['subject_digests'])}"
               f"<br><span class=\"muted\">format {esc(entry['statement_format'])}</span>")
    cells = [
        _code(entry["component"]), logged,
        f"from {esc(entry['valid_from'])}<br>until {esc(entry['valid_until'])}",
        subject, _pairs(entry["measurements"]), _checks(entry),
        "<br>".join(_code(m) for m in entry["matches"]) or "—", _code(entry["uuid"]),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _endorsements(sample: Sample) -> str:
    if not sample.kept:
        return "<p>No endorsement under a component key.</p>"
    header = "".join(f'<th class="w{width}">{name}</th>' for name, width in _ENTRY_COLUMNS.items())
    rows = "".join(_endorsement_row(e) for e in sample.kept)
    return (f'<table class="entries" id="endorsements"><tr>{header}</tr>{rows}</table>'
            + _hidden_note(sample))


def _components(report: Report) -> str:
    if not report["components"]:
        return "<p>No component is configured.</p>"
    rows = "".join(
        f"<tr><td>{_code(c['name'])}</td><td>"
        + ("<br>".join(f"{_code(k['sha256'])} <span class=\"muted\">from {esc(k['source'])}"
                       "</span>" for k in c["keys"]) or "no key")
        + "</td></tr>"
        for c in report["components"])
    return f"<table><tr><th>Component</th><th>Pinned keys (SHA-256)</th></tr>{rows}</table>"


def _logs(report: Report) -> str:
    if not report["logs"]:
        return "<p>No log head was used.</p>"
    sections = []
    for log in report["logs"]:
        rows = "".join(
            f"<tr><td>{esc(h['tree_id'])}</td><td>{esc(h['tree_size'])}</td>"
            f"<td>{_code(h['root_hash'])}</td><td>{'frozen' if h['frozen'] else 'active'}</td>"
            f"<td><pre>{esc(h['checkpoint'])}</pre></td></tr>"
            for h in log["heads"])
        sections.append(
            f"<h3>{esc(log['name'])} <span class=\"muted\">log ID</span> {_code(log['log_id'])}"
            '</h3><table class="heads"><tr><th>Tree ID</th><th>Size</th><th>Root hash</th>'
            f"<th>Shard</th><th>Checkpoint</th></tr>{rows}</table>")
    return "".join(sections)


class HtmlFormat(ReportFormat):
    """One self-contained page that stays readable for any store: every finding (the most
    severe in full), the newest endorsements of each component with a count of the rest."""

    def write(self, report: Report, out: TextIO) -> None:
        result = verdict(report)
        sample = newest_per_component(report["endorsements"], ENDORSEMENTS_PER_COMPONENT)
        out.write(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            '<meta name="referrer" content="no-referrer">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>auditor report: {result}</title><style>{_CSS}</style></head>\n"
            f"<body><main><h1>auditor report</h1>{_headline(report)}{_metadata(report)}")
        out.write(f'<h2 id="releases">Components × releases</h2>{_matrix(report)}')
        out.write(f'<h2 id="timeline">Endorsements over time</h2>{_timeline(report, sample)}')
        out.write(f'<h2 id="findings">Findings ({len(report["findings"])})</h2>')
        _write_findings(report, out)
        out.write(f'<h2 id="endorsement-list">Endorsements ({len(report["endorsements"])})</h2>'
                  f"{_endorsements(sample)}")
        out.write(f'<h2 id="components">Components and keys</h2>{_components(report)}')
        out.write(f'<h2 id="logs">Log heads and checkpoints used</h2>{_logs(report)}')
        out.write("</main></body></html>\n")
