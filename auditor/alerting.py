"""A run's alerts: its findings, the delivery ledger in the store, the configured channels.

The one place where the notify package (what fires, how it is sent) meets the store (what each
channel already holds): read the alerts the channels hold open, plan with
`notify.selection.alerts_to_send`, and send with `notify.dispatch.deliver` through the store's
ledger, each alert claimed before it is sent and its outcome recorded right after. A finding is
never marked sent before it was: a failed or unsent alert stays out of the ledger's open alerts,
so the next run plans it again.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence, Set
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from auditor.findings import Finding
from auditor.notify.dispatch import DeliveryReport, deliver
from auditor.notify.interface import Alert, AlertKind, Channel, Delivery
from auditor.notify.selection import alerts_to_send
from auditor.notify.settings import NotifySettings
from auditor.store.deliveries import AlertLedger, open_alerts


class StoredLedger:
    """`notify.dispatch.DeliveryLedger` kept by the store (`store.deliveries.AlertLedger`)."""

    def __init__(self, ledger: AlertLedger) -> None:
        self.ledger = ledger

    def claim(self, channel: str, alert: Alert) -> bool:
        return self.ledger.claim(channel, alert.fingerprint,
                                 resolving=alert.kind is AlertKind.RESOLVED,
                                 alert=alert.to_json())

    def record(self, delivery: Delivery) -> None:
        self.ledger.record(delivery.channel, delivery.fingerprint,
                           resolving=delivery.kind is AlertKind.RESOLVED,
                           delivered=delivery.delivered,
                           error=None if delivery.delivered else delivery.reason,
                           reference=delivery.reference)

    def pending(self, channel: str, alert: Alert) -> str | None:
        return self.ledger.pending(channel, alert.fingerprint,
                                   resolving=alert.kind is AlertKind.RESOLVED)


def claimant() -> str:
    """Who claims this run's alerts: host and process name the run for an operator reading the
    ledger; the random part keeps two runs of one process (tests, embedders) apart."""
    return f"{socket.gethostname()} pid {os.getpid()} {secrets.token_hex(4)}"


def send_alerts(sessions: sessionmaker[Session], notify: NotifySettings,
                channels: Sequence[Channel], findings: Sequence[Finding], *, report: str | None,
                run_time: datetime, complete: bool, claimed_by: str | None = None,
                present: Set[str] | None = None,
                unjudged: Set[str] = frozenset()) -> DeliveryReport:
    """Send what the run's findings call for on every channel; each outcome is in the ledger.

    "Resolved" messages need a `complete` run: an audit that could not finish cannot say that
    a finding stopped appearing. `present`: every fingerprint the run reported, when
    `findings` holds only those that may fire. `unjudged`: rules the run did not look at (an
    offline run's crawl-only rules), whose findings it cannot say are gone.
    """
    with sessions() as session:
        held = open_alerts(session)
    previously_open = [Alert.from_json(h.alert, f"alert_deliveries ({h.channel}, "
                                                f"{h.fingerprint})")
                       for h in held] if notify.resolved else []
    plan = alerts_to_send(findings, {(h.channel, h.fingerprint) for h in held},
                          notify.min_severity, previously_open,
                          channels=[c.name for c in channels],
                          resolved=notify.resolved and complete, report=report,
                          run_time=run_time, present=present, unjudged=unjudged)
    ledger = AlertLedger(sessions, claimed_by or claimant())
    try:
        with ledger.renewing():
            return deliver(plan, channels, StoredLedger(ledger))
    finally:
        ledger.release()  # claims of a run stopped mid-send (SIGTERM) wait for no lease
