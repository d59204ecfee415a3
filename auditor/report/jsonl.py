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

from typing import TextIO

from auditor.report.interface import ReportFormat
from auditor.report.json_document import dump_json
from auditor.report.model import STREAMED, Report


class JsonLinesFormat(ReportFormat):
    def write(self, report: Report, out: TextIO) -> None:
        run = {key: value for key, value in report.items() if key not in STREAMED}
        out.write(dump_json({"type": "run", **run}) + "\n")
        for finding in report["findings"]:
            out.write(dump_json({"type": "finding", **finding}) + "\n")
        for entry in report["endorsements"]:
            out.write(dump_json({"type": "endorsement", **entry}) + "\n")
