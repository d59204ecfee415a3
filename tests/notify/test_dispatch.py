"""Selection, delivery and the ledger together, over real local servers: one alert per
fingerprint per channel, nothing lost while a channel is down, nothing sent twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from auditor.findings import Finding, Severity
from auditor.notify.dispatch import GIVE_UP_AFTER, deliver
from auditor.notify.email import EmailChannel, SmtpAccount
from auditor.notify.github import GitHubChannel
from auditor.notify.interface import Alert, AlertKind, Channel, Delivery
from auditor.notify.selection import alerts_to_send
from auditor.notify.transport import Timeouts
from auditor.notify.webhook import WebhookChannel
from tests.notify.conftest import GITHUB_TOKEN, RATE
from tests.notify.findings import REPORT, RUN_TIME, entry_evidence, finding, release_findings
from tests.notify.servers import FakeGitHub, LocalServer, Reply, unused_port

FAST = Timeouts(connect=2, read=2, total=4)


@dataclass
class MemoryLedger:
    """The ledger's contract as the store will keep it, in memory."""

    open: set[tuple[str, str]] = field(default_factory=set)
    #: (channel, fingerprint) another run holds right now.
    held_elsewhere: set[tuple[str, str]] = field(default_factory=set)
    claims: list[tuple[str, str]] = field(default_factory=list)
    records: list[Delivery] = field(default_factory=list)

    def claim(self, channel: str, alert: Alert) -> bool:
        key = (channel, alert.fingerprint)
        if key in self.held_elsewhere:
            return False
        self.claims.append(key)
        return True

    def pending(self, channel: str, alert: Alert) -> str | None:
        key = (channel, alert.fingerprint)
        return "held elsewhere" if key in self.held_elsewhere and key not in self.open else None

    def record(self, delivery: Delivery) -> None:
        assert (delivery.channel, delivery.fingerprint) == self.claims[-1], "record before claim"
        self.records.append(delivery)
        if delivery.delivered and delivery.kind is AlertKind.NEW:
            self.open.add((delivery.channel, delivery.fingerprint))
        elif delivery.delivered and delivery.kind is AlertKind.RESOLVED:
            self.open.discard((delivery.channel, delivery.fingerprint))


def hook_at(url: str) -> WebhookChannel:
    return WebhookChannel(url, timeouts=FAST, requests_per_second=RATE)


def run(findings: list[Finding], channels: list[Channel], ledger: MemoryLedger,
        previously_open: Sequence[Alert] = (), resolved: bool = False) -> list[Delivery]:
    plan = alerts_to_send(findings, ledger.open, Severity.MEDIUM, previously_open,
                          channels=[c.name for c in channels], resolved=resolved,
                          report=REPORT, run_time=RUN_TIME)
    return deliver(plan, channels, ledger).deliveries


def test_two_runs_send_each_new_finding_once_per_channel(
        receiver: LocalServer, github: tuple[FakeGitHub, LocalServer]) -> None:
    fake, hub_server = github
    ledger = MemoryLedger()
    with hook_at(receiver.url) as hook, GitHubChannel(
            "example/boot-audit", GITHUB_TOKEN, api_url=hub_server.url, timeouts=FAST,
            requests_per_second=RATE) as hub:
        first = run(release_findings(), [hook, hub], ledger)
        second = run(release_findings(), [hook, hub], ledger)
    assert len(first) == 6 and all(d.delivered for d in first)  # 3 findings x 2 channels
    assert second == []
    assert len(receiver.requests) == 3
    assert len(fake.open_issues()) == 3


def test_a_down_channel_loses_nothing_and_is_retried_next_run(receiver: LocalServer) -> None:
    ledger = MemoryLedger()
    down = EmailChannel(SmtpAccount("127.0.0.1", unused_port(), "a@example.org",
                                    ("b@example.org",), starttls=False, timeout=2))
    with hook_at(receiver.url) as hook:
        first = run(release_findings(), [down, hook], ledger)
        assert [d.channel for d in first if not d.delivered] == ["email"] * 3
        assert all(d.reason and "ConnectionRefusedError" in d.reason
                   for d in first if not d.delivered)
        assert len(receiver.requests) == 3  # the webhook was not held up by the dead server
        again = run(release_findings(), [down, hook], ledger)
    assert [d.channel for d in again] == ["email"] * 3  # only the failed ones, once more
    assert len(receiver.requests) == 3


