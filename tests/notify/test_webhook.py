"""Webhook channel against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import html
import re
import time
from dataclasses import replace

import pytest

from auditor.http_client import HttpClient
from auditor.notify.interface import DETAIL_CHARS, Alert, AlertKind, DeliveryStatus
from auditor.notify.transport import MAX_ANSWER_BYTES, RETRY_AFTER_BUDGET, RETRY_AFTER_MAX, Timeouts
from auditor.notify.webhook import WebhookChannel, slack_text
from auditor.report.text import visible
from tests.fake_time import FakeTime
from tests.notify.conftest import RATE
from tests.notify.findings import REPORT, RUN_TIME, finding
from tests.notify.servers import LocalServer, Reply, strict_json_receiver, unused_port
from tests.report.reports import ANSI, BACKTICKS, BIDI, HOSTILE, MENTION, NEWLINES

SLACK = ("<!channel> <@U024BE7LH> *bold* _it_ ~strike~ <https://evil.example|click> &amp; "
         "> quote")
SECRET_PATH = "/services/T0000/B0000/XXXXsecretXXXX"
FAST = Timeouts(connect=2, read=1, total=2)


def hook_at(url: str, timeouts: Timeouts = FAST) -> WebhookChannel:
    return WebhookChannel(url, timeouts=timeouts, requests_per_second=RATE)


def kernel_alert() -> Alert:
    return Alert.from_finding(finding("kernel"), report=REPORT, run_time=RUN_TIME)


def alert_saying(detail: str, subject: str, note: str, component: str, release: str) -> Alert:
    alert = Alert.from_finding(finding("kernel", detail=detail, subject=subject, note=note),
                               report=REPORT, run_time=RUN_TIME)
    return replace(alert, component=component, release=release)


def test_an_alert_is_one_json_post_with_slack_text_and_the_structured_alert(
        receiver: LocalServer) -> None:
    alert = kernel_alert()
    with hook_at(receiver.url + "/hook") as channel:
        delivery = channel.send(alert)
    assert delivery.status is DeliveryStatus.SENT and delivery.delivered
    assert (delivery.channel, delivery.fingerprint, delivery.kind) == (
        "webhook", alert.fingerprint, AlertKind.NEW)
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("auditor/")
    document = request.json()
    assert document["alert"] == alert.to_json()
    assert document["alert"]["evidence"]["uuid"] == dict(alert.evidence)["uuid"]
    assert document["text"] == slack_text(alert)
    assert "`UNEXPECTED_ENDORSEMENT`" in document["text"]
    assert f"`{alert.fingerprint}`" in document["text"]


def test_a_test_message_says_it_is_a_test(receiver: LocalServer) -> None:
    with hook_at(receiver.url) as channel:
        delivery = channel.send_test(RUN_TIME)
    assert delivery.status is DeliveryStatus.SENT
    document = receiver.requests[0].json()
    assert document["alert"]["kind"] == "test"
    assert document["text"].startswith("*Test: INFO")


def test_a_receiver_that_is_down_is_a_failed_delivery_not_an_exception() -> None:
    port = unused_port()
    with hook_at(f"http://127.0.0.1:{port}{SECRET_PATH}?token=secret") as channel:
        delivery = channel.send(kernel_alert())
    assert delivery.status is DeliveryStatus.FAILED and not delivery.delivered
    assert delivery.reason is not None and delivery.reason.startswith(f"http://127.0.0.1:{port}: ")
    # Never connected, so nothing was posted: safe to try again at once.
    assert "gave up after 3 attempts" in delivery.reason
    assert "Connection refused" in delivery.reason
    assert "secret" not in delivery.reason  # the webhook URL's path is the credential


def test_an_error_answer_is_a_failed_delivery_with_status_and_an_excerpt(
        receiver: LocalServer) -> None:
    receiver.route = lambda request: Reply(500, b"upstream \x1b[31mexploded\n" + b"x" * 500)
    with hook_at(receiver.url + SECRET_PATH) as channel:
        delivery = channel.send(kernel_alert())
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.reason is not None
    assert delivery.reason.startswith(f"{receiver.url}: HTTP 500: upstream \\x1b[31mexploded x")
    assert len(delivery.reason) < 200 and "secret" not in delivery.reason
    assert delivery.reason.isprintable()
    assert len(receiver.requests) == 1  # a 500 may have posted it: not retried


@pytest.mark.parametrize("status", [408, 429, 503])
def test_an_answer_saying_the_message_was_not_taken_is_retried(receiver: LocalServer,
                                                                status: int) -> None:
    answers = iter([Reply(status, b"busy", {"Retry-After": "0"}), Reply()])
    receiver.route = lambda request: next(answers)
    with hook_at(receiver.url) as channel:
        delivery = channel.send(kernel_alert())
    assert delivery.status is DeliveryStatus.SENT
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body


def test_a_retry_after_the_budget_cannot_wait_out_is_not_retried_early(
        receiver: LocalServer) -> None:
    # A receiver that keeps asking for a minute's pause: the channel waits it out twice (its
    # whole Retry-After budget), then gives each later alert up at its first 429 instead of
    # retrying at once, which the server said not to do and which cannot succeed.
    receiver.route = lambda request: Reply(429, b"slow down", {"Retry-After": "60"})
    fake = FakeTime()
    with hook_at(receiver.url) as channel:
        channel.http = HttpClient("webhook", requests_per_second=RATE,
                                  policy=channel.http.policy, sleep=fake.sleep,
                                  clock=fake.clock)
        deliveries = [channel.send(kernel_alert()) for _ in range(3)]
    assert [d.status for d in deliveries] == [DeliveryStatus.FAILED] * 3
    waits = [s for s in fake.sleeps if s >= 1]
    assert waits == [RETRY_AFTER_MAX] * 2 and sum(waits) == RETRY_AFTER_BUDGET
    assert len(receiver.requests) == 3 + 1 + 1
    assert "gave up after 3 attempts; last: HTTP 429" in (deliveries[0].reason or "")
    for later in deliveries[1:]:
        assert later.reason is not None and "Retry-After budget" in later.reason
        assert "asked to wait 60 s" in later.reason


def test_a_retry_after_of_twelve_digits_is_waited_out_as_long_as_any(
        receiver: LocalServer) -> None:
    # Read as no Retry-After at all, it was retried after a second's backoff, twice.
    receiver.route = lambda request: Reply(429, b"slow down", {"Retry-After": "9" * 12})
    fake = FakeTime()
    with hook_at(receiver.url) as channel:
        channel.http = HttpClient("webhook", requests_per_second=RATE,
                                  policy=channel.http.policy, sleep=fake.sleep,
                                  clock=fake.clock)
        deliveries = [channel.send(kernel_alert()) for _ in range(2)]
    assert [d.status for d in deliveries] == [DeliveryStatus.FAILED] * 2
    assert [s for s in fake.sleeps if s >= 1] == [RETRY_AFTER_MAX] * 2
    assert len(receiver.requests) == 3 + 1
    assert "Retry-After budget" in (deliveries[1].reason or "")


def test_a_redirect_is_not_followed(receiver: LocalServer) -> None:
    with LocalServer(lambda request: Reply()) as elsewhere:
        receiver.route = lambda request: Reply(307, b"", {"Location": elsewhere.url})
        with hook_at(receiver.url) as channel:
            delivery = channel.send(kernel_alert())
        assert elsewhere.requests == []
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.reason is not None and "HTTP 307" in delivery.reason


def test_a_hung_receiver_fails_after_the_read_timeout(receiver: LocalServer) -> None:
    receiver.route = lambda request: Reply(delay=3)
    started = time.monotonic()
    with hook_at(receiver.url, Timeouts(connect=1, read=0.5, total=5)) as channel:
        delivery = channel.send(kernel_alert())
    assert time.monotonic() - started < 2
    assert delivery.reason is not None and "Read timed out" in delivery.reason
    # It may have been posted before the answer was lost: the next run retries, not this one.
    assert delivery.reason.endswith("(not retried: the server may have acted on it)")
    assert len(receiver.requests) == 1


def test_a_trickling_receiver_fails_at_the_total_deadline(receiver: LocalServer) -> None:
    # One byte every 0.1 s never trips the 1 s read timeout: only the deadline stops it (an
    # error answer: the body of a success is not read).
    receiver.route = lambda request: Reply(500, body=b"o" * 100, trickle=0.1)
    started = time.monotonic()
    with hook_at(receiver.url, Timeouts(connect=1, read=1, total=1)) as channel:
        delivery = channel.send(kernel_alert())
    elapsed = time.monotonic() - started
    assert delivery.reason is not None
    assert "the answer took longer than 1 s to arrive (stalled)" in delivery.reason
    assert 1 <= elapsed < 2.5 and len(receiver.requests) == 1


# -- hostile text -------------------------------------------------------------------------------


def code_spans(text: str) -> tuple[str, list[str]]:
    """(the text with every code span replaced by `X`, the spans' contents)."""
    parts = text.split("`")
    assert len(parts) % 2 == 1, "an unbalanced backtick lets data out of its code span"
    return "`X`".join(parts[0::2]), parts[1::2]


def decoded(span: str) -> str:
    """What Slack shows for a span's content; only its three entities may appear."""
    assert not re.search(r"[<>\r\n\x00-\x1f\x7f]", span), span
    assert not re.search(r"&(?!amp;|lt;|gt;)", span), span
    return html.unescape(span).replace("ˋ", "`")


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_text_stays_inside_inert_code_spans(payload: str) -> None:
    alert = alert_saying(payload + " " + SLACK, payload + ANSI, BACKTICKS + NEWLINES,
                         MENTION + BIDI, SLACK)
    skeleton, spans = code_spans(slack_text(alert))
    benign = alert_saying("a detail", "a subject", "a note", "kernel", "r1")
    # Everything outside a code span is our own wording, whatever the data said.
    assert skeleton == code_spans(slack_text(benign))[0]
    values = [alert.rule, alert.component, alert.release, alert.detail,
              *[part for pair in alert.evidence for part in pair], alert.report,
              alert.fingerprint]
    assert [decoded(span) for span in spans] == [visible(v or "", keep="") for v in values]


def test_a_lone_surrogate_from_the_log_does_not_make_the_message_unreadable(
        receiver: LocalServer) -> None:
    # A JSON string in a log may hold "\ud800"; sent on as is, a strict receiver refuses the
    # message (on every run), so it arrives written as its escape.
    receiver.route = strict_json_receiver
    alert = Alert.from_finding(finding("kernel", detail="key \ud800 signed", subject="\udfff"),
                               report=REPORT, run_time=RUN_TIME)
    with hook_at(receiver.url + "/hook") as channel:
        delivery = channel.send(alert)
    assert delivery.status is DeliveryStatus.SENT, delivery.reason
    sent = receiver.requests[0].json()["alert"]
    assert sent["detail"] == "key \\ud800 signed"
    assert sent["evidence"]["subject"] == "\\udfff"


def test_an_alert_stored_before_alerts_were_bounded_is_resolved_readably(
        receiver: LocalServer) -> None:
    # The ledger keeps each alert as it was sent, to word its "resolved" message: a row from
    # before holds the log's detail whole, lone surrogate and all.
    stored = kernel_alert().to_json() | {"detail": "\ud800" + "x" * 100_000}
    done = Alert.from_json(stored, "ledger").resolved(report=REPORT, run_time=RUN_TIME)
    receiver.route = strict_json_receiver
    with hook_at(receiver.url) as channel:
        delivery = channel.send(done)
    assert delivery.status is DeliveryStatus.SENT, delivery.reason
    detail = receiver.requests[0].json()["alert"]["detail"]
    assert detail.startswith("\\ud800x") and len(detail) == DETAIL_CHARS


@pytest.mark.parametrize("body", [b"o" * 100, b"x" * (MAX_ANSWER_BYTES + 1)])
def test_a_success_answer_counts_however_its_body_arrives(receiver: LocalServer,
                                                          body: bytes) -> None:
    # "200" says the receiver took the message; the body adds nothing. Before, a body that
    # trickled past the deadline or was oversized made it a failure, posted again by every
    # later run: a duplicate page per run, for ever.
    receiver.route = lambda request: Reply(body=body, trickle=0.1 if len(body) < 1000 else 0)
    started = time.monotonic()
    with hook_at(receiver.url, Timeouts(connect=1, read=1, total=1)) as channel:
        delivery = channel.send(kernel_alert())
    assert delivery.status is DeliveryStatus.SENT, delivery.reason
    assert time.monotonic() - started < 1 and len(receiver.requests) == 1
