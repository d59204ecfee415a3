"""`jsonl`: the report as JSON Lines, one self-describing object per line, for log pipelines.

Line order and shapes:

1. one `{"type": "run", ...}` line: every top-level member of the report except `findings` and
   `endorsements` (that is `schema_version`, `generated_at`, `tool`, `run`, `logs`,
   `components`, `releases`, `summary`);
2. one `{"type": "finding", ...}` line per finding, in report order, with the members of the
   report's finding object (`rule`, `severity`, `fingerprint`, `evidence`, ...);
3. one `{"type": "endorsement", ...}` line per endorsement, in report order, with the members
   of the report's endorsement object.

A report member never has the key `type`, so the tag cannot collide. Keys are sorted, the text
is ASCII, and every line ends with a newline.
"""

from __future__ import annotations

from typing import Any

from auditor.report.interface import ReportFormat
from auditor.report.json_document import dump_json

_STREAMED = ("findings", "endorsements")


class JsonLinesFormat(ReportFormat):
    def render(self, report: dict[str, Any]) -> str:
        run = {key: value for key, value in report.items() if key not in _STREAMED}
        lines = [{"type": "run", **run}]
        lines += [{"type": "finding", **finding} for finding in report["findings"]]
        lines += [{"type": "endorsement", **entry} for entry in report["endorsements"]]
        return "".join(dump_json(line) + "\n" for line in lines)
