"""The selection rule: new, at or above the severity, unsuppressed, once per channel."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from auditor.errors import InputError
from auditor.findings import Finding, Severity
from auditor.notify.interface import Alert, AlertKind
from auditor.notify.selection import alerts_to_send
from tests.notify.findings import REPORT, RUN_TIME, finding, release_findings, suppressed

CHANNELS = ("webhook", "github")


def plan(findings: Iterable[Finding], delivered: set[tuple[str, str]] | None = None,
         severity: Severity = Severity.MEDIUM, previously_open: Iterable[Alert] = (),
         resolved: bool = False) -> dict[str, list[Alert]]:
    return alerts_to_send(findings, delivered or set(), severity, previously_open,
                          channels=CHANNELS, resolved=resolved, report=REPORT, run_time=RUN_TIME)


def rules(alerts: list[Alert]) -> list[str]:
    return [a.rule for a in alerts]


def test_new_findings_at_or_above_the_severity_fire_on_every_channel_most_severe_first() -> None:
    chosen = plan(release_findings(), severity=Severity.MEDIUM)
    expected = ["ENTRY_INVALID", "UNEXPECTED_ENDORSEMENT", "EXPIRED_AT_INTEGRATION"]
    assert rules(chosen["webhook"]) == rules(chosen["github"]) == expected
    assert rules(plan(release_findings(), severity=Severity.CRITICAL)["webhook"]) == [
        "ENTRY_INVALID"]


def test_match_never_fires_even_at_info() -> None:
    assert "MATCH" not in rules(plan(release_findings(), severity=Severity.INFO)["webhook"])
    assert "LEGACY_FORMAT" in rules(plan(release_findings(), severity=Severity.INFO)["webhook"])


def test_suppressed_findings_never_fire() -> None:
    findings = [suppressed(f) if f.rule == "ENTRY_INVALID" else f for f in release_findings()]
    assert "ENTRY_INVALID" not in rules(plan(findings)["webhook"])


def test_an_alert_carries_what_a_message_needs() -> None:
    kernel = finding("kernel")
    alert = plan([kernel])["webhook"][0]
    assert alert.kind is AlertKind.NEW
    assert (alert.fingerprint, alert.rule, alert.severity) == (
        kernel.fingerprint, "UNEXPECTED_ENDORSEMENT", Severity.HIGH)
    assert (alert.component, alert.release, alert.detail) == ("kernel", None, kernel.detail)
    assert (alert.report, alert.run_time) == (REPORT, RUN_TIME)
    # Identifying evidence first, then the rest sorted.
    assert [k for k, _ in alert.evidence] == ["uuid", "statement_sha256", "digests", "log_index",
                                              "subject"]
    assert dict(alert.evidence)["log_index"] == "228111754"


def test_absent_evidence_is_left_out_of_the_message() -> None:
    unlogged = finding("kernel", uuid=None, checkpoint=None)
    alert = Alert.from_finding(unlogged, report=REPORT, run_time=RUN_TIME)
    assert [k for k, _ in alert.evidence] == ["statement_sha256", "digests", "log_index",
                                              "subject"]


def test_a_delivered_fingerprint_does_not_fire_again_on_that_channel_only() -> None:
    kernel = finding("kernel")
    chosen = plan([kernel], delivered={("webhook", kernel.fingerprint)})
    assert chosen == {"webhook": [], "github": [Alert.from_finding(kernel, report=REPORT,
                                                                   run_time=RUN_TIME)]}


def test_one_alert_per_fingerprint_even_when_the_run_repeats_a_finding() -> None:
    kernel = finding("kernel")
    reworded = finding("kernel", detail="the same entry, worded differently")
    assert kernel.fingerprint == reworded.fingerprint
    assert len(plan([kernel, reworded, kernel])["webhook"]) == 1


def test_a_second_run_after_delivery_sends_nothing() -> None:
    first = plan(release_findings())
    delivered = {(channel, a.fingerprint) for channel, alerts in first.items() for a in alerts}
    assert plan(release_findings(), delivered) == {"webhook": [], "github": []}


def test_resolved_fires_once_per_channel_that_had_the_open_alert() -> None:
    kernel = finding("kernel")
    sent = Alert.from_finding(kernel, report="old-report.html", run_time=RUN_TIME)
    chosen = plan([], {("github", kernel.fingerprint)}, previously_open=[sent], resolved=True)
    assert chosen["webhook"] == []
    [done] = chosen["github"]
    assert done.kind is AlertKind.RESOLVED
    assert (done.fingerprint, done.rule, done.report) == (kernel.fingerprint, kernel.rule, REPORT)


def test_no_resolved_while_the_finding_still_appears_suppressed_or_when_switched_off() -> None:
    kernel = finding("kernel")
    sent = Alert.from_finding(kernel, report=REPORT, run_time=RUN_TIME)
    delivered = {("webhook", kernel.fingerprint), ("github", kernel.fingerprint)}
    assert plan([suppressed(kernel)], delivered, previously_open=[sent], resolved=True) == {
        "webhook": [], "github": []}
    assert plan([], delivered, previously_open=[sent], resolved=False) == {
        "webhook": [], "github": []}


def test_an_alert_read_back_from_the_ledger_is_the_alert_that_was_sent() -> None:
    for f in release_findings():
        alert = Alert.from_finding(f, report=REPORT, run_time=RUN_TIME)
        stored = json.loads(json.dumps(alert.to_json()))  # as the ledger keeps it
        assert Alert.from_json(stored, "ledger") == alert


@pytest.mark.parametrize(("change", "message"), [
    ({"kind": "maybe"}, "unknown kind, severity or time"),
    ({"severity": "urgent"}, "unknown kind, severity or time"),
    ({"run_time": "yesterday"}, "unknown kind, severity or time"),
    ({"fingerprint": None}, "no valid fingerprint"),
    ({"evidence": {"uuid": 7}}, "no valid evidence"),
])
def test_a_damaged_stored_alert_is_an_input_error(change: dict[str, object],
                                                  message: str) -> None:
    stored = {**Alert.from_finding(finding("kernel"), report=REPORT,
                                   run_time=RUN_TIME).to_json(), **change}
    with pytest.raises(InputError, match=f"ledger row 3: the stored alert has (an )?{message}"):
        Alert.from_json(stored, "ledger row 3")
