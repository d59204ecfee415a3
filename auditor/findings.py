"""Findings: what the audit reports, with stable rule ids, severities and evidence.

A finding is a value. Its fingerprint is stable across runs (rule, component, release and the
identifying evidence, never the wording), so reports, SARIF consumers and suppressions can
follow one finding over time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class RuleId(StrEnum):
    """Stable rule ids: reports, SARIF consumers and suppressions key on these strings."""

    MATCH = "MATCH"
    NOT_ENDORSED = "NOT_ENDORSED"
    UNEXPECTED_ENDORSEMENT = "UNEXPECTED_ENDORSEMENT"
    DIGEST_MISMATCH = "DIGEST_MISMATCH"
    CMDLINE_MISMATCH = "CMDLINE_MISMATCH"
    ENDORSED_NOT_LOGGED = "ENDORSED_NOT_LOGGED"
    ENTRY_INVALID = "ENTRY_INVALID"
    WRONG_KEY = "WRONG_KEY"
    EXPIRED_AT_INTEGRATION = "EXPIRED_AT_INTEGRATION"
    STATEMENT_UNAVAILABLE = "STATEMENT_UNAVAILABLE"
    LEGACY_FORMAT = "LEGACY_FORMAT"
    UNDECIDABLE_DIGEST = "UNDECIDABLE_DIGEST"
    LOG_INCONSISTENT = "LOG_INCONSISTENT"
    CHECKPOINT_INVALID = "CHECKPOINT_INVALID"
    UNWITNESSED_CHECKPOINT = "UNWITNESSED_CHECKPOINT"
    SHARD_ROTATED = "SHARD_ROTATED"
    OBSERVED_UNCOVERED = "OBSERVED_UNCOVERED"
    TLOG_POLICY_UNMET = "TLOG_POLICY_UNMET"
    NOT_LOGGED_ALLOWED = "NOT_LOGGED_ALLOWED"
    UNPUBLISHED_LOG_ENTRY = "UNPUBLISHED_LOG_ENTRY"
    UNPINNED_PUBLISHER_KEY = "UNPINNED_PUBLISHER_KEY"
    PUBLISHED_FILE_ALTERED = "PUBLISHED_FILE_ALTERED"
    PUBLISHED_FILE_MISSING = "PUBLISHED_FILE_MISSING"


@dataclass(frozen=True)
class Rule:
    id: RuleId
    severity: Severity
    title: str
    explanation: str


_RULES = [
    Rule(RuleId.MATCH, Severity.INFO, "Artifact matches a verified endorsement",
         "The measurement recomputed from the local artifact equals what a verified log entry "
         "under the component key vouches for."),
    Rule(RuleId.NOT_ENDORSED, Severity.HIGH, "Artifact has no valid endorsement",
         "No verified endorsement under the component's pinned key vouches for this artifact's "
         "measurement: a verifier that trusts the key would reject it."),
    Rule(RuleId.UNEXPECTED_ENDORSEMENT, Severity.HIGH, "Component key signed something unexpected",
         "A log entry under a pinned component key matches no artifact of any configured "
         "release: a possible key misuse, or a release nobody told the auditor about."),
    Rule(RuleId.DIGEST_MISMATCH, Severity.HIGH, "Endorsed digest differs from the artifact",
         "An endorsement names this component, but the digest it vouches for differs from the "
         "one recomputed from the local artifact."),
    Rule(RuleId.CMDLINE_MISMATCH, Severity.HIGH, "Command line does not match the endorsed regex",
         "The kernel command line does not match any regex endorsed under the component key."),
    Rule(RuleId.ENDORSED_NOT_LOGGED, Severity.MEDIUM, "Endorsement was never logged",
         "The endorsement carries a valid signature but no transparency-log entry: nobody can "
         "see it in the public log, so a misuse of the key would go unnoticed."),
    Rule(RuleId.ENTRY_INVALID, Severity.CRITICAL, "Log entry failed verification",
         "A log entry under a component key failed one or more verification checks (proof, "
         "checkpoint, signed entry timestamp, body, signature)."),
    Rule(RuleId.WRONG_KEY, Severity.CRITICAL, "Signed by a key that is not pinned",
         "The endorsement or log entry is signed by a key other than the component's pinned "
         "key."),
    Rule(RuleId.EXPIRED_AT_INTEGRATION, Severity.MEDIUM, "Endorsement not valid when logged",
         "The log integrated the entry outside the statement's validity window."),
    Rule(RuleId.STATEMENT_UNAVAILABLE, Severity.LOW, "Statement bytes unavailable",
         "The log entry vouches for a statement whose bytes could not be fetched, so what it "
         "endorses cannot be checked."),
    Rule(RuleId.LEGACY_FORMAT, Severity.LOW, "Legacy endorsement format",
         "The statement uses an older Oak format that the auditor classifies but does not "
         "interpret."),
    Rule(RuleId.UNDECIDABLE_DIGEST, Severity.MEDIUM, "Digests cannot be compared",
         "The endorsed and recomputed digest sets share no algorithm, or contradict each "
         "other: neither a match nor a mismatch can be proven."),
    Rule(RuleId.LOG_INCONSISTENT, Severity.CRITICAL, "The log rewrote history",
         "A consistency proof failed, a frozen shard changed, or the log showed two different "
         "roots for one size (a split view): the append-only promise is broken."),
    Rule(RuleId.CHECKPOINT_INVALID, Severity.CRITICAL, "The log served an invalid signed head",
         "A checkpoint (signed tree head) the log served failed verification: a bad signature, "
         "an unknown key, or a size or root that differs from the response it came with."),
    Rule(RuleId.UNWITNESSED_CHECKPOINT, Severity.CRITICAL, "Checkpoint lacks its witness quorum",
         "A tiled log's checkpoint is signed by the log but not cosigned by the witnesses its "
         "C2SP tlog-policy requires: nothing is trusted from it, as a split view shown only to "
         "us would look exactly like this."),
    Rule(RuleId.SHARD_ROTATED, Severity.INFO, "Log shard rotation",
         "The log started a new shard (tree id); earlier shards are frozen from now on."),
    Rule(RuleId.OBSERVED_UNCOVERED, Severity.INFO, "Observed value with no endorsement to check",
         "The evidence carries a value (such as Oak's memory-map or ACPI digest) that no "
         "configured key or stored endorsement covers; reported for the record."),
    Rule(RuleId.TLOG_POLICY_UNMET, Severity.MEDIUM, "Receipts do not meet the receipt policy",
         "The endorsement was logged, but its receipts do not meet a receipt policy that "
         "applies to it (the component's Oak TLog reference values, or the auditor's own "
         "config): a receipt the policy needs is missing or not verified. Oak's verifier "
         "rejects it under the publisher's policy."),
    Rule(RuleId.NOT_LOGGED_ALLOWED, Severity.INFO, "Not logged, as its receipt policy allows",
         "The endorsement carries no receipt that verifies, and every receipt policy that "
         "applies to it (such as Oak's `skip`) lets it go unlogged; reported for the record."),
    Rule(RuleId.UNPUBLISHED_LOG_ENTRY, Severity.HIGH, "Logged but never published",
         "A log entry under a pinned component key signs a statement that the publisher's own "
         "endorsement index does not list under that key (or lists without serving the "
         "statement): the key signed something outside the release process."),
    Rule(RuleId.UNPINNED_PUBLISHER_KEY, Severity.MEDIUM, "Publisher lists a key nobody pins",
         "The publisher's index lists, for a configured keyset, a key that no component pins: "
         "a rotation the configuration has not caught up with, or a key nobody told the "
         "auditor about."),
    Rule(RuleId.PUBLISHED_FILE_ALTERED, Severity.CRITICAL, "Publisher's store served altered "
         "bytes", "A file of the publisher's content-addressed store does not hash to its name "
         "(sha2-256:<hex>): the store served altered bytes. They are never used."),
    Rule(RuleId.PUBLISHED_FILE_MISSING, Severity.MEDIUM, "Published package is incomplete",
         "The publisher's index lists an endorsement whose package lacks a piece (its "
         "statement, signature or key, or a receipt a link names): nobody can verify it from "
         "the publisher's store. Tried again on every run."),
]
RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
assert set(RULES) == set(RuleId), "every rule id has exactly one rule"

#: Rules about a log or the publisher's store, never about a component: their findings name
#: none, so a suppression naming one can never match them.
COMPONENTLESS_RULES = frozenset({RuleId.LOG_INCONSISTENT, RuleId.CHECKPOINT_INVALID,
                                 RuleId.SHARD_ROTATED, RuleId.UNWITNESSED_CHECKPOINT,
                                 RuleId.PUBLISHED_FILE_ALTERED})

#: Rules only a run's crawl reports (nothing in the store says it again): a run that did not
#: crawl cannot say that such a finding is gone.
CRAWL_ONLY_RULES = frozenset({RuleId.SHARD_ROTATED})


@dataclass(frozen=True)
class Suppression:
    rule: RuleId
    component: str | None
    reason: str
    expires: date
    entry: str | None = None

    def applies(self, finding: Finding, today: date) -> bool:
        if today > self.expires or finding.rule != self.rule:
            return False
        if self.component is not None and finding.component != self.component:
            return False
        if self.entry is None or self.entry == str(finding.evidence.get("log_index")):
            return True
        uuid = finding.evidence.get("uuid")
        # A Rekor v1 UUID is the shard's tree id (16 hex) and the leaf hash (64 hex); Rekor
        # and its tools name one entry either way, so the leaf hash decides.
        return (isinstance(uuid, str) and len(self.entry) >= 64
                and uuid[-64:].lower() == self.entry[-64:])


@dataclass(frozen=True)
class Finding:
    rule: RuleId
    component: str | None
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)
    release: str | None = None
    #: Evidence keys that identify the finding (for the fingerprint); the rest is context.
    identity: tuple[str, ...] = ()
    suppressed_by: Suppression | None = None

    @property
    def severity(self) -> Severity:
        return RULES[self.rule].severity

    @property
    def fingerprint(self) -> str:
        ident = {k: self.evidence.get(k) for k in sorted(self.identity)}
        material = json.dumps([self.rule, self.component, self.release, ident],
                              sort_keys=True, default=str)
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    def suppress(self, suppressions: list[Suppression], today: date) -> Finding:
        match = next((s for s in suppressions if s.applies(self, today)), None)
        return replace(self, suppressed_by=match)

    def to_json(self) -> dict[str, Any]:
        rule = RULES[self.rule]
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "title": rule.title,
            "component": self.component,
            "release": self.release,
            "detail": self.detail,
            "explanation": rule.explanation,
            "evidence": self.evidence,
            "fingerprint": self.fingerprint,
            "suppressed": None if self.suppressed_by is None else {
                "reason": self.suppressed_by.reason,
                "expires": self.suppressed_by.expires.isoformat(),
            },
        }


# auditor.verify.entry.RECEIPT_CHECKS, spelt out: this module loads with `audit --help`, the
# verify package does not.
_RECEIPT_CHECKS = {"tlog_proof", "tlog_checkpoint", "witness_quorum", "pes_confirmation"}


def invalid_rule(failed_checks: Iterable[str], logged: bool) -> RuleId:
    """The most serious reason an endorsement or entry cannot be relied on."""
    failed = set(failed_checks)
    if "endorser_key" in failed:
        return RuleId.WRONG_KEY
    if failed & _RECEIPT_CHECKS:
        # A tlog-proof or PES confirmation that does not verify is a broken or forged receipt,
        # whatever a policy needs and whether or not another receipt verifies.
        return RuleId.ENTRY_INVALID
    if not logged:
        return RuleId.ENDORSED_NOT_LOGGED
    if failed == {"validity"}:
        return RuleId.EXPIRED_AT_INTEGRATION
    return RuleId.ENTRY_INVALID


def unique(findings: Iterable[Finding]) -> list[Finding]:
    """Findings with distinct fingerprints, first occurrence kept."""
    seen: set[str] = set()
    out = []
    for finding in findings:
        if finding.fingerprint not in seen:
            seen.add(finding.fingerprint)
            out.append(finding)
    return out


def at_or_above(findings: list[Finding], threshold: Severity) -> list[Finding]:
    """Unsuppressed problems at or above `threshold` (what decides a failing exit code).

    A MATCH is never a problem, whatever the threshold.
    """
    return [f for f in findings if f.suppressed_by is None and f.rule != "MATCH"
            and f.severity.rank >= threshold.rank]


@dataclass
class FindingTally:
    """What a run's findings amount to, counted as they stream past (memory stays flat).

    Each fingerprint counts once. `worst` keeps the `keep` most severe findings for a summary
    on the terminal; the store keeps them all.
    """

    keep: int = 50
    by_severity: dict[str, int] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=dict)
    #: Unsuppressed problems (not MATCH) per severity: what decides a failing exit code.
    problems: dict[str, int] = field(default_factory=dict)
    suppressed: int = 0
    matches: int = 0
    total: int = 0
    worst: list[Finding] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set, repr=False)

    def add(self, finding: Finding) -> bool:
        """Count `finding`; False when its fingerprint was counted already."""
        if finding.fingerprint in self._seen:
            return False
        self._seen.add(finding.fingerprint)
        self.total += 1
        if finding.suppressed_by is not None:
            self.suppressed += 1
        else:
            severity = finding.severity.value
            self.by_severity[severity] = self.by_severity.get(severity, 0) + 1
            self.by_rule[finding.rule] = self.by_rule.get(finding.rule, 0) + 1
            if finding.rule is RuleId.MATCH:
                self.matches += 1
            else:
                self.problems[severity] = self.problems.get(severity, 0) + 1
        self._keep(finding)
        return True

    def _keep(self, finding: Finding) -> None:
        self.worst.append(finding)
        if len(self.worst) > 2 * self.keep:  # sort now and then, not per finding
            self.worst = sorted(self.worst, key=display_order)[: self.keep]

    @property
    def fingerprints(self) -> set[str]:
        """Every finding's fingerprint (what "still appears" means for a resolved alert)."""
        return self._seen

    def shown(self) -> list[Finding]:
        return sorted(self.worst, key=display_order)[: self.keep]

    def failing(self, threshold: Severity) -> bool:
        """Whether an unsuppressed problem is at or above `threshold`."""
        return any(Severity(s).rank >= threshold.rank for s, n in self.problems.items() if n)


def display_order(finding: Finding) -> tuple[int, bool, str, str, str]:
    """Most severe first, unsuppressed before suppressed, then component and rule."""
    return (-finding.severity.rank, finding.suppressed_by is not None, finding.component or "",
            finding.rule, finding.release or "")
