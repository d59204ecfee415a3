"""The delivery ledger on SQLite and PostgreSQL: claims, outcomes, leases, racing hosts."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from auditor.errors import InputError
from auditor.store import models
from auditor.store.database import open_database
from auditor.store.deliveries import (
    LEASE,
    AlertLedger,
    DeliveryState,
    deliveries,
    open_alerts,
)

FINGERPRINT = "0123456789abcdef0123456789abcdef"
ALERT = {"kind": "new", "fingerprint": FINGERPRINT, "rule": "UNEXPECTED_ENDORSEMENT"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def state(db_url: str, channel: str = "webhook") -> tuple[DeliveryState, str | None, int]:
    with open_database(db_url)() as session:
        [row] = [r for r in deliveries(session) if r.channel == channel]
    return row.state, row.claimed_by, row.attempts


def test_a_new_alert_is_claimed_once_then_held_open_until_resolved(db_url: str) -> None:
    ledger = AlertLedger(open_database(db_url), "host-a")
    assert ledger.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
    assert state(db_url) == (DeliveryState.UNSENT, "host-a", 0)
    # Held: no second claim, not even by the same claimant (one send per claim).
    assert not ledger.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
    ledger.record("webhook", FINGERPRINT, resolving=False, delivered=True,
                  reference="https://github.test/example/boot-audit/issues/1")
    assert state(db_url) == (DeliveryState.OPEN, None, 1)
    assert not ledger.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
    with open_database(db_url)() as session:
        [held] = open_alerts(session)
    assert (held.channel, held.fingerprint, held.alert) == ("webhook", FINGERPRINT, ALERT)
    assert held.reference == "https://github.test/example/boot-audit/issues/1"
    # Another channel is another row.
    assert ledger.claim("email", FINGERPRINT, resolving=False, alert=ALERT)

    assert ledger.claim("webhook", FINGERPRINT, resolving=True, alert=ALERT)
    ledger.record("webhook", FINGERPRINT, resolving=True, delivered=True)
    assert state(db_url) == (DeliveryState.RESOLVED, None, 2)
    assert not ledger.claim("webhook", FINGERPRINT, resolving=True, alert=ALERT)
    with open_database(db_url)() as session:
        assert open_alerts(session) == []
    # It came back: news again.
    assert ledger.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)


def test_a_failed_delivery_keeps_the_state_and_the_error_and_frees_the_claim(
        db_url: str) -> None:
    ledger = AlertLedger(open_database(db_url), "host-a")
    assert ledger.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
    ledger.record("webhook", FINGERPRINT, resolving=False, delivered=False,
                  error="http://127.0.0.1:9: cannot connect")
    assert state(db_url) == (DeliveryState.UNSENT, None, 1)
    with open_database(db_url)() as session:
        [row] = deliveries(session)
        assert open_alerts(session) == []
    assert row.last_error == "http://127.0.0.1:9: cannot connect" and row.delivered_at is None
    assert ledger.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
    ledger.record("webhook", FINGERPRINT, resolving=False, delivered=True)
    with open_database(db_url)() as session:
        [row] = deliveries(session)
    assert (row.state, row.attempts, row.last_error) == (DeliveryState.OPEN, 2, None)
    # A "resolved" that fails leaves the alert open: the next run says it again.
    assert ledger.claim("webhook", FINGERPRINT, resolving=True, alert=ALERT)
    ledger.record("webhook", FINGERPRINT, resolving=True, delivered=False, error="HTTP 503")
    assert state(db_url) == (DeliveryState.OPEN, None, 3)


def test_nothing_to_resolve_is_not_claimed(db_url: str) -> None:
    ledger = AlertLedger(open_database(db_url), "host-a")
    assert not ledger.claim("webhook", FINGERPRINT, resolving=True, alert=ALERT)
    with open_database(db_url)() as session:
        assert deliveries(session) == []
    assert ledger.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
    ledger.record("webhook", FINGERPRINT, resolving=False, delivered=False, error="down")
    assert not ledger.claim("webhook", FINGERPRINT, resolving=True, alert=ALERT)  # never sent


def test_a_dead_claim_is_taken_over_after_the_lease_and_its_late_record_is_ignored(
        db_url: str) -> None:
    clock = Clock()
    dead = AlertLedger(open_database(db_url), "host-a", clock=clock)
    alive = AlertLedger(open_database(db_url), "host-b", clock=clock)
    assert dead.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
    clock.now += LEASE - timedelta(seconds=1)
    assert not alive.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
    clock.now += timedelta(seconds=2)
    assert alive.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
    dead.record("webhook", FINGERPRINT, resolving=False, delivered=False, error="late")
    assert state(db_url) == (DeliveryState.UNSENT, "host-b", 0)
    alive.record("webhook", FINGERPRINT, resolving=False, delivered=True)
    assert state(db_url) == (DeliveryState.OPEN, None, 1)


def test_a_claim_is_renewed_while_its_run_sends_and_ages_out_once_it_stops(db_url: str) -> None:
    """A send may outlast the lease (a channel's deadline is per attempt, up to an hour): the
    claim of a run still sending was taken over by the next run to get the run lock (say after
    the lock's session ended), which sent the alert a second time."""
    sessions, lease = open_database(db_url), timedelta(seconds=1)
    sending = AlertLedger(sessions, "host-a", lease=lease)
    other = AlertLedger(sessions, "host-b", lease=lease)
    with sending.renewing():
        assert sending.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
        time.sleep(2 * lease.total_seconds())  # a send twice as long as the lease
        assert not other.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
    # No longer renewed (a run that died): taken over once the lease has passed.
    assert not other.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
    time.sleep(lease.total_seconds() + 0.2)
    assert other.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)


def test_release_drops_only_the_claimants_own_claims(db_url: str) -> None:
    sessions = open_database(db_url)
    mine, theirs = AlertLedger(sessions, "host-a"), AlertLedger(sessions, "host-b")
    assert mine.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
    assert theirs.claim("email", FINGERPRINT, resolving=False, alert=ALERT)
    mine.release()
    assert state(db_url, "webhook") == (DeliveryState.UNSENT, None, 0)
    assert state(db_url, "email") == (DeliveryState.UNSENT, "host-b", 0)
    assert theirs.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)


