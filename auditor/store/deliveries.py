"""The delivery ledger: which alert each channel has received, and who is sending one now.

`auditor.notify.dispatch` claims each alert before sending it and records the outcome right
after; this module keeps both in the `alert_deliveries` table, one row per (channel, finding
fingerprint), with plain values (the store sits below the notify package and never imports it).

A claim is one conditional write, committed before anything is sent, so of two hosts sharing a
database exactly one gets it:
- no row yet: INSERT ... ON CONFLICT DO NOTHING; a concurrent insert of the same key waits for
  the first to commit, then does nothing and goes on to the UPDATE below, which finds the row
  claimed;
- a row: UPDATE ... WHERE it is in a state that wants this alert and nobody holds a live claim.
  PostgreSQL re-evaluates the WHERE clause on a row a concurrent transaction just updated
  (PostgreSQL manual, "Read Committed Isolation Level"); SQLite has one writer at a time.
  Either way one claimant sees the row come back from RETURNING, the other sees none.

A claim older than `LEASE` belongs to a run that died between claiming and recording: it may be
taken over. A run renews its claims while it sends (`renewing`): one send may take longer than
the lease (a channel's deadline is per attempt, up to an hour, and an alert may take several
attempts and requests), and a live run's claim taken over is an alert sent twice. A run that
stops early releases its own claims (`release`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from auditor.errors import InputError
from auditor.store import models
from auditor.store.repository import get_or_create, now
from auditor.store.tables import aware

#: How long a claim nobody renews is held: shorter than the schedule, so a dead run's claims are
#: free by the next run. A live run renews its claims every `RENEWALS`th of it.
LEASE = timedelta(minutes=15)
RENEWALS = 5

log = logging.getLogger(__name__)

_ROW = models.AlertDelivery


class DeliveryState(StrEnum):
    #: Never delivered: the last try failed (the next run tries again).
    UNSENT = "unsent"
    #: The "new" alert was delivered; the finding has not been reported resolved.
    OPEN = "open"
    #: The "resolved" message was delivered; the finding fires again if it comes back.
    RESOLVED = "resolved"


@dataclass(frozen=True)
class OpenAlert:
    """An alert a channel holds open: the alert as sent (JSON), and where it lives."""

    channel: str
    fingerprint: str
    alert: dict[str, Any]
    reference: str | None


class AlertLedger:
    """The ledger of one claimant (a run on one host): claim, record, release."""

    def __init__(self, sessions: sessionmaker[Session], claimant: str, *,
                 clock: Callable[[], datetime] = now, lease: timedelta = LEASE) -> None:
        self._sessions = sessions
        self.claimant = claimant[:255]
        self._clock = clock
        self._lease = lease

    @contextmanager
    def renewing(self) -> Iterator[None]:
        """Renew this claimant's claims, from a thread, until the block ends: a claim is taken
        over only once its run stopped renewing it (it died), however long a send takes."""
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(stop,), name="alert-claims",
                                   daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()

    def _renew(self, stop: threading.Event) -> None:
        while not stop.wait((self._lease / RENEWALS).total_seconds()):
            try:
                with self._sessions.begin() as session:
                    session.execute(update(_ROW).where(_ROW.claimed_by == self.claimant)
                                    .values(claimed_at=self._clock())
                                    .execution_options(synchronize_session=False))
            except Exception as error:  # the store is gone or the run lock lost: the run
                # stops at its next use of the store, and its claims age out
                log.warning("alert claims of %s no longer renewed: %s", self.claimant, error)
                return

    def claim(self, channel: str, fingerprint: str, *, resolving: bool,
              alert: dict[str, Any]) -> bool:
        """Reserve this alert for this claimant; False when the channel already has it, there
        is nothing to resolve, or another claimant holds a live claim.

        `alert` (JSON) is kept with a "new" alert, to word its "resolved" message later.
        """
        moment = self._clock()
        document = json.dumps(alert, sort_keys=True)
        with self._sessions.begin() as session:
            if not resolving:
                _, created = get_or_create(
                    session, _ROW, {"channel": channel, "fingerprint": fingerprint},
                    state=DeliveryState.UNSENT.value, claimed_by=self.claimant,
                    claimed_at=moment, attempts=0, alert=document)
                if created:
                    return True
            wanted = (DeliveryState.OPEN,) if resolving else (DeliveryState.UNSENT,
                                                              DeliveryState.RESOLVED)
            values: dict[str, Any] = {"claimed_by": self.claimant, "claimed_at": moment}
            if not resolving:
                values["alert"] = document
            taken = session.execute(
                update(_ROW)
                .where(_key(channel, fingerprint), _ROW.state.in_([s.value for s in wanted]),
                       or_(_ROW.claimed_by.is_(None), _ROW.claimed_at < moment - self._lease))
                .values(**values).returning(_ROW.id)
                .execution_options(synchronize_session=False)).scalar()
            return taken is not None

    def record(self, channel: str, fingerprint: str, *, resolving: bool, delivered: bool,
               error: str | None = None, reference: str | None = None) -> None:
        """Store the outcome of this claimant's claim and drop the claim: delivered (the new
        state), or failed (the state stays what the channel last received; the error is kept
        and the next run tries again)."""
        values: dict[str, Any] = {"claimed_by": None, "claimed_at": None,
                                  "attempts": _ROW.attempts + 1}
        if delivered:
            values |= {"state": (DeliveryState.RESOLVED if resolving else
                                 DeliveryState.OPEN).value,
                       "delivered_at": self._clock(), "last_error": None}
            if reference is not None:
                values["reference"] = reference[:1024]
        else:
            values["last_error"] = error
        with self._sessions.begin() as session:
            session.execute(update(_ROW).where(_key(channel, fingerprint),
                                               _ROW.claimed_by == self.claimant)
                            .values(**values).execution_options(synchronize_session=False))

    def pending(self, channel: str, fingerprint: str, *, resolving: bool) -> str | None:
        """For an alert another claimant was in the way of: None when the channel has it
        (or, resolving, there is nothing open to resolve), else why it does not."""
        with self._sessions() as session:
            row = session.scalars(select(_ROW).where(_key(channel, fingerprint))).one_or_none()
        if row is None:
            return None
        state = DeliveryState(row.state)
        if state is (DeliveryState.RESOLVED if resolving else DeliveryState.OPEN) or (
                resolving and state is not DeliveryState.OPEN):
            return None
        if row.claimed_by is not None and row.claimed_at is not None:
            claimed_at = aware(row.claimed_at)
            free_after = (claimed_at + self._lease).isoformat(timespec="seconds")
            return (f"held by another run ({row.claimed_by}, claimed at "
                    f"{claimed_at.isoformat(timespec='seconds')}): that run sends it, or, if it "
                    f"died, the first run after {free_after}")
        return ("another run tried and did not deliver it"
                + (f" ({row.last_error})" if row.last_error else "") + "; the next run sends it")

    def release(self) -> None:
        """Drop every claim this claimant still holds (it stops before recording them)."""
        with self._sessions.begin() as session:
            session.execute(update(_ROW).where(_ROW.claimed_by == self.claimant)
                            .values(claimed_by=None, claimed_at=None)
                            .execution_options(synchronize_session=False))


def _key(channel: str, fingerprint: str) -> ColumnElement[bool]:
    return (_ROW.channel == channel) & (_ROW.fingerprint == fingerprint)


def open_alerts(session: Session) -> list[OpenAlert]:
    """Every alert a channel holds open, by channel then fingerprint."""
    rows = session.scalars(select(_ROW).where(_ROW.state == DeliveryState.OPEN.value)
                           .order_by(_ROW.channel, _ROW.fingerprint))
    return [OpenAlert(row.channel, row.fingerprint, _alert(row), row.reference) for row in rows]


@dataclass(frozen=True)
class DeliveryRow:
    """A ledger row as `audit status` reads it."""

    channel: str
    fingerprint: str
    state: DeliveryState
    claimed_by: str | None
    claimed_at: datetime | None
    attempts: int
    last_error: str | None
    reference: str | None
    delivered_at: datetime | None


def deliveries(session: Session) -> list[DeliveryRow]:
    """The whole ledger, by channel then fingerprint."""
    return [DeliveryRow(row.channel, row.fingerprint, DeliveryState(row.state), row.claimed_by,
                        aware(row.claimed_at) if row.claimed_at else None,
                        row.attempts, row.last_error, row.reference,
                        aware(row.delivered_at) if row.delivered_at else None)
            for row in session.scalars(select(_ROW).order_by(_ROW.channel, _ROW.fingerprint))]


def _alert(row: models.AlertDelivery) -> dict[str, Any]:
    try:
        document = json.loads(row.alert)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise InputError(f"alert_deliveries row {row.id} ({row.channel}): the stored alert is "
                         "not a JSON object")
    return document

