"""Check a report document against the published schema (auditor/report/schema/)."""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from auditor.errors import InputError
from auditor.report.text import visible

SCHEMA_FILE = "report-v1.schema.json"
_MAX_MESSAGE = 200

_formats = FormatChecker(formats=())


# JSON Schema leaves "format" unchecked unless asked; the renderers parse these values, so they
# are checked here, with the standard library (RFC 3339 §5.6: a date-time carries an offset).
@_formats.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@_formats.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(date.fromisoformat(value))


@cache
def report_schema() -> dict[str, Any]:
    """The report-v1 JSON Schema, loaded from the installed package."""
    text = files("auditor.report").joinpath("schema", SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(report_schema(), format_checker=_formats)


def validate_report(report: object) -> None:
    """Raise `InputError` naming the first schema violation in `report`, if any."""
    error = best_match(_validator().iter_errors(report))
    if error is None:
        return
    where = error.json_path
    message = visible(" ".join(error.message.split()), keep="")  # one line, whatever it held
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "…"
    raise InputError(f"report does not follow {SCHEMA_FILE} at {where}: {message}")
