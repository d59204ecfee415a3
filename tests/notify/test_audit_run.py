"""`audit run` with alerts and metrics, through the CLI, against servers on 127.0.0.1: the local
Rekor, a webhook receiver, a GitHub REST endpoint and an SMTP server.

Each test runs on SQLite and PostgreSQL (`db_url`): the delivery ledger lives in the database.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from auditor.alerting import send_alerts
from auditor.errors import Interrupted
from auditor.findings import Finding, Severity
from auditor.notify.interface import Alert, Delivery
from auditor.notify.settings import NotifySettings
from auditor.notify.webhook import WebhookChannel
from auditor.store.database import open_database
from auditor.store.deliveries import LEASE, AlertLedger, DeliveryState, deliveries
from auditor.store.tables import alert_deliveries
from testlog import Endorser, RekorLog, RunningServer
from testlog.faults import Endpoint
from testlog.synthetic import Endorsement, endorse
from tests.cli_runner import RunAudit
from tests.notify.conftest import GITHUB_TOKEN, RATE
from tests.notify.findings import RUN_TIME, release_findings
from tests.notify.servers import Certificates, FakeGitHub, LocalServer, Reply, smtp_server
from tests.test_run import config as demo_config


@dataclass
class KernelLog:
    """The local Rekor with the kernel key pinned and no release configured: every entry the
    kernel key signs is an UNEXPECTED_ENDORSEMENT (high), the page the issue asks for."""

    log: RekorLog
    server: RunningServer
    kernel: Endorser
    directory: Path

    def publish(self) -> Endorsement:
        endorsement = endorse(self.log, self.kernel, f"kernel build {self.log.size}".encode())
        for content in (endorsement.statement, endorsement.subject):
            name = f"sha2-256:{hashlib.sha256(content).hexdigest()}"
            (self.directory / "statements" / name).write_bytes(content)
        return endorsement

    def config(self, extra: str = "") -> Path:
        path = self.directory / "auditor.toml"
        path.write_text(
            f'[log]\nurl = "{self.server.url}"\nrekor_keys = ["log.pem"]\n'
            "requests_per_second = 1000\nbackoff_base = 0.01\n"
            '[statements]\nsource = "statements"\n'
            f'[components.kernel]\nkeys = ["""\n{self.kernel.public_pem.decode()}"""]\n'
            + extra)
        return path


@pytest.fixture
def kernel_log(rekor_log: RekorLog, rekor_server: RunningServer, tmp_path: Path) -> KernelLog:
    (tmp_path / "statements").mkdir()
    (tmp_path / "log.pem").write_bytes(rekor_log.signer.public_pem)
    return KernelLog(rekor_log, rekor_server, Endorser("kernel"), tmp_path)


def run(audit: RunAudit, *args: str) -> tuple[int, dict[str, Any], str]:
    result = audit("run", *args, "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code, json.loads(result.stdout), result.stderr


def alerted(receiver: LocalServer) -> list[dict[str, Any]]:
    return [request.json()["alert"] for request in receiver.requests]


def problems(summary: dict[str, Any], at_least: Severity = Severity.INFO) -> set[str]:
    """Fingerprints of the run's unsuppressed problems at or above a severity."""
    return {f["fingerprint"] for f in summary["findings"]
            if f["rule"] != "MATCH" and not f["suppressed"]
            and Severity(f["severity"]).rank >= at_least.rank}


def test_each_new_finding_alerts_once_across_runs(audit: RunAudit, kernel_log: KernelLog,
                                                  receiver: LocalServer, db_url: str) -> None:
    first = [kernel_log.publish(), kernel_log.publish()]
    flags = ("--config", str(kernel_log.config()), "--notify-webhook", receiver.url + "/hook")
    code, summary, stderr = run(audit, *flags)
    assert code == 1
    assert {a["fingerprint"] for a in alerted(receiver)} == problems(summary)
    assert sorted(a["evidence"]["uuid"] for a in alerted(receiver)) == sorted(
        e.entry.uuid for e in first)
    assert {a["rule"] for a in alerted(receiver)} == {"UNEXPECTED_ENDORSEMENT"}
    assert summary["alerts"]["delivered"] == {"webhook": 2}
    assert "alerts: webhook 2 delivered" in stderr

    new = kernel_log.publish()
    code, again, _ = run(audit, *flags)
    assert code == 1 and len(problems(again)) == 3
    [latest] = alerted(receiver)[2:]
    assert latest["fingerprint"] == (problems(again) - problems(summary)).pop()
    assert latest["evidence"]["uuid"] == new.entry.uuid

    code, third, stderr = run(audit, *flags)
    assert len(receiver.requests) == 3 and third["alerts"]["delivered"] == {}
    assert "alerts: nothing new to send" in stderr


