"""The seam every report format plugs into (after pip-audit's `VulnerabilityFormat`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class ReportFormat(ABC):
    """Turns a report document (valid against report-v1.schema.json) into one output text."""

    @abstractmethod
    def render(self, report: dict[str, Any]) -> str:
        """The rendering of `report`; `report` has already been validated."""
