"""Webhook channel: one JSON POST per alert, readable by Slack and by machines.

The body is `{"text": ..., "alert": {...}}`: `text` is Slack mrkdwn (what a Slack, Mattermost or
Rocket.Chat incoming webhook shows), `alert` the structured alert for anything else.

Every value that may come from a log goes into `text` as an inline code span, where Slack
applies no formatting (`*bold*`, `_italic_`, links, mentions). Slack has no backslash escape, so
what could still act inside a code span is replaced: `&`, `<`, `>` by the HTML entities Slack
asks for ("Escaping text", Slack mrkdwn reference), a backtick (which would end the span) by
U+02CB, and control and invisible characters (CR/LF, ANSI, bidi overrides) by visible escapes.
The structured `alert` keeps the values as `Alert` bounds them (unescaped).

The POST is not idempotent: it is retried only when the receiver surely did not take it
(`auditor.notify.transport`). One message a second by default: Slack's limit for incoming
webhooks ("Rate limits", Slack API docs).
"""

from __future__ import annotations

from typing import Any

import requests

from auditor.notify.interface import Alert, AlertKind, Channel, Delivery
from auditor.notify.transport import (
    Timeouts,
    TransportError,
    answer_excerpt,
    channel_client,
    exchange,
    host_of,
)
from auditor.report.text import visible

#: Slack: one message per second per incoming webhook.
REQUESTS_PER_SECOND = 1.0
_SLACK_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "`": "ˋ"})


def slack_code(value: str | None) -> str:
    """An untrusted value as an inert Slack inline code span."""
    if value is None:
        return "—"
    if value == "":
        return "(empty)"
    return "`" + visible(value, keep="").translate(_SLACK_ENTITIES) + "`"


def slack_text(alert: Alert) -> str:
    """The alert as Slack mrkdwn; only our own words are outside code spans."""
    marker = {AlertKind.NEW: "New finding", AlertKind.RESOLVED: "Resolved",
              AlertKind.TEST: "Test"}[alert.kind]
    lines = [
        f"*{marker}: {alert.severity.value.upper()} {slack_code(alert.rule)}* {alert.title}",
        f"Component: {slack_code(alert.component)}   Release: {slack_code(alert.release)}",
        f"Detail: {slack_code(alert.detail)}",
    ]
    if alert.evidence:
        lines.append("Evidence: " + ", ".join(f"{slack_code(key)} {slack_code(value)}"
                                              for key, value in alert.evidence))
    if alert.report:
        lines.append(f"Report: {slack_code(alert.report)}")
    lines.append(f"Fingerprint: {slack_code(alert.fingerprint)}   "
                 f"Run: {alert.run_time.isoformat()}")
    return "\n".join(lines)


def webhook_payload(alert: Alert) -> dict[str, Any]:
    return {"text": slack_text(alert), "alert": alert.to_json()}


class WebhookChannel(Channel):
    name = "webhook"

    def __init__(self, url: str, *, timeouts: Timeouts | None = None,
                 requests_per_second: float = REQUESTS_PER_SECOND,
                 session: requests.Session | None = None) -> None:
        self.url = url
        self.http = channel_client("webhook", timeouts or Timeouts(), requests_per_second,
                                   session)

    def close(self) -> None:
        self.http.close()

    def send(self, alert: Alert) -> Delivery:
        try:
            # A 2xx says the receiver took the message: its body is not waited for, so one
            # that trickles or overflows cannot make a delivered alert fail (and post again).
            answer = exchange(self.http, "POST", self.url, idempotent=False,
                              json_body=webhook_payload(alert), success_body=False)
        except TransportError as error:
            return Delivery.failed(self.name, alert, f"{host_of(self.url)}: {error}")
        if 200 <= answer.status < 300:
            return Delivery.sent(self.name, alert)
        return Delivery.failed(self.name, alert, f"{host_of(self.url)}: HTTP {answer.status}: "
                               f"{answer_excerpt(answer)}")
