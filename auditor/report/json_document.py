"""`json`: the report document itself, the source of truth every other format renders.

Keys are sorted and the text is pure ASCII (`\\uXXXX` escapes), so two runs with the same
results give byte-identical files and no character from a log can act on a terminal that shows
the file (ANSI escapes, bidi overrides).
"""

from __future__ import annotations

import json
from typing import Any

from auditor.report.interface import ReportFormat


def dump_json(value: Any, *, indent: int | None = None) -> str:
    """Deterministic, ASCII-only JSON: sorted keys, compact unless indented."""
    separators = (",", ": ") if indent is not None else (",", ":")
    return json.dumps(value, indent=indent, sort_keys=True, ensure_ascii=True,
                      separators=separators, allow_nan=False)


class JsonFormat(ReportFormat):
    def render(self, report: dict[str, Any]) -> str:
        return dump_json(report, indent=2) + "\n"
