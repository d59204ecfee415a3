"""json and jsonl: the document itself, deterministic, ASCII, and a lossless line stream."""

from __future__ import annotations

import json
import random

from auditor.report.formats import OutputFormat, render
from tests.report.reports import hostile_report, oak_report


def _shuffled(value: object, rng: random.Random) -> object:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


def test_json_is_stable_under_key_order_and_pure_ascii() -> None:
    report = hostile_report()
    text = render(report, OutputFormat.JSON)
    assert text == render(_shuffled(report, random.Random(7)), OutputFormat.JSON)  # type: ignore[arg-type]
    assert text.isascii()
    assert "\x1b" not in text and "\u202e" not in text
    assert "\\u001b[31mRED" in text and "\\u202e" in text
    assert json.loads(text) == report
    assert text.startswith('{\n  "components": [')  # pretty-printed, sorted


def test_jsonl_lines_are_typed_and_rebuild_the_report() -> None:
    report = hostile_report()
    text = render(report, OutputFormat.JSONL)
    assert text.isascii() and text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 1 + len(report["findings"]) + len(report["endorsements"])
    assert [line["type"] for line in lines] == (
        ["run"] + ["finding"] * len(report["findings"])
        + ["endorsement"] * len(report["endorsements"]))
    run = dict(lines[0])
    del run["type"]
    assert set(run) == set(report) - {"findings", "endorsements"}
    rebuilt = {**run,
               "findings": [{k: v for k, v in x.items() if k != "type"}
                            for x in lines if x["type"] == "finding"],
               "endorsements": [{k: v for k, v in x.items() if k != "type"}
                                for x in lines if x["type"] == "endorsement"]}
    assert rebuilt == report


def test_jsonl_has_one_physical_line_per_record_even_with_newlines_in_data() -> None:
    report = oak_report()
    report["findings"][0]["detail"] = "a\nb\r\nc\u2028d"
    lines = render(report, OutputFormat.JSONL).split("\n")
    assert lines[-1] == ""
    assert len(lines) - 1 == 1 + len(report["findings"]) + len(report["endorsements"])
