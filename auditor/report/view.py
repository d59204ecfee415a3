"""What the human-readable renderings share: verdict, ordering, the status matrix, labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auditor.findings import Severity

#: Most severe first, the order a reviewer reads findings in.
SEVERITIES_DESCENDING = tuple(sorted(Severity, key=lambda s: s.rank, reverse=True))

#: Text for each release status: a status is never shown by colour alone.
STATUS_LABELS = {
    "match": "MATCH",
    "mismatch": "MISMATCH",
    "not_endorsed": "NOT ENDORSED",
    "undecidable": "UNDECIDABLE",
    "not_logged": "NOT LOGGED",
    "invalid": "INVALID",
    "info": "INFO",
}


_RECEIPT_LABELS = {"rekor": "Rekor", "c2sp": "C2SP tlog-proof", "pes": "PES confirmation"}


def logged_by(entry: dict[str, Any]) -> str:
    """How an endorsement without a Rekor entry was logged: "C2SP tlog-proof, PES ..."."""
    return ", ".join(_RECEIPT_LABELS.get(kind, kind) for kind in entry.get("receipts", [])
                     if kind != "rekor")


def verdict(report: dict[str, Any]) -> str:
    """PASS, FAIL or INCOMPLETE, from the run's exit code (README "Exit codes")."""
    code = report["summary"]["exit_code"]
    if code == 3 or not report["run"]["complete"]:
        return "INCOMPLETE"
    return "PASS" if code == 0 else "FAIL"


def severity_counts(report: dict[str, Any]) -> list[tuple[str, int]]:
    """(severity, count) for every severity, most severe first, zero when absent."""
    counts = report["summary"]["by_severity"]
    return [(s.value, int(counts.get(s.value, 0))) for s in SEVERITIES_DESCENDING]


def sorted_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first; then unsuppressed before suppressed; then rule, component, release."""
    def key(f: dict[str, Any]) -> tuple[int, bool, str, str, str, str]:
        return (-Severity(f["severity"]).rank, f["suppressed"] is not None, f["rule"],
                f["component"] or "", f["release"] or "", f["fingerprint"])
    return sorted(findings, key=key)


@dataclass(frozen=True)
class Cell:
    status: str
    artifact: str | None
    detail: str


@dataclass(frozen=True)
class Matrix:
    """Components (rows) × releases (columns); a cell lists that release's entries."""

    components: list[str]
    releases: list[str]
    cells: dict[tuple[str, int], list[Cell]]

    def cell(self, component: str, release_index: int) -> list[Cell]:
        return self.cells.get((component, release_index), [])


def status_matrix(report: dict[str, Any]) -> Matrix:
    """The matrix of the report's releases; components in configuration order, then new ones."""
    components = [c["name"] for c in report["components"]]
    cells: dict[tuple[str, int], list[Cell]] = {}
    # Releases are indexed by position: two releases may share a name.
    for index, release in enumerate(report["releases"]):
        for entry in release["components"]:
            if entry["component"] not in components:
                components.append(entry["component"])
            cells.setdefault((entry["component"], index), []).append(
                Cell(entry["status"], entry["artifact"], entry["detail"]))
    releases = [release["name"] for release in report["releases"]]
    return Matrix(list(dict.fromkeys(components)), releases, cells)
