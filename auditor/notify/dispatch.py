"""Sending a run's alerts and recording each outcome in the delivery ledger as it happens.

The ledger (a database table the store owns) is behind a two-call protocol so that no alert is
lost, none is recorded before it was sent, and two hosts sharing a database do not both send it:
`claim` reserves (channel, fingerprint) before sending (one of two racing hosts wins the unique
row); `record` stores the outcome right after, delivered or released for the next run's retry.
An alert another run holds is not sent here; once the channel's alerts are done, `pending` says
whether the channel has it by then. If not (that run is still sending, failed, or was killed
and its claim waits out its lease), the alert is not delivered as far as this run can tell, and
the run says so: a killed run's claim must not turn the next run's exit into "clean".

A channel that keeps failing is not hammered for every remaining alert of the run (a dead SMTP
server would cost one timeout per alert): after `GIVE_UP_AFTER` failures in a row the rest are
recorded as failed without a try, and the next run retries them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from auditor.notify.interface import Alert, Channel, Delivery, DeliveryStatus

GIVE_UP_AFTER = 3


class DeliveryLedger(Protocol):
    def claim(self, channel: str, alert: Alert) -> bool:
        """Reserve this alert on this channel for this run; False when it is delivered or
        another run holds it."""

    def record(self, delivery: Delivery) -> None:
        """Store the outcome: delivered, or failed (which releases the claim)."""

    def pending(self, channel: str, alert: Alert) -> str | None:
        """For an alert `claim` refused: None when the channel has it (or there was nothing to
        resolve), else why it does not yet (who holds it, or how its last try failed)."""


@dataclass
class DeliveryReport:
    deliveries: list[Delivery] = field(default_factory=list)
    #: Alerts another run had claimed or delivered, per channel.
    skipped: dict[str, int] = field(default_factory=dict)
    #: Of those, the ones the channel still did not have when this run was done with it: not
    #: delivered as far as this run can tell (status FAILED, the reason from the ledger).
    held: list[Delivery] = field(default_factory=list)

    def delivered(self, channel: str) -> int:
        return sum(1 for d in self.deliveries if d.channel == channel and d.delivered)

    def failed(self, channel: str) -> int:
        return sum(1 for d in self.deliveries if d.channel == channel and not d.delivered)

    @property
    def failures(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.delivered]

    @property
    def undelivered(self) -> list[Delivery]:
        """Every alert the run found due that its channel does not have: failed here, or
        held by another run that has not delivered it."""
        return self.failures + self.held

    def undelivered_on(self, channel: str) -> int:
        return sum(1 for d in self.undelivered if d.channel == channel)

    @property
    def notes(self) -> list[Delivery]:
        """Alerts sent with a caveat the operator must see: e-mail some recipients refused
        (the others got it, so it is not sent again; the refusal is said here or nowhere)."""
        return [d for d in self.deliveries
                if d.status is DeliveryStatus.SENT and d.reason is not None]

    def to_json(self) -> dict[str, Any]:
        """Counts per channel and every failure (what the run's summary stores)."""
        channels = sorted({d.channel for d in self.deliveries} | set(self.skipped))
        return {"delivered": {c: self.delivered(c) for c in channels},
                "failed": {c: self.failed(c) for c in channels},
                "skipped": {c: self.skipped.get(c, 0) for c in channels},
                "failures": _listed(self.failures), "held": _listed(self.held),
                "notes": _listed(self.notes, "note")}


def _listed(deliveries: list[Delivery], said: str = "reason") -> list[dict[str, Any]]:
    return [{"channel": d.channel, "fingerprint": d.fingerprint, "kind": d.kind.value,
             said: d.reason} for d in deliveries]


def deliver(plan: Mapping[str, Sequence[Alert]], channels: Sequence[Channel],
            ledger: DeliveryLedger) -> DeliveryReport:
    report = DeliveryReport()
    for channel in channels:
        failures_in_a_row = 0
        elsewhere: list[Alert] = []
        for alert in plan.get(channel.name, ()):
            if not ledger.claim(channel.name, alert):
                report.skipped[channel.name] = report.skipped.get(channel.name, 0) + 1
                elsewhere.append(alert)
                continue
            if failures_in_a_row >= GIVE_UP_AFTER:
                delivery = Delivery.failed(channel.name, alert, f"not tried: {GIVE_UP_AFTER} "
                                           "deliveries in a row failed on this channel")
            else:
                delivery = channel.send(alert)
                failures_in_a_row = 0 if delivery.delivered else failures_in_a_row + 1
            ledger.record(delivery)
            report.deliveries.append(delivery)
        for alert in elsewhere:  # asked last: the run holding them had this run's time
            reason = ledger.pending(channel.name, alert)
            if reason is not None:
                report.held.append(Delivery.failed(channel.name, alert, reason))
    return report
