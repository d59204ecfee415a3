"""The seam every alert channel plugs into, and the values that cross it.

An `Alert` carries everything a message needs (rule, component, release, severity, the detail,
an evidence summary, where the full report is), built once from a `Finding` so every channel
says the same thing. Its strings are the finding's own, unescaped: they may come from a log,
and each channel escapes them for its medium (Slack mrkdwn, GitHub Markdown, e-mail headers).
They are bounded (`bounded`), so no log can make a message too long for its channel.

Sending is an expected outcome, never an exception: `Channel.send` returns a `Delivery` that is
sent, failed (with the reason), or already present (GitHub found the issue a previous run
opened), so one channel being down never stops another and nothing is recorded as sent before
it was.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from auditor.errors import InputError
from auditor.findings import RULES, Finding, RuleId, Severity
from auditor.report.text import visible

#: Bounds on the evidence summary: a message names the evidence, the report holds all of it.
EVIDENCE_ITEMS = 8
EVIDENCE_VALUE_CHARS = 160
#: Bounds on the detail and release a message shows (the report holds them whole). Escaping
#: grows a character tenfold at most (`\U000e0001`), so the largest GitHub issue body stays
#: under GitHub's 65,536 characters: a longer one is refused (422) on every run.
DETAIL_CHARS = 2000
RELEASE_CHARS = 200
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class AlertKind(StrEnum):
    NEW = "new"
    RESOLVED = "resolved"
    #: `audit notify test`: proves the channel works, says so, needs no action.
    TEST = "test"


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    fingerprint: str
    rule: str
    title: str
    severity: Severity
    component: str | None
    release: str | None
    detail: str
    #: (key, value) pairs: the finding's identifying evidence first, bounded in count and length.
    evidence: tuple[tuple[str, str], ...]
    #: Where the full report is: a path or URL the operator configured, or None.
    report: str | None
    run_time: datetime
    explanation: str = ""

    @classmethod
    def from_finding(cls, finding: Finding, *, report: str | None, run_time: datetime) -> Alert:
        rule = RULES[finding.rule]
        return cls(
            kind=AlertKind.NEW,
            fingerprint=finding.fingerprint,
            rule=finding.rule,
            title=rule.title,
            severity=finding.severity,
            component=finding.component,
            release=None if finding.release is None else bounded(finding.release,
                                                                 RELEASE_CHARS),
            detail=bounded(finding.detail, DETAIL_CHARS),
            evidence=summarize_evidence(finding.evidence, finding.identity),
            report=report,
            run_time=run_time,
            explanation=rule.explanation,
        )

    @classmethod
    def test(cls, run_time: datetime) -> Alert:
        return cls(
            kind=AlertKind.TEST,
            fingerprint="test",
            rule="TEST",
            title="Test message from audit notify test",
            severity=Severity.INFO,
            component=None,
            release=None,
            detail="This channel is configured correctly. No action is needed.",
            evidence=(),
            report=None,
            run_time=run_time,
        )

    def resolved(self, *, report: str | None, run_time: datetime) -> Alert:
        """The "resolved" variant: this finding no longer appears in the run at `run_time`."""
        return replace(self, kind=AlertKind.RESOLVED, report=report, run_time=run_time)

    @property
    def headline(self) -> str:
        """One line naming what happened; raw text, each channel escapes it."""
        prefix = {AlertKind.NEW: f"[{self.severity.value.upper()}]",
                  AlertKind.RESOLVED: f"[RESOLVED {self.severity.value.upper()}]",
                  AlertKind.TEST: "[TEST]"}[self.kind]
        where = ", ".join(f"{name} {value}" for name, value in
                          (("component", self.component), ("release", self.release)) if value)
        return f"{prefix} {self.rule}: {self.title}" + (f" ({where})" if where else "")

    @classmethod
    def from_json(cls, document: Mapping[str, Any], where: str) -> Alert:
        """The alert `to_json` wrote (the delivery ledger keeps it to word a "resolved" later);
        an InputError naming `where` and the field when it is not one."""

        def text(name: str, optional: bool = False) -> Any:
            value = document.get(name)
            if not (isinstance(value, str) or (optional and value is None)):
                raise InputError(f"{where}: the stored alert has no valid {name}")
            return value

        evidence = document.get("evidence")
        if not isinstance(evidence, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in evidence.items()):
            raise InputError(f"{where}: the stored alert has no valid evidence")
        try:
            kind, severity = AlertKind(text("kind")), Severity(text("severity"))
            run_time = datetime.fromisoformat(text("run_time"))
        except ValueError:
            raise InputError(f"{where}: the stored alert has an unknown kind, severity or "
                             "time") from None
        rule, release = text("rule"), text("release", True)
        # Bounded again: a row stored before alerts were may hold a detail of any length.
        return cls(kind=kind, fingerprint=text("fingerprint"), rule=rule, title=text("title"),
                   severity=severity, component=text("component", True),
                   release=None if release is None else bounded(release, RELEASE_CHARS),
                   detail=bounded(text("detail"), DETAIL_CHARS),
                   evidence=tuple((bounded(k, EVIDENCE_VALUE_CHARS),
                                   bounded(v, EVIDENCE_VALUE_CHARS))
                                  for k, v in evidence.items())[:EVIDENCE_ITEMS + 1],
                   report=text("report", True),
                   run_time=run_time, explanation=RULES[RuleId(rule)].explanation
                   if rule in RULES else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity.value,
            "component": self.component,
            "release": self.release,
            "detail": self.detail,
            "evidence": dict(self.evidence),
            "report": self.report,
            "run_time": self.run_time.isoformat(),
        }


def one_line(value: str | None, limit: int = 200) -> str:
    """Untrusted text as one bounded line: CR, LF, ANSI and every other control or invisible
    character shown as an escape (what e-mail headers, issue titles and reasons need)."""
    text = visible(value or "", keep="")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bounded(value: str, limit: int) -> str:
    """Log text fit for every channel: cut to `limit` characters, and each lone surrogate (a
    JSON string from a log may hold one; no UTF-8 can) written as its escape, `\\ud800`: JSON
    carrying one is not I-JSON (RFC 7493 §2.1), and a strict receiver refuses the message."""
    text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize_evidence(evidence: Mapping[str, Any],
                       identity: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    """The evidence a message shows: identifying keys first, scalars as text, the rest as
    compact JSON, each value cut to `EVIDENCE_VALUE_CHARS` and at most `EVIDENCE_ITEMS`.
    Absent values (None: an unlogged endorsement has no UUID) are left out: noise in a page."""
    present = {k: v for k, v in evidence.items() if v is not None}
    keys = [k for k in identity if k in present]
    keys += sorted(k for k in present if k not in keys)
    items = [(bounded(str(key), EVIDENCE_VALUE_CHARS),
              bounded(_as_text(present[key]), EVIDENCE_VALUE_CHARS))
             for key in keys[:EVIDENCE_ITEMS]]
    if len(keys) > EVIDENCE_ITEMS:
        items.append(("…", f"{len(keys) - EVIDENCE_ITEMS} more in the report"))
    return tuple(items)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class DeliveryStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    #: The channel already holds this alert (GitHub: an open issue carries the fingerprint).
    ALREADY_PRESENT = "already_present"


@dataclass(frozen=True)
class Delivery:
    channel: str
    fingerprint: str
    kind: AlertKind
    status: DeliveryStatus
    #: Why it failed (one line, no secrets), or a note on an already-present alert.
    reason: str | None = None
    #: Where the alert now lives, when the channel says (a GitHub issue URL).
    reference: str | None = None

    @property
    def delivered(self) -> bool:
        """True when the ledger may record this alert as done on this channel."""
        return self.status is not DeliveryStatus.FAILED

    @classmethod
    def sent(cls, channel: str, alert: Alert, reference: str | None = None) -> Delivery:
        return cls(channel, alert.fingerprint, alert.kind, DeliveryStatus.SENT,
                   reference=reference)

    @classmethod
    def failed(cls, channel: str, alert: Alert, reason: str) -> Delivery:
        return cls(channel, alert.fingerprint, alert.kind, DeliveryStatus.FAILED, reason=reason)


class Channel(ABC):
    """Somewhere alerts go. `send` never raises for a channel that is down or refuses."""

    #: The channel's name in the config, the delivery ledger and the metrics (`webhook`, ...).
    name: str

    @abstractmethod
    def send(self, alert: Alert) -> Delivery:
        """Deliver one alert; the outcome, never an exception, when the far end fails."""

    def send_test(self, run_time: datetime) -> Delivery:
        """`audit notify test`: prove the channel works end to end."""
        return self.send(Alert.test(run_time))

    def close(self) -> None:  # noqa: B027 (optional hook: most channels hold nothing)
        """Release connections; a channel holds none between calls unless it says so."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
