"""`json`: the report document itself, the source of truth every other format renders.

Keys are sorted and the text is pure ASCII (`\\uXXXX` escapes), so two runs with the same
results give byte-identical files and no character from a log can act on a terminal that shows
the file (ANSI escapes, bidi overrides). Findings and endorsements are written as they are
read, so the file of a large store never sits in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from auditor.report.interface import ReportFormat
from auditor.report.model import STREAMED, Report


def dump_json(value: Any, *, indent: int | None = None) -> str:
    """Deterministic, ASCII-only JSON: sorted keys, compact unless indented."""
    separators = (",", ": ") if indent is not None else (",", ":")
    return json.dumps(value, indent=indent, sort_keys=True, ensure_ascii=True,
                      separators=separators, allow_nan=False)


def _placeholder(name: str) -> str:
    return f"\x00stream:{name}\x00"


def write_streamed(document: Mapping[str, Any], streams: Mapping[str, Iterable[Any]],
                   out: TextIO) -> None:
    """`dump_json(document, indent=2)` + newline, where each value equal to `stream(name)` is
    replaced by the list of `streams[name]`'s items, written one item at a time."""
    markers = {dump_json(_placeholder(name)): name for name in streams}
    for line in dump_json(document, indent=2).split("\n"):
        marker = next((m for m in markers if m in line), None)
        if marker is None:
            out.write(line + "\n")
            continue
        before, _, after = line.partition(marker)
        pad = " " * (len(line) - len(line.lstrip(" ")) + 2)
        out.write(before + "[")
        first = True
        for item in streams[markers[marker]]:
            text = dump_json(item, indent=2).replace("\n", "\n" + pad)
            out.write(("\n" if first else ",\n") + pad + text)
            first = False
        out.write(("]" if first else "\n" + pad[:-2] + "]") + after + "\n")


def stream(name: str) -> str:
    """The placeholder `write_streamed` replaces with the stream `name`."""
    return _placeholder(name)


class JsonFormat(ReportFormat):
    def write(self, report: Report, out: TextIO) -> None:
        head = {key: (stream(key) if key in STREAMED else value)
                for key, value in report.items()}
        write_streamed(head, {key: report[key] for key in STREAMED  # type: ignore[literal-required]
                              if key in report}, out)
