"""What the human-readable renderings share: verdict, ordering, the status matrix, labels."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.findings import Severity
from auditor.report.model import Report
from auditor.verify.receipt_state import logged_by as receipts_named

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


def logged_by(entry: Mapping[str, Any]) -> str:
    """How an endorsement without a Rekor entry was logged: "C2SP tlog-proof, PES ..."."""
    return receipts_named(entry.get("receipts", []))


def verdict(report: Report) -> str:
    """PASS, FAIL or INCOMPLETE, from the run's exit code (README "Exit codes")."""
    code = report["summary"]["exit_code"]
    if code == 3 or not report["run"]["complete"]:
        return "INCOMPLETE"
    return "PASS" if code == 0 else "FAIL"


def severity_counts(report: Report) -> list[tuple[str, int]]:
    """(severity, count) for every severity, most severe first, zero when absent."""
    counts = report["summary"]["by_severity"]
    return [(s.value, int(counts.get(s.value, 0))) for s in SEVERITIES_DESCENDING]


def _reading_key(f: Mapping[str, Any]) -> tuple[int, bool, str, str, str, str]:
    return (-Severity(f["severity"]).rank, f["suppressed"] is not None, f["rule"],
            f["component"] or "", f["release"] or "", f["fingerprint"])


def sorted_findings(findings: Collection[Any]) -> Iterable[Any]:
    """Most severe first; then unsuppressed before suppressed; then rule, component, release.

    Rows the store already streams in that order are passed through, not loaded to sort.
    """
    if getattr(findings, "ordered", False):  # Rows, or Rows checked as they are read
        return findings
    return sorted(findings, key=_reading_key)


def findings_by_severity(findings: Iterable[Mapping[str, Any]]) -> Counter[str]:
    """How many findings (suppressed ones too) each severity has."""
    return Counter(f["severity"] for f in findings)


@dataclass
class Sample:
    """The newest endorsements of each component, and how many more there are."""

    kept: list[Mapping[str, Any]] = field(default_factory=list)
    more: Counter[str] = field(default_factory=Counter)

    @property
    def hidden(self) -> int:
        return sum(self.more.values())


def newest_per_component(endorsements: Iterable[Mapping[str, Any]], limit: int) -> Sample:
    """Endorsements arrive newest first; keep `limit` per component and count the rest."""
    sample = Sample()
    shown: Counter[str] = Counter()
    for entry in endorsements:
        component = entry["component"] or "(no component)"
        if shown[component] < limit:
            shown[component] += 1
            sample.kept.append(entry)
        else:
            sample.more[component] += 1
    return sample


@dataclass(frozen=True)
class Cell:
    status: str
    artifact: str | None
    detail: str


@dataclass(frozen=True)
class Matrix:
    """Components (rows) × releases (columns); a cell lists that release's entries.

    `artifacts[i]` is the one artifact every entry of release `i` came from (an evidence file),
    shown once with the release instead of in each cell (whose `artifact` is then None).
    """

    components: list[str]
    releases: list[str]
    cells: dict[tuple[str, int], list[Cell]]
    artifacts: list[str | None] = field(default_factory=list)

    def cell(self, component: str, release_index: int) -> list[Cell]:
        return self.cells.get((component, release_index), [])


def status_matrix(report: Report) -> Matrix:
    """The matrix of the report's releases; components in configuration order, then new ones."""
    components = [c["name"] for c in report["components"]]
    cells: dict[tuple[str, int], list[Cell]] = {}
    artifacts: list[str | None] = []
    # Releases are indexed by position: two releases may share a name.
    for index, release in enumerate(report["releases"]):
        sources = {entry["artifact"] for entry in release["components"]}
        common = sources.pop() if len(sources) == 1 else None
        artifacts.append(common)
        for entry in release["components"]:
            if entry["component"] not in components:
                components.append(entry["component"])
            artifact = None if common is not None else entry["artifact"]
            cells.setdefault((entry["component"], index), []).append(
                Cell(entry["status"], artifact, entry["detail"]))
    releases = [release["name"] for release in report["releases"]]
    return Matrix(list(dict.fromkeys(components)), releases, cells, artifacts)
