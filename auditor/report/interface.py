"""The seam every report format plugs into (after pip-audit's `VulnerabilityFormat`)."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from typing import TextIO

from auditor.report.model import Report


class ReportFormat(ABC):
    """Turns a report document (valid against report-v1.schema.json) into one output text.

    `write` streams: a report of a large store is never built as one string.
    """

    @abstractmethod
    def write(self, report: Report, out: TextIO) -> None:
        """Write the rendering of `report` to `out`; `report` has already been validated."""

    def render(self, report: Report) -> str:
        buffer = io.StringIO()
        self.write(report, buffer)
        return buffer.getvalue()
