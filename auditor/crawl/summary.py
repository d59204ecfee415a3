"""What a crawl did, as a typed value (and the JSON `audit crawl --json` prints)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.findings import Finding, RuleId, unique

#: Findings that make a crawl exit 1: the log or an entry under a component key is not sound,
#: or the publisher's index contradicts the log or served altered bytes.
INTEGRITY_RULES = frozenset({RuleId.LOG_INCONSISTENT, RuleId.CHECKPOINT_INVALID,
                             RuleId.ENTRY_INVALID, RuleId.WRONG_KEY,
                             RuleId.EXPIRED_AT_INTEGRATION, RuleId.UNPUBLISHED_LOG_ENTRY,
                             RuleId.PUBLISHED_FILE_ALTERED, RuleId.UNWITNESSED_CHECKPOINT})


@dataclass
class CrawlSummary:
    source: str = ""
    new: int = 0
    verified: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    complete: bool = False
    incomplete_reason: str | None = None
    discovered: int = 0
    #: Entries verified again (a transient failure, a statement that arrived).
    rechecked: int = 0
    statements_unavailable: int = 0
    #: Entries listed under a component key that the log did not serve: UUID -> why.
    missing: dict[str, str] = field(default_factory=dict)
    #: Tiled logs: entries read from the tiles, and those that did not parse as log entries.
    scanned: int = 0
    unparsable: int = 0
    findings: list[Finding] = field(default_factory=list)
    sources: list[CrawlSummary] = field(default_factory=list)

    @property
    def integrity_findings(self) -> list[Finding]:
        return [f for f in self.findings
                if f.rule in INTEGRITY_RULES and f.suppressed_by is None]

    def fail(self, reason: str) -> None:
        self.complete = False
        self.incomplete_reason = reason if self.incomplete_reason is None else (
            f"{self.incomplete_reason}; {reason}")

    @classmethod
    def combine(cls, summaries: list[CrawlSummary]) -> CrawlSummary:
        """Several sources' crawls as one (counts summed, complete only if all are)."""
        if len(summaries) == 1:
            return summaries[0]
        total = cls(source=", ".join(s.source for s in summaries), complete=True,
                    sources=list(summaries))
        for part in summaries:
            for name in ("new", "verified", "failed", "requests", "retries", "discovered",
                         "rechecked", "statements_unavailable", "scanned", "unparsable"):
                setattr(total, name, getattr(total, name) + getattr(part, name))
            total.missing.update(part.missing)
            total.findings.extend(part.findings)
            if not part.complete:
                total.fail(f"{part.source}: {part.incomplete_reason}")
        total.findings = unique(total.findings)
        return total

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "new": self.new,
            "verified": self.verified,
            "failed": self.failed,
            "requests": self.requests,
            "retries": self.retries,
            "complete": self.complete,
            "incomplete_reason": self.incomplete_reason,
            "discovered": self.discovered,
            "rechecked": self.rechecked,
            "statements_unavailable": self.statements_unavailable,
            "missing": [{"uuid": uuid, "reason": why} for uuid, why in self.missing.items()],
            "scanned": self.scanned,
            "unparsable": self.unparsable,
            "index_is_a_hint": True,
            "findings": [f.to_json() for f in self.findings],
        }
        if self.sources:
            document["sources"] = [{"source": s.source, **{k: v for k, v in s.to_json().items()
                                                          if k != "findings"}}
                                   for s in self.sources]
        return document
