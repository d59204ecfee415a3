"""The report format names (`--format`, `[reports] formats`), importable without the renderers."""

from __future__ import annotations

from enum import StrEnum


class OutputFormat(StrEnum):
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    MD = "md"
    HTML = "html"
    SARIF = "sarif"


FORMAT_NAMES = tuple(f.value for f in OutputFormat)
#: Written when a report directory is given and no format is configured.
DEFAULT_FORMATS = ("json", "md", "html", "sarif")
