"""sarif: valid against the OASIS SARIF 2.1.0 schema, rules from RULES, fingerprints, anchors."""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, FormatChecker

from auditor.findings import RULES
from auditor.report.formats import OutputFormat, render
from auditor.report.sarif import SarifFormat, config_location
from auditor.report.text import visible
from tests.report import reports
from tests.report.reports import hostile_report, oak_report

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
# RFC 3986 §2: the characters a URI (reference) may hold; anything else must be %-encoded.
URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")

formats = FormatChecker(formats=())


@formats.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@formats.checks("uri")
def _uri(value: object) -> bool:
    return not isinstance(value, str) or bool(
        URI_CHARS.fullmatch(value) and re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value))


@formats.checks("uri-reference")
def _uri_reference(value: object) -> bool:
    return not isinstance(value, str) or bool(URI_CHARS.fullmatch(value))


@cache
def _validator() -> Draft4Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema, format_checker=formats)


# SARIF plain text (§3.11.5, §3.11.6) as a viewer reads it: an escaped backslash or bracket, a
# doubled brace, or one character (a bare "[" or "]" may open or close an embedded link, a bare
# brace a placeholder).
_PLAIN_TOKEN = re.compile(r"\\[\\\[\]]|\{\{|\}\}|.", re.S)


def literal(text: str) -> str:
    """What a SARIF viewer shows for plain text `text`, which must hold no link or placeholder."""
    tokens = _PLAIN_TOKEN.findall(text)
    bare = {"[", "]", "{", "}", "\\"} & set(tokens)
    assert not bare, f"{sorted(bare)} unescaped in {text!r}"
    return "".join(token[-1] for token in tokens)


def sarif(report: dict[str, Any], **options: Any) -> dict[str, Any]:
    text = SarifFormat(**options).render(report) if options else render(report, OutputFormat.SARIF)
    document: dict[str, Any] = json.loads(text)
    return document


@pytest.mark.parametrize("build", [oak_report, hostile_report])
def test_output_is_valid_sarif_2_1_0(build: Any) -> None:
    errors = sorted(_validator().iter_errors(sarif(build())), key=lambda e: e.json_path)
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors[:5]]


# What a naive viewer takes for markup, whatever SARIF's escapes: a link (a regex that reads
# `\[x\](...)` as holding `[x\](...)`) or an image (`!` before one), a reference link, an
# HTML tag, comment or `<scheme:...>` autolink, a bare link GitHub's renderer links by itself
# (`https://...`, `www.example`, `user@example`, an `@user` mention), a second line (a viewer
# showing the first line of a message).
NAIVE_MARKUP = re.compile(r"\[[^\]]*\][(\[]|<[A-Za-z/!?]|://|(?i:www)\.|@[A-Za-z0-9]"
                          r"|[\n\r\u2028\u2029]")
HOSTILE_TEXT = [reports.MD_LINK, reports.MD_IMAGE, "{0} and {{1}}", "\\[x\\](javascript:alert(1))",
                "[x\\](javascript:alert(1))", "a\\", "](", "[a][b]", "[a]\n[a]: https://evil",
                "`[x](y)` ``<b>``", reports.SCRIPT, "<!-- x -->", "<https://evil.example>",
                reports.NEWLINES, reports.BIDI, reports.ANSI, "x\u2028y",
                "see https://evil.example/x", "WWW.evil.example", "mail admin@evil.example",
                "mailto:a@b.example, cc @admin"]


def _unspaced(text: str) -> str:
    """`text` without the spaces defusing puts after a `]`, a `<`, a `:` before `//`, a `www`
    before `.`, an `@`."""
    return re.sub(r"(?<=[\]<@]) |(?<=:) (?=//)|(?i:(?<=www)) (?=\.)", "", text)


@pytest.mark.parametrize("hostile", HOSTILE_TEXT)
def test_text_from_a_log_is_no_link_and_no_placeholder_in_a_message(hostile: str) -> None:
    """SARIF plain text has its own syntax: `[x](javascript:...)` is an embedded link a viewer
    shows as one, `{0}` a placeholder for an argument there is none of; and a viewer that
    ignores its escapes (renders Markdown, matches links by regex) finds no link, image, HTML
    or second line either. Nothing is lost: what a SARIF viewer shows is the text with its
    invisible characters escaped, a space after a `]` or `<` that would open markup."""
    report = hostile_report()
    for finding in report["findings"]:
        finding["detail"] = f"a valid endorsement of {hostile!r}: {hostile}"
    run = sarif(report)["runs"][0]
    for result, finding in zip(run["results"], report["findings"], strict=True):
        assert not NAIVE_MARKUP.search(result["message"]["text"]), result["message"]["text"]
        shown = _unspaced(literal(result["message"]["text"]))
        assert shown.endswith(": " + _unspaced(visible(finding["detail"], keep="")))
        assert shown.startswith(finding["title"])
    for rule in run["tool"]["driver"]["rules"]:
        assert _unspaced(literal(rule["fullDescription"]["text"])) == \
            RULES[rule["id"]].explanation


def _shown(node: Any, key: str = "") -> list[str]:
    """Every string of a SARIF document a viewer shows: all but property bags (data, shown as
    JSON) and URIs (%-encoded)."""
    if isinstance(node, dict):
        return [text for k, value in node.items() if k != "properties"
                for text in _shown(value, k)]
    if isinstance(node, list):
        return [text for value in node for text in _shown(value, key)]
    return [node] if isinstance(node, str) and key not in ("uri", "$schema") else []


