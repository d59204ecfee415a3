"""E-mail channel against aiosmtpd on 127.0.0.1: STARTTLS with a throwaway CA, then AUTH."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from auditor.notify.email import EmailChannel, SmtpAccount
from auditor.notify.interface import Alert, DeliveryStatus, one_line
from tests.notify.findings import REPORT, RUN_TIME, finding
from tests.notify.servers import (
    Certificates,
    SmtpServer,
    make_certificates,
    smtp_server,
    unused_port,
)
from tests.report.reports import ANSI, BIDI, HOSTILE

INJECTION = "kernel\r\nBcc: victim@evil.example\r\nX-Injected: yes\n\nforged body"
HEADERS = {"subject", "from", "to", "date", "message-id", "x-auditor-fingerprint",
           "x-auditor-severity", "content-type", "content-transfer-encoding", "mime-version"}


def account(server: SmtpServer, certificates: Certificates, **changes: object) -> SmtpAccount:
    base = SmtpAccount(host="127.0.0.1", port=server.port, sender="auditor@example.org",
                       recipients=("sre@example.org", "oncall@example.org"),
                       ca_file=certificates.ca_file, username=server.username,
                       password=server.password, timeout=5)
    return replace(base, **changes)  # type: ignore[arg-type]


def received(server: SmtpServer) -> list[EmailMessage]:
    return [email.message_from_bytes(e.original_content or b"", policy=email.policy.default)
            for e in server.sink.envelopes]


def kernel_alert() -> Alert:
    return Alert.from_finding(finding("kernel"), report=REPORT, run_time=RUN_TIME)


def test_an_alert_is_one_message_after_starttls_and_auth(certificates: Certificates) -> None:
    alert = kernel_alert()
    with smtp_server(tls=certificates) as server:
        delivery = EmailChannel(account(server, certificates)).send(alert)
    assert delivery.status is DeliveryStatus.SENT, delivery.reason
    [envelope] = server.sink.envelopes
    assert envelope.rcpt_tos == ["sre@example.org", "oncall@example.org"]
    assert envelope.mail_from == "auditor@example.org"
    [message] = received(server)
    assert message["Subject"] == ("[auditor] [HIGH] UNEXPECTED_ENDORSEMENT: Component key "
                                  "signed something unexpected (component kernel)")
    assert message["X-Auditor-Fingerprint"] == alert.fingerprint
    body = message.get_content()
    assert f"Fingerprint: {alert.fingerprint}" in body
    assert f"Report:      {REPORT}" in body
    assert f"  uuid: {dict(alert.evidence)['uuid']}" in body


def test_a_server_without_starttls_is_a_failed_delivery_not_a_downgrade(
        certificates: Certificates) -> None:
    with smtp_server(tls=None) as server:
        delivery = EmailChannel(account(server, certificates)).send(kernel_alert())
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.reason is not None and "does not offer STARTTLS" in delivery.reason
    assert server.sink.envelopes == []


def test_a_certificate_from_another_ca_is_refused(certificates: Certificates,
                                                  tmp_path: Path) -> None:
    stranger = make_certificates(tmp_path, "stranger")
    with smtp_server(tls=certificates) as server:
        delivery = EmailChannel(account(server, stranger)).send(kernel_alert())
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.reason is not None and "CERTIFICATE_VERIFY_FAILED" in delivery.reason
    assert server.sink.envelopes == []


def test_a_wrong_password_is_a_failed_delivery_that_does_not_repeat_it(
        certificates: Certificates) -> None:
    with smtp_server(tls=certificates) as server:
        delivery = EmailChannel(account(server, certificates, password="hunter2")).send(
            kernel_alert())
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.reason is not None and "SMTPAuthenticationError: 535" in delivery.reason
    assert "hunter2" not in delivery.reason


def test_a_server_that_is_down_is_a_failed_delivery(certificates: Certificates) -> None:
    down = SmtpAccount(host="127.0.0.1", port=unused_port(), sender="auditor@example.org",
                       recipients=("sre@example.org",), timeout=2)
    delivery = EmailChannel(down).send(kernel_alert())
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.reason is not None and "ConnectionRefusedError" in delivery.reason


@pytest.mark.parametrize("payload", [INJECTION, *HOSTILE])
def test_hostile_text_cannot_add_headers_or_act_on_a_terminal(
        certificates: Certificates, payload: str) -> None:
    alert = replace(Alert.from_finding(finding("kernel", detail=payload, subject=payload + ANSI),
                                       report=REPORT, run_time=RUN_TIME),
                    component=payload, release=BIDI)
    with smtp_server(tls=certificates) as server:
        delivery = EmailChannel(account(server, certificates)).send(alert)
    assert delivery.status is DeliveryStatus.SENT, delivery.reason
    [envelope] = server.sink.envelopes
    assert envelope.rcpt_tos == ["sre@example.org", "oncall@example.org"]
    [message] = received(server)
    assert {name.lower() for name in message.keys()} == HEADERS
    subject = str(message["Subject"])
    assert subject.isprintable()
    # Folding a long Subject may add a space where it breaks (RFC 5322 §2.2.3); nothing else.
    assert subject.split() == one_line(f"[auditor] {alert.headline}").split()
    assert len(one_line(f"[auditor] {alert.headline}")) <= 200
    body = message.get_content().replace("\r\n", "\n")  # SMTP line ends
    assert all(line.isprintable() for line in body.splitlines())
    assert "\x1b" not in body and "\u202e" not in body and "\r" not in body
    assert "\nBcc:" not in body  # a detail cannot fake a header line of the body either
    assert "Bcc" not in message and "X-Injected" not in message


def test_a_message_the_server_took_is_sent_whatever_it_answers_to_quit(
        certificates: Certificates) -> None:
    # "250" after the message hands it over (RFC 5321 §4.1.1.4, §6.1). Before, a QUIT answered
    # otherwise than 221 made the alert a failure: mailed again by every later run.
    with smtp_server(tls=certificates) as server:
        server.sink.quit_reply = "421 4.3.2 shutting down"
        delivery = EmailChannel(account(server, certificates)).send(kernel_alert())
    assert delivery.status is DeliveryStatus.SENT, delivery.reason
    assert len(server.sink.envelopes) == 1