def two_alerts_and_a_receiver_down(kernel_log: KernelLog, receiver: LocalServer,
                                   tmp_path: Path) -> tuple[str, ...]:
    """Two high findings to alert on, a receiver answering 500, and the run's flags: findings
    below --fail-on, so that only the delivery can make a run fail."""
    for _ in range(2):
        kernel_log.publish()
    receiver.route = lambda request: Reply(500, b"upstream down")
    return ("--config", str(kernel_log.config()), "--notify-webhook", receiver.url,
            "--fail-on", "critical", "--metrics-file", str(tmp_path / "auditor.prom"))


def test_a_channel_that_is_down_is_retried_next_run_and_nothing_is_lost(
        audit: RunAudit, kernel_log: KernelLog, receiver: LocalServer, db_url: str,
        tmp_path: Path) -> None:
    flags = two_alerts_and_a_receiver_down(kernel_log, receiver, tmp_path)
    code, summary, stderr = run(audit, *flags)
    assert code == 3 and summary["complete"] is True
    assert summary["alerts"]["failed"] == {"webhook": 2}
    assert [f["reason"] for f in summary["alerts"]["failures"]] == [
        f"{receiver.url}: HTTP 500: upstream down"] * 2
    assert "2 FAILED" in stderr and "sent again by the next run" in stderr
    metrics = samples(tmp_path / "auditor.prom")
    assert metrics[("auditor_last_run_alert_failures", (("channel", "webhook"),))] == 2
    assert metrics[("auditor_last_run_exit_code", ())] == 3
    with open_database(db_url)() as session:
        assert {(d.state, d.last_error) for d in deliveries(session)} == {
            (DeliveryState.UNSENT, f"{receiver.url}: HTTP 500: upstream down")}
    status = audit("status", "--json")
    assert json.loads(status.stdout)["alerts"] == {"webhook": {
        "open": 0, "resolved": 0, "unsent": 2,
        "last_error": f"{receiver.url}: HTTP 500: upstream down", "claimed": []}}

    receiver.route = lambda request: Reply()
    code, summary, _ = run(audit, *flags)
    assert code == 0 and summary["alerts"]["delivered"] == {"webhook": 2}
    sent = [r.json()["alert"]["fingerprint"] for r in receiver.requests]
    assert sorted(sent[2:]) == sorted(problems(summary)) == sorted(set(sent))
    code, summary, _ = run(audit, *flags)
    assert code == 0 and len(receiver.requests) == 4
    with open_database(db_url)() as session:
        assert {(d.state, d.attempts, d.last_error) for d in deliveries(session)} == {
            (DeliveryState.OPEN, 2, None)}
    assert "alerts on webhook: 2 open, 0 resolved, 0 not yet delivered" in audit("status").stderr


def test_suppressed_findings_are_silent_until_the_suppression_goes(
        audit: RunAudit, receiver: LocalServer, tmp_path: Path, db_url: str) -> None:
    # The real Oak snapshot: WRONG_KEY (critical) is its only critical finding.
    suppression = ('\n[[suppressions]]\nrule = "WRONG_KEY"\ncomponent = "kernel_cmd_line"\n'
                   'reason = "staging cmdline is not pinned"\nexpires = 2999-12-31\n')
    flags = ("--offline", "--notify-webhook", receiver.url, "--notify-min-severity", "critical")
    code, summary, _ = run(audit, "--config", str(demo_config(tmp_path, extra=suppression)),
                           *flags)
    assert code == 1 and problems(summary, Severity.CRITICAL) == set()
    assert receiver.requests == []
    code, summary, _ = run(audit, "--config", str(demo_config(tmp_path)), *flags)
    [alert] = alerted(receiver)
    assert (alert["rule"], alert["component"]) == ("WRONG_KEY", "kernel_cmd_line")
    assert {alert["fingerprint"]} == problems(summary, Severity.CRITICAL)