def test_a_stored_alert_that_is_not_json_is_an_input_error(db_url: str) -> None:
    sessions = open_database(db_url)
    ledger = AlertLedger(sessions, "host-a")
    ledger.claim("webhook", FINGERPRINT, resolving=False, alert=ALERT)
    ledger.record("webhook", FINGERPRINT, resolving=False, delivered=True)
    with sessions.begin() as session:
        session.execute(update(models.AlertDelivery).values(alert="[1, 2"))
    with sessions() as session, pytest.raises(InputError, match=r"alert_deliveries row \d+ "
                                              r"\(webhook\): the stored alert is not a JSON"):
        open_alerts(session)


def test_hosts_racing_for_the_same_alerts_each_win_a_disjoint_share(db_url: str) -> None:
    # Each "host" has its own engine and connections, as separate machines sharing the
    # database would; they claim the same alerts at the same moment.
    hosts, keys = 4, 40
    ledgers = [AlertLedger(open_database(db_url), f"host-{i}") for i in range(hosts)]
    fingerprints = [f"{i:032x}" for i in range(keys)]
    start = threading.Barrier(hosts)
    won: dict[str, list[str]] = {ledger.claimant: [] for ledger in ledgers}

    def claim_all(ledger: AlertLedger) -> None:
        start.wait()
        for fingerprint in fingerprints:
            if ledger.claim("webhook", fingerprint, resolving=False, alert=ALERT):
                won[ledger.claimant].append(fingerprint)

    threads = [threading.Thread(target=claim_all, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    claimed = sorted(f for share in won.values() for f in share)
    assert claimed == fingerprints  # every alert claimed, none twice
    with open_database(db_url)() as session:
        rows = deliveries(session)
    assert len(rows) == keys
    assert all(row.fingerprint in won[str(row.claimed_by)] for row in rows)
