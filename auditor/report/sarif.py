r"""`sarif`: SARIF 2.1.0 (OASIS Standard) for code-scanning dashboards.

- `tool.driver` is auditor with one rule per `auditor.findings.RULES` entry; a rule's
  `defaultConfiguration.level` follows its severity (critical/high → error, medium → warning,
  low/info → note) and GitHub's `security-severity` property is set for non-informational
  rules.
- One result per finding, suppressed or not. A suppressed finding carries
  `suppressions: [{kind: "external", justification}]` (§3.35: the suppression lives in the
  auditor configuration, outside the scanned artifact).
- `kind` says what a result is (§3.27.9): `pass` for MATCH, `informational` for other info
  findings, `fail` for the rest; the spec requires `level: "none"` unless the kind is `fail`.
- `partialFingerprints["auditorFinding/v1"]` is the finding's stable fingerprint, so a
  dashboard follows one finding across runs.
- Every message is SARIF plain text (§3.11.3), where `{0}` is a placeholder (§3.11.5) and
  `[text](target)` an embedded link a viewer shows as a link (§3.11.6): text from a log (a
  subject name `[x](javascript:...)`) is made literal with the spec's own escapes, braces
  doubled, backslashes and square brackets escaped with a backslash. A viewer that ignores
  those escapes (a Markdown renderer, a link regex: `\[x\](...)` still holds `[x\](...)`)
  must find no link, image or HTML either, so every string a viewer shows (messages,
  justifications, location names) is also defused: control and invisible characters,
  newlines included, are shown escaped (one line, no bidi reordering), a space separates a
  `]` from a `(` or `[` after it, and a `<` from a letter, `/`, `!` or `?` after it (no tag,
  comment or `<scheme:...>` autolink), as it separates the bare links a renderer or a link
  regex finds with no markup: a `:` from a `//` after it, a `www` from a `.`, an `@` from a
  name (no `https://...`, `www.example` or `user@example` autolink, no `@user` mention). No
  `markdown` message is written. Property bags keep
  the exact values: they are data, which viewers show as JSON.
- Every result is anchored to the configuration file the run used (`run.config`): findings are
  about the deployment the configuration describes, and SARIF consumers need a file. A relative
  path is kept relative to `%SRCROOT%`; an absolute one becomes relative to `root` when given
  and under it, a `file://` URI otherwise. A report without a configuration file (a one-off
  `audit reconcile` with flags) is anchored to the placeholder `auditor.toml`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, TextIO
from urllib.parse import quote

from auditor.findings import RULES, Rule, Severity
from auditor.report.interface import ReportFormat
from auditor.report.json_document import stream, write_streamed
from auditor.report.model import Report
from auditor.report.text import visible

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
FINGERPRINT_KEY = "auditorFinding/v1"
PLACEHOLDER_CONFIG = "auditor.toml"
SOURCE_ROOT = "%SRCROOT%"
_SOURCE_ROOT_TEXT = "The directory the audit ran in, where a relative configuration path starts."

LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub code scanning reads rule.properties["security-severity"] (0.1-3.9 low, 4-6.9 medium,
# 7-8.9 high, 9-10 critical) to rank security alerts.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
}


# §3.11.5: "{" and "}" SHALL be written "{{" and "}}"; §3.11.6: a literal "[" or "]" is escaped
# with a backslash, and so is a literal backslash (one before an escaped bracket would escape
# the escape instead, and the bracket would open a link).
_PLAIN_TEXT = str.maketrans({"{": "{{", "}": "}}", "\\": "\\\\", "[": "\\[", "]": "\\]"})


# After "]": a link's "(target)" or a reference's "[label]"; after "<": a tag, a comment or
# declaration, a processing instruction, an autolink's scheme. And what a renderer or a link
# regex links with no markup at all (GitHub's extended autolinks): a scheme's ":" before "//"
# (https://...), "www" before "." (www.example), "@" before a name (user@example, @user).
_MARKUP_START = re.compile(r"(?<=\])(?=[(\[])|(?<=<)(?=[A-Za-z/!?])|(?<=:)(?=//)"
                           r"|(?i:(?<=www))(?=\.)|(?<=@)(?=[A-Za-z0-9])")


def defused(value: str) -> str:
    """A string a viewer shows, made unable to form a link, image or HTML in any viewer: on
    one line, its invisible characters shown escaped, its markup openings broken by a space."""
    return _MARKUP_START.sub(" ", visible(value, keep=""))


def plain_text(value: str) -> dict[str, str]:
    """A message object (§3.11) whose text reads as `value`, with no placeholder or link."""
    return {"text": _MARKUP_START.sub(" ", visible(value, keep="").translate(_PLAIN_TEXT))}


def _rule_name(rule_id: str) -> str:
    return "".join(word.capitalize() for word in rule_id.split("_"))


def sarif_rule(rule: Rule) -> dict[str, Any]:
    """A reportingDescriptor (§3.49) for one auditor rule."""
    properties: dict[str, Any] = {"tags": ["security", "supply-chain"],
                                  "severity": rule.severity.value}
    if rule.severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[rule.severity]
    return {
        "id": rule.id,
        "name": _rule_name(rule.id),
        "shortDescription": plain_text(rule.title),
        "fullDescription": plain_text(rule.explanation),
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": properties,
    }


def config_location(config: str | None, root: str | None = None) -> dict[str, Any]:
    """The artifactLocation (§3.4) results are anchored to."""
    if config is None:
        return {"uri": PLACEHOLDER_CONFIG, "uriBaseId": SOURCE_ROOT}
    path = PurePosixPath(config)
    if root is not None and path.is_absolute() and path.is_relative_to(root):
        path = path.relative_to(root)
    if path.is_absolute():
        return {"uri": "file://" + quote(str(path))}
    return {"uri": quote(str(path)), "uriBaseId": SOURCE_ROOT}


def _kind_and_level(finding: Mapping[str, Any]) -> tuple[str, str]:
    severity = Severity(finding["severity"])
    if finding["rule"] == "MATCH":
        return "pass", "none"
    if severity is Severity.INFO:
        return "informational", "none"
    return "fail", LEVELS[severity]


def _message(finding: Mapping[str, Any]) -> str:
    where = ", ".join(f"{name} {finding[name]}" for name in ("component", "release")
                      if finding[name] is not None)
    return f"{finding['title']}" + (f" ({where})" if where else "") + f": {finding['detail']}"


def _result(finding: Mapping[str, Any], rule_index: dict[str, int],
            location: dict[str, Any]) -> dict[str, Any]:
    kind, level = _kind_and_level(finding)
    logical = [{"name": defused(finding[name]), "kind": name} for name in ("component", "release")
               if finding[name] is not None]
    result: dict[str, Any] = {
        "ruleId": finding["rule"],
        "ruleIndex": rule_index[finding["rule"]],
        "kind": kind,
        "level": level,
        "message": plain_text(_message(finding)),
        "locations": [{
            "physicalLocation": {"artifactLocation": location, "region": {"startLine": 1}},
            **({"logicalLocations": logical} if logical else {}),
        }],
        "partialFingerprints": {FINGERPRINT_KEY: finding["fingerprint"]},
        "properties": {"severity": finding["severity"], "component": finding["component"],
                       "release": finding["release"], "evidence": finding["evidence"]},
    }
    if finding["suppressed"] is not None:
        result["suppressions"] = [{
            "kind": "external",
            "status": "accepted",
            "justification": defused(finding["suppressed"]["reason"]),
            "properties": {"expires": finding["suppressed"]["expires"]},
        }]
    return result


def _invocation(report: Report) -> dict[str, Any]:
    run = report["run"]
    invocation: dict[str, Any] = {
        "executionSuccessful": run["complete"],
        "exitCode": report["summary"]["exit_code"],
    }
    if run["started_at"] is not None:
        invocation["startTimeUtc"] = run["started_at"]
    if run["finished_at"] is not None:
        invocation["endTimeUtc"] = run["finished_at"]
    return invocation


class SarifFormat(ReportFormat):
    """SARIF 2.1.0; `root` (a directory) makes an absolute config path relative to it."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root

    def write(self, report: Report, out: TextIO) -> None:
        rules = list(RULES.values())
        rule_index = {str(rule.id): index for index, rule in enumerate(rules)}
        location = config_location(report["run"]["config"], self.root)
        document = {
            "$schema": SARIF_SCHEMA,
            "version": SARIF_VERSION,
            "runs": [{
                "tool": {"driver": {
                    "name": defused(report["tool"]["name"]),
                    "version": defused(report["tool"]["version"]),
                    "rules": [sarif_rule(rule) for rule in rules],
                }},
                "invocations": [_invocation(report)],
                "originalUriBaseIds": {
                    SOURCE_ROOT: {"description": plain_text(_SOURCE_ROOT_TEXT)}},
                "results": stream("results"),
                "properties": {"generatedAt": report["generated_at"], "logs": report["logs"],
                               "summary": report["summary"]},
            }],
        }
        results = (_result(f, rule_index, location) for f in report["findings"])
        write_streamed(document, {"results": results}, out)