def test_every_channel_from_the_config_then_resolved(
        audit: RunAudit, receiver: LocalServer, github: tuple[FakeGitHub, LocalServer],
        certificates: Certificates, tmp_path: Path, db_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake, hub = github
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    with smtp_server(tls=certificates) as smtp:
        monkeypatch.setenv("AUDITOR_SMTP_USERNAME", smtp.username)
        monkeypatch.setenv("AUDITOR_SMTP_PASSWORD", smtp.password)
        notify = f"""
[notify]
min_severity = "medium"
resolved = true
report_url = "https://audit.example/oak/latest.html"
[notify.webhook]
url = "{receiver.url}"
requests_per_second = {RATE}
[notify.email]
host = "127.0.0.1"
port = {smtp.port}
from = "auditor@example.org"
to = ["sre@example.org"]
username_env = "AUDITOR_SMTP_USERNAME"
password_env = "AUDITOR_SMTP_PASSWORD"
ca_file = "{certificates.ca_file}"
timeout = 5
[notify.github]
repository = "example/boot-audit"
api_url = "{hub.url}"
requests_per_second = {RATE}
"""
        code, summary, _ = run(audit, "--config", str(demo_config(tmp_path, extra=notify)),
                               "--offline")
        fired = problems(summary, Severity.MEDIUM)
        assert code == 1 and len(fired) == 5  # WRONG_KEY and four ENDORSED_NOT_LOGGED
        assert summary["alerts"]["delivered"] == {"email": 5, "github": 5, "webhook": 5}
        assert {a["fingerprint"] for a in alerted(receiver)} == fired
        assert {a["report"] for a in alerted(receiver)} == {
            "https://audit.example/oak/latest.html"}
        mails = [email.message_from_bytes(e.original_content or b"",
                                          policy=email.policy.default)
                 for e in smtp.sink.envelopes]
        assert {m["X-Auditor-Fingerprint"] for m in mails} == fired
        assert len(fake.open_issues()) == 5

        # Without the staging release its findings stop appearing (the unlogged endorsements
        # are still found, now under no release: new fingerprints, new alerts).
        code, summary, _ = run(audit, "--config", str(demo_config(
            tmp_path, staging=False, extra=notify)), "--offline")
        gone, new = fired - problems(summary), problems(summary, Severity.MEDIUM) - fired
        assert len(gone) == len(new) == 4
        assert summary["alerts"]["delivered"] == {c: 8 for c in ("email", "github", "webhook")}
        kinds = [(a["kind"], a["fingerprint"]) for a in alerted(receiver)[5:]]
        assert sorted(kinds) == sorted([("new", f) for f in new] + [("resolved", f)
                                                                   for f in gone])
        assert len(smtp.sink.envelopes) == 5 + 8
        assert len(fake.open_issues()) == 5 - 4 + 4
        assert all(fake.comments[("example/boot-audit", issue["number"])]
                   for issue in fake.issues["example/boot-audit"] if issue["state"] == "closed")
        run(audit, "--config", str(demo_config(tmp_path, staging=False, extra=notify)),
            "--offline")
        assert len(receiver.requests) == 5 + 8


def test_a_recipient_the_mail_server_refuses_is_named_in_the_run_summary(
        audit: RunAudit, tmp_path: Path, db_url: str) -> None:
    # The others got the message, so it counts as sent (a retry would send them a duplicate);
    # but the refusal was dropped: the run said "email 1 delivered" and the on-call address
    # could bounce every alert for months unseen.
    with smtp_server(tls=None) as smtp:
        smtp.sink.refused.add("oncall@example.org")
        notify = (f'[notify]\nmin_severity = "critical"\n[notify.email]\nhost = "127.0.0.1"\n'
                  f'port = {smtp.port}\nfrom = "auditor@example.org"\n'
                  'to = ["sre@example.org", "oncall@example.org"]\nstarttls = false\n'
                  'timeout = 5\n')
        code, summary, stderr = run(audit, "--config", str(demo_config(tmp_path, extra=notify)),
                                    "--offline")
    [envelope] = smtp.sink.envelopes
    assert envelope.rcpt_tos == ["sre@example.org"]
    assert code == 1 and summary["alerts"]["delivered"] == {"email": 1}
    [note] = summary["alerts"]["notes"]
    assert (note["channel"], note["note"]) == ("email",
                                               "refused recipients: oncall@example.org")
    assert ("alerts: email 1 delivered (note: email: refused recipients: oncall@example.org)"
            in stderr)


def test_two_hosts_sharing_the_database_send_each_alert_once(
        receiver: LocalServer, db_url: str) -> None:
    # The run lock keeps two `audit run`s on one database apart, so two hosts are played by
    # two threads running the alert step of a run, each with its own engine and channel.
    receiver.route = lambda request: Reply(delay=0.05)  # keep their sends overlapping
    findings: list[Finding] = release_findings()
    start = threading.Barrier(2)
    reports = []

    def host(name: str) -> None:
        sessions = open_database(db_url)
        with WebhookChannel(receiver.url, requests_per_second=RATE) as hook:
            start.wait()
            reports.append(send_alerts(sessions, NotifySettings(min_severity=Severity.LOW),
                                       [hook], findings, report=None, run_time=RUN_TIME,
                                       complete=True, claimed_by=name))

    threads = [threading.Thread(target=host, args=(name,)) for name in ("host-a", "host-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    fired = {f.fingerprint for f in findings if f.rule != "MATCH"}
    sent = [a["fingerprint"] for a in alerted(receiver)]
    assert sorted(sent) == sorted(fired)  # each once, none lost
    assert sum(r.delivered("webhook") for r in reports) == len(fired)
    assert sum(r.skipped.get("webhook", 0) for r in reports) == len(fired)


def sending_its_first_alert(receiver: LocalServer, config: Path,
                            db_url: str) -> subprocess.Popen[str]:
    """`audit run` of the demo in a process of its own, once its first alert is on the wire
    (the receiver holds the answer for 30 s)."""
    arrived = threading.Event()

    def hang(request: object) -> Reply:
        arrived.set()
        return Reply(delay=30)

    receiver.route = hang
    process = subprocess.Popen(
        [sys.executable, "-m", "auditor", "run", "--config", str(config), "--offline",
         "--notify-webhook", receiver.url, "--notify-min-severity", "critical"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "AUDITOR_DB": db_url})
    if not arrived.wait(120):
        process.kill()
        pytest.fail(f"no alert came: {process.communicate()[1]}")
    return process


def test_status_shows_the_claim_a_killed_run_left_and_when_it_is_sent(
        audit: RunAudit, receiver: LocalServer, tmp_path: Path, db_url: str) -> None:
    # SIGKILL while the first alert is on the wire: the claim is committed, its outcome never
    # recorded, and the lease keeps it from the runs of the next 15 minutes. `audit status`
    # said only "1 not yet delivered", with no error and no word of when it would go.
    config = demo_config(tmp_path)
    process = sending_its_first_alert(receiver, config, db_url)
    process.send_signal(signal.SIGKILL)
    process.wait()
    status = json.loads(audit("status", "--json").stdout)
    # The run was stored before its alerts went out; it said "complete, exit 1" though it never
    # sent them. It reads as what it is: a run that did not finish.
    assert status["last_run"]["finished_at"] is None and not status["last_run"]["complete"]
    [held] = status["alerts"]["webhook"]["claimed"]
    claimed_at = datetime.fromisoformat(held["claimed_at"])
    assert held["claimed_by"].split()[1:3] == ["pid", str(process.pid)]
    assert held["state"] == "unsent"
    assert datetime.fromisoformat(held["free_after"]) - claimed_at == LEASE
    text = audit("status").stderr
    assert "DID NOT FINISH (killed while sending its alerts, or sending them now)" in text
    assert (f"  {held['fingerprint']} (unsent) claimed by {held['claimed_by']} at "
            f"{held['claimed_at'][:19]}: a run is sending it, or died doing so; if so, the "
            f"first run after {held['free_after'][:19]} sends it") in text

    # A run within the lease leaves it; once the lease has passed it is sent.
    receiver.route = lambda request: Reply()
    _, summary, _ = run(audit, "--config", str(config), "--offline", "--notify-webhook",
                        receiver.url, "--notify-min-severity", "critical")
    assert summary["alerts"]["skipped"] == {"webhook": 1}
    with open_database(db_url).begin() as session:
        session.execute(update(alert_deliveries).values(
            claimed_at=claimed_at - LEASE - timedelta(seconds=1)))
    _, summary, _ = run(audit, "--config", str(config), "--offline", "--notify-webhook",
                        receiver.url, "--notify-min-severity", "critical")
    assert summary["alerts"]["delivered"] == {"webhook": 1}
    assert json.loads(audit("status", "--json").stdout)["alerts"]["webhook"]["claimed"] == []


def test_a_run_stopped_by_sigterm_while_sending_is_stored_as_interrupted(
        audit: RunAudit, receiver: LocalServer, tmp_path: Path, db_url: str) -> None:
    # The process exited 143, and the stored run said "complete, exit 1": what it was before
    # its alerts, which it never sent.
    process = sending_its_first_alert(receiver, demo_config(tmp_path), db_url)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    last = json.loads(audit("status", "--json").stdout)["last_run"]
    assert (last["exit_code"], last["interrupted"], last["complete"]) == (143, "SIGTERM", False)
    assert last["finished_at"] is not None
    assert "INCOMPLETE, exit 143 (interrupted by SIGTERM)" in audit("status").stderr


def test_an_alert_a_dead_run_still_holds_is_not_delivered_and_the_run_says_so(
        audit: RunAudit, kernel_log: KernelLog, receiver: LocalServer, db_url: str,
        tmp_path: Path) -> None:
    # A run killed while sending leaves its claim for the lease. The next run skipped the alert
    # and, its findings below --fail-on, exited 0 with no failure in its metrics: a cron job
    # paging on the exit code never heard of an alert nobody had delivered.
    flags = two_alerts_and_a_receiver_down(kernel_log, receiver, tmp_path)
    assert run(audit, *flags)[0] == 3  # two alerts due, none delivered, none claimed
    sessions = open_database(db_url)
    with sessions() as session:
        due = [row.fingerprint for row in deliveries(session)]
    dead = AlertLedger(sessions, "elsewhere pid 4242 0000")
    assert all(dead.claim("webhook", f, resolving=False, alert={}) for f in due)

    receiver.route = lambda request: Reply()
    tried = len(receiver.requests)
    code, summary, stderr = run(audit, *flags)
    assert code == 3 and summary["complete"] is True
    assert len(receiver.requests) == tried and summary["alerts"]["skipped"] == {"webhook": 2}
    held = summary["alerts"]["held"]
    assert sorted(h["fingerprint"] for h in held) == sorted(due)
    assert all(h["reason"].startswith("held by another run (elsewhere pid 4242 0000, claimed at ")
               and "if it died, the first run after " in h["reason"] for h in held)
    assert "2 held by another run not delivered: webhook: held by another run" in stderr
    metrics = samples(tmp_path / "auditor.prom")
    assert metrics[("auditor_last_run_alert_failures", (("channel", "webhook"),))] == 2
    assert metrics[("auditor_last_run_exit_code", ())] == 3

    # Once the other run has delivered them, a run that skips them is clean.
    for fingerprint in due:
        dead.record("webhook", fingerprint, resolving=False, delivered=True)
    code, summary, _ = run(audit, *flags)
    assert code == 0 and summary["alerts"]["held"] == []


class StoppedMidRun(WebhookChannel):
    """A webhook whose run is stopped (SIGTERM) while it sends its second alert."""

    sent = 0

    def send(self, alert: Alert) -> Delivery:
        if self.sent == 1:
            raise Interrupted("SIGTERM", 143)
        self.sent += 1
        return super().send(alert)


def test_a_run_stopped_while_sending_leaves_the_rest_for_the_next_run(
        receiver: LocalServer, db_url: str) -> None:
    sessions = open_database(db_url)
    findings = release_findings()
    notify = NotifySettings(min_severity=Severity.LOW)
    with StoppedMidRun(receiver.url, requests_per_second=RATE) as hook, \
            pytest.raises(Interrupted):
        send_alerts(sessions, notify, [hook], findings, report=None, run_time=RUN_TIME,
                    complete=True)
    with sessions() as session:
        rows = deliveries(session)
    # The delivered one is recorded; the claim of the one being sent was released, not left
    # to expire: the next run (minutes later, well within the lease) sends it.
    assert sorted((r.state.value, r.claimed_by) for r in rows) == [("open", None),
                                                                    ("unsent", None)]
    with WebhookChannel(receiver.url, requests_per_second=RATE) as hook:
        report = send_alerts(sessions, notify, [hook], findings, report=None,
                             run_time=RUN_TIME, complete=True)
    fired = sorted(f.fingerprint for f in findings if f.rule != "MATCH")
    assert sorted(a["fingerprint"] for a in alerted(receiver)) == fired
    assert report.delivered("webhook") == len(fired) - 1


# -- the metrics file ---------------------------------------------------------------------------


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(path.read_text())
            for s in family.samples}


def test_the_metrics_file_carries_the_numbers_of_the_run(
        audit: RunAudit, kernel_log: KernelLog, receiver: LocalServer, tmp_path: Path,
        db_url: str) -> None:
    for _ in range(3):
        kernel_log.publish()
    kernel_log.server.faults.server_errors(2, status=503)
    path = tmp_path / "metrics" / "auditor.prom"
    path.parent.mkdir()
    before = time.time()
    code, summary, _ = run(audit, "--config", str(kernel_log.config()), "--metrics-file",
                           str(path), "--notify-webhook", receiver.url)
    after = time.time()
    got = samples(path)
    status = json.loads(audit("status", "--json").stdout)

    assert got[("auditor_last_run_exit_code", ())] == code == 1
    assert got[("auditor_last_run_complete", ())] == 1
    started = datetime.fromisoformat(status["last_run"]["started_at"]).timestamp()
    assert got[("auditor_last_run_timestamp_seconds", ())] == pytest.approx(started, abs=1e-3)
    assert 0 < got[("auditor_last_run_duration_seconds", ())] <= after - before
    findings = {labels: v for (name, labels), v in got.items() if name == "auditor_findings"}
    assert findings[(("rule", "UNEXPECTED_ENDORSEMENT"), ("severity", "high"))] == 3
    assert sum(findings.values()) == len(summary["findings"]) == 3
    assert got[("auditor_endorsements", (("component", "kernel"),))] == 3
    assert got[("auditor_log_entries", (("component", "kernel"),))] == 3
    [log] = status["logs"]
    [head] = log["heads"]
    shard = (("log", log["name"] or log["log_id"]), ("shard", str(head["tree_id"])),
             ("state", "active"))
    assert got[("auditor_log_head_size", shard)] == head["tree_size"] == kernel_log.log.size
    assert before <= got[("auditor_log_head_growth_timestamp_seconds", shard)] <= after
    source = (("log", f"{kernel_log.server.url}/api/v1"),)
    assert got[("auditor_last_run_http_requests", source)] == summary["crawl"]["requests"]
    assert got[("auditor_last_run_http_retries", source)] == summary["crawl"]["retries"] == 2
    assert got[("auditor_last_run_alerts_delivered", (("channel", "webhook"),))] == 3
    assert got[("auditor_last_run_alert_failures", (("channel", "webhook"),))] == 0
    assert [p.name for p in path.parent.iterdir()] == ["auditor.prom"]  # no temporary left


def test_a_run_that_did_not_crawl_it_all_does_not_resolve_what_only_a_crawl_sees(
        audit: RunAudit, kernel_log: KernelLog, receiver: LocalServer, db_url: str) -> None:
    # A shard rotation is seen by the crawl alone: a run that did not crawl does not report it,
    # which is no sign that it is gone. Before, `--offline` sent "resolved", the next crawl
    # "new" again: a page flapping with the schedule.
    kernel_log.publish()
    notify = '[notify]\nmin_severity = "info"\nresolved = true\n'
    flags = ("--config", str(kernel_log.config(notify)), "--notify-webhook", receiver.url)
    run(audit, *flags)
    kernel_log.log.rotate()
    run(audit, *flags)
    [rotation] = [a for a in alerted(receiver) if a["rule"] == "SHARD_ROTATED"]
    sent = len(receiver.requests)
    _, summary, stderr = run(audit, *flags, "--offline")
    assert rotation["fingerprint"] not in problems(summary)
    assert len(receiver.requests) == sent, alerted(receiver)[sent:]
    assert "alerts: nothing new to send" in stderr
    run(audit, *flags)  # the crawl sees it again: still open, nothing to send
    assert len(receiver.requests) == sent

    # A crawl the log cut short does not see it either: an incomplete run resolves nothing.
    kernel_log.server.faults.server_errors(100, endpoint=Endpoint.LOG_INFO)
    code, summary, _ = run(audit, *flags)
    assert code == 1 and summary["complete"] is False  # findings beat "incomplete"
    assert rotation["fingerprint"] not in problems(summary)
    assert len(receiver.requests) == sent, alerted(receiver)[sent:]