def test_a_channel_failing_in_a_row_is_not_tried_for_the_rest_of_the_run(
        receiver: LocalServer) -> None:
    receiver.route = lambda request: Reply(500, b"broken")  # not retried: it may have posted
    # Five distinct unexpected entries under the kernel key.
    findings = [Finding("UNEXPECTED_ENDORSEMENT", "kernel", f"entry {i}",
                        {**entry_evidence("kernel"), "uuid": f"{i:064x}"}, identity=("uuid",))
                for i in range(GIVE_UP_AFTER + 2)]
    ledger = MemoryLedger()
    with hook_at(receiver.url) as hook:
        deliveries = run(findings, [hook], ledger)
    assert len(receiver.requests) == GIVE_UP_AFTER
    assert len(deliveries) == len(findings) and not any(d.delivered for d in deliveries)
    assert deliveries[-1].reason == (f"not tried: {GIVE_UP_AFTER} deliveries in a row failed "
                                     "on this channel")
    assert ledger.open == set()


def test_an_alert_another_run_holds_is_skipped(receiver: LocalServer) -> None:
    kernel = finding("kernel")
    ledger = MemoryLedger(held_elsewhere={("webhook", kernel.fingerprint)})
    with hook_at(receiver.url) as hook:
        plan = alerts_to_send([kernel], ledger.open, Severity.MEDIUM, [],
                              channels=["webhook"], resolved=False, report=REPORT,
                              run_time=RUN_TIME)
        report = deliver(plan, [hook], ledger)
    assert report.deliveries == [] and report.skipped == {"webhook": 1}
    assert receiver.requests == []
    # The other run never delivered it: as far as this run can tell, it is not delivered.
    assert [(d.fingerprint, d.delivered, d.reason) for d in report.undelivered] == [
        (kernel.fingerprint, False, "held elsewhere")]
    ledger.open.add(("webhook", kernel.fingerprint))  # the other run delivered it after all
    assert deliver(plan, [hook], ledger).undelivered == []


def test_resolved_then_back_again(receiver: LocalServer) -> None:
    kernel = finding("kernel")
    ledger = MemoryLedger()
    with hook_at(receiver.url) as hook:
        [new] = run([kernel], [hook], ledger, resolved=True)
        sent = Alert.from_finding(kernel, report=REPORT, run_time=RUN_TIME)
        [gone] = run([], [hook], ledger, previously_open=[sent], resolved=True)
        assert run([], [hook], ledger, previously_open=[sent], resolved=True) == []
        [back] = run([kernel], [hook], ledger, resolved=True)
    assert [d.kind for d in (new, gone, back)] == [AlertKind.NEW, AlertKind.RESOLVED,
                                                   AlertKind.NEW]
    assert [r.json()["alert"]["kind"] for r in receiver.requests] == ["new", "resolved", "new"]


def test_the_report_counts_per_channel(receiver: LocalServer) -> None:
    ledger = MemoryLedger()
    down = hook_at(f"http://127.0.0.1:{unused_port()}/x")
    down.name = "webhook-down"
    with hook_at(receiver.url) as hook, down:
        plan = alerts_to_send(release_findings(), set(), Severity.HIGH, [],
                              channels=["webhook", "webhook-down"], resolved=False,
                              report=REPORT, run_time=RUN_TIME)
        report = deliver(plan, [hook, down], ledger)
    assert (report.delivered("webhook"), report.failed("webhook")) == (2, 0)
    assert (report.delivered("webhook-down"), report.failed("webhook-down")) == (0, 2)
    assert [d.channel for d in report.failures] == ["webhook-down"] * 2