@pytest.mark.parametrize("hostile", HOSTILE_TEXT)
def test_no_string_a_viewer_shows_holds_markup(hostile: str) -> None:
    """Suppression justifications and location names (a component, a release) were written
    as given: `[x](javascript:...)` or `<script>` reached a viewer whole."""
    report = hostile_report()
    for finding in report["findings"]:
        finding["detail"] = finding["component"] = hostile
        finding["release"] = hostile + " release"
        if finding["suppressed"]:
            finding["suppressed"]["reason"] = hostile
    document = sarif(report)
    assert not [text for text in _shown(document) if NAIVE_MARKUP.search(text)]
    assert "markdown" not in json.dumps(document)
    result = next(r for r in document["runs"][0]["results"] if "suppressions" in r)
    assert _unspaced(result["suppressions"][0]["justification"]) == \
        _unspaced(visible(hostile, keep=""))


def test_the_validator_can_fail() -> None:
    document = sarif(oak_report())
    document["runs"][0]["results"][0]["level"] = "fatal"
    document["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"] = "has space"
    paths = {e.json_path for e in _validator().iter_errors(document)}
    assert "$.runs[0].results[0].level" in paths
    assert "$.runs[0].results[1].locations[0].physicalLocation.artifactLocation.uri" in paths


def test_header_driver_and_rules() -> None:
    document = sarif(oak_report())
    assert document["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert document["version"] == "2.1.0"
    driver = document["runs"][0]["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("auditor", "0.1.0")
    assert [rule["id"] for rule in driver["rules"]] == list(RULES)
    by_id = {rule["id"]: rule for rule in driver["rules"]}
    levels = {rule_id: rule["defaultConfiguration"]["level"] for rule_id, rule in by_id.items()}
    assert levels["ENTRY_INVALID"] == levels["WRONG_KEY"] == levels["LOG_INCONSISTENT"] == "error"
    assert levels["NOT_ENDORSED"] == levels["DIGEST_MISMATCH"] == "error"  # high
    assert levels["ENDORSED_NOT_LOGGED"] == levels["UNDECIDABLE_DIGEST"] == "warning"  # medium
    assert levels["LEGACY_FORMAT"] == levels["MATCH"] == levels["SHARD_ROTATED"] == "note"
    kernel = by_id["DIGEST_MISMATCH"]
    assert kernel["shortDescription"]["text"] == RULES["DIGEST_MISMATCH"].title
    assert kernel["fullDescription"]["text"] == RULES["DIGEST_MISMATCH"].explanation
    assert kernel["name"] == "DigestMismatch"


def test_one_result_per_finding_with_fingerprint_and_kind() -> None:
    report = oak_report()
    run = sarif(report)["runs"][0]
    results = run["results"]
    assert len(results) == len(report["findings"])
    rules = run["tool"]["driver"]["rules"]
    for result, finding in zip(results, report["findings"], strict=True):
        assert result["ruleId"] == finding["rule"] == rules[result["ruleIndex"]]["id"]
        assert result["partialFingerprints"] == {"auditorFinding/v1": finding["fingerprint"]}
        assert result["properties"]["evidence"] == finding["evidence"]
        assert finding["detail"] in literal(result["message"]["text"])
    kinds = {(r["ruleId"], r["kind"], r["level"]) for r in results}
    assert ("MATCH", "pass", "none") in kinds
    assert ("SHARD_ROTATED", "informational", "none") in kinds
    assert ("ENTRY_INVALID", "fail", "error") in kinds
    assert ("UNDECIDABLE_DIGEST", "fail", "warning") in kinds


def test_suppressed_findings_stay_as_suppressed_results() -> None:
    results = sarif(oak_report())["runs"][0]["results"]
    suppressed = [r for r in results if "suppressions" in r]
    assert [r["ruleId"] for r in suppressed] == ["ENDORSED_NOT_LOGGED"]
    assert suppressed[0]["suppressions"] == [{
        "kind": "external", "status": "accepted",
        "justification": "staging build, tracked in the release checklist",
        "properties": {"expires": "2099-01-01"}}]


def _uri_of(document: dict[str, Any]) -> dict[str, Any]:
    location: dict[str, Any] = document["runs"][0]["results"][0]["locations"][0]
    return location["physicalLocation"]["artifactLocation"]  # type: ignore[no-any-return]


def test_results_anchor_to_the_config_file() -> None:
    report = oak_report()
    assert _uri_of(sarif(report)) == {"uri": "deploy/auditor.toml", "uriBaseId": "%SRCROOT%"}
    report["run"]["config"] = None
    assert _uri_of(sarif(report)) == {"uri": "auditor.toml", "uriBaseId": "%SRCROOT%"}
    report["run"]["config"] = "/etc/auditor/audit config.toml"
    assert _uri_of(sarif(report)) == {"uri": "file:///etc/auditor/audit%20config.toml"}
    assert _uri_of(sarif(report, root="/etc")) == {
        "uri": "auditor/audit%20config.toml", "uriBaseId": "%SRCROOT%"}
    assert _uri_of(sarif(report, root="/srv")) == {"uri": "file:///etc/auditor/audit%20config.toml"}


def test_hostile_config_path_is_a_valid_uri() -> None:
    location = config_location("configs/" + reports.MD_LINK + reports.BIDI + ".toml")
    assert URI_CHARS.fullmatch(location["uri"])
    assert "%E2%80%AE" in location["uri"]  # the bidi override, percent-encoded
