"""A batch of verifications is stored as if its items were stored one after the other.

Each test stores the same verifications of the local log's entries into two databases of the
test's backend: one item at a time (`store_verification`), and as one batch
(`store_verifications`: a few Core statements per batch, COPY and unnest on PostgreSQL). The
rows (every column but surrogate ids and the times of storing) and the per-item outcomes must
be the same, through repeats in a batch, entries without a statement, fresh verifications of
stored entries, unlogged endorsements with receipts, and a no-op second time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.crawl.ingest import Fetched, Ingest, Prepared
from auditor.crawl.interface import CrawlJob
from auditor.keyset import KeySet
from auditor.source.rekor_client import RekorClient
from auditor.source.statements import DirectoryStore, EmptyStore
from auditor.store import models
from auditor.store.database import engine_of, open_database
from auditor.store.repository import (
    EndorsementRecord,
    Storable,
    StoredItem,
    store_verification,
    store_verifications,
)
from auditor.verify.entry import EndorsementMaterial, verify_unlogged
from auditor.verify.keys import load_public_key
from auditor.verify.receipt_state import ReceiptKind
from auditor.verify.receipts import Receipt
from tests.db.crawling import CrawlSetup
from tests.oakdata import OAK

TLOG_PROOF = OAK / "c2sp" / "test.tlog-proof"


def keyset_of(setup: CrawlSetup) -> KeySet:
    keyset = KeySet()
    for endorser in setup.endorsers:
        keyset.add(endorser.name, load_public_key(endorser.public_pem), "test")
    return keyset


def prepared_entries(setup: CrawlSetup, url: str) -> list[Prepared]:
    """Every entry of the log, fetched and verified; the last five without their statement."""
    uuids = [e.entry.uuid for e in setup.endorsements]
    with RekorClient(setup.server.url, requests_per_second=1000) as client:
        raws = [raw for start in range(0, len(uuids), 10)
                for raw in client.retrieve(uuids=uuids[start:start + 10]).by_uuid.values()]
    sessions = open_database(url)
    keyring = setup.keyring()
    with_statements = Ingest(CrawlJob(sessions, keyset_of(setup),
                                      DirectoryStore(setup.statements)), keyring)
    without = Ingest(CrawlJob(sessions, keyset_of(setup), EmptyStore()), keyring)
    prepared = []
    for i, raw in enumerate(raws):
        ingest = without if i >= len(raws) - 5 else with_statements
        item = ingest.prepare(Fetched(raw.entry, raw.raw, "rekor-v1", f"testlog {raw.uuid}"))
        assert item is not None
        prepared.append(item)
    engine_of(sessions).dispose()
    return prepared


def storable(item: Prepared) -> Storable:
    return Storable(item.verification, item.record, item.fetched.raw, item.fetched.raw_format,
                    item.verification.log_key, item.component)


def relisted(item: Prepared, component: str, *, later: int = 0) -> Prepared:
    """The same entry as the endorsement of another component (another endorsement row);
    `later`: served with an integratedTime that many seconds later (the body is the same, so
    it is the same entry, and the stored entry's time is the endorsement's)."""
    verification = item.verification
    assert verification.entry is not None and verification.entry.integrated_time is not None
    entry = dataclasses.replace(verification.entry,
                                integrated_time=verification.entry.integrated_time + later)
    return dataclasses.replace(item, component=component,
                               verification=dataclasses.replace(verification, entry=entry),
                               record=dataclasses.replace(item.record, component=component))


def unlogged(setup: CrawlSetup) -> Storable:
    """An endorsement that never reached the log, with a C2SP tlog-proof beside it."""
    endorsement = setup.endorsements[0]
    material = EndorsementMaterial(artifact=endorsement.statement,
                                   signature=endorsement.signature,
                                   endorser_keys=(load_public_key(endorsement.endorser.public_pem),))
    receipts = (Receipt(ReceiptKind.C2SP, TLOG_PROOF.read_bytes()),)
    record = EndorsementRecord(endorsement.endorser.name, endorsement.statement,
                               endorsement.signature, None, "a directory", receipts)
    return Storable(verify_unlogged(material), record)


def store_one_by_one(url: str, items: Sequence[Storable], again: bool) -> list[StoredItem]:
    with open_database(url).begin() as session:
        return [store_verification(session, i.verification, i.record, raw=i.raw,
                                   raw_format=i.raw_format, log_key=i.log_key,
                                   component=i.component, again=again) for i in items]


def store_batch(url: str, items: Sequence[Storable], again: bool) -> list[StoredItem]:
    with open_database(url).begin() as session:
        return store_verifications(session, items, again=again)


_TIMES = {"imported_at", "verified_at", "seen_at", "first_seen"}


def _columns(model: type[Any], *skip: str) -> list[Any]:
    return [c for c in model.__table__.columns if c.name not in {"id", *_TIMES, *skip}]


def rows(url: str) -> dict[str, Any]:
    """Every stored row, by natural keys; verifications in the order they were stored."""
    with open_database(url)() as session:
        leaf = dict(session.execute(select(models.Entry.id, models.Entry.leaf_hash)).all())
        dedup = dict(session.execute(select(models.Endorsement.id,
                                            models.Endorsement.dedup_key)).all())
        checkpoint = {row.id: (row.size, row.root_hash, row.signature_ok)
                      for row in session.scalars(select(models.StoredCheckpoint))}

        def table(model: type[Any], *skip: str, **foreign: dict[int, Any]) -> list[Any]:
            out = []
            for row in session.execute(select(*_columns(model, *skip), *(
                    model.__table__.c[name] for name in foreign))):
                values = row._asdict()
                for name, names in foreign.items():
                    values[name] = names.get(values[name]) if values[name] else None
                out.append(tuple(sorted(values.items(), key=lambda kv: kv[0])))
            return sorted(out, key=repr)

        return {
            "entries": table(models.Entry, "log_pk", "checkpoint_pk",
                             checkpoint_pk=checkpoint),
            "endorsements": table(models.Endorsement, "entry_pk", entry_pk=leaf),
            "receipts": table(models.Receipt, "endorsement_pk", endorsement_pk=dedup),
            "verifications": _verifications(session, leaf, dedup),
        }


def _verifications(session: Session, leaf: dict[int, str],
                   dedup: dict[int, str]) -> list[Any]:
    checks: dict[int, list[Any]] = {}
    for result in session.scalars(select(models.CheckResult).order_by(
            models.CheckResult.verification_pk, models.CheckResult.position)):
        checks.setdefault(result.verification_pk, []).append(
            (result.position, result.name, result.ok, result.detail))
    return [(leaf.get(v.entry_pk or 0), dedup.get(v.endorsement_pk or 0), v.ok, v.tool_version,
             checks[v.id])
            for v in session.scalars(select(models.Verification).order_by(models.Verification.id))]


def outcomes(url: str, stored: list[StoredItem]) -> list[tuple[Any, ...]]:
    """Each item's outcome, its rows named by natural keys."""
    with open_database(url)() as session:
        leaf = dict(session.execute(select(models.Entry.id, models.Entry.leaf_hash)).all())
        dedup = dict(session.execute(select(models.Endorsement.id,
                                            models.Endorsement.dedup_key)).all())
    return [(s.entry_new, s.endorsement_new, s.verification_stored,
             leaf.get(s.entry_id or 0), dedup.get(s.endorsement_id or 0)) for s in stored]


def test_a_batch_stores_what_its_items_store_one_after_the_other(
        crawl_setup: CrawlSetup, db_url: str, reference_url: str) -> None:
    prepared = prepared_entries(crawl_setup, db_url)
    first = [storable(p) for p in prepared] + [
        storable(relisted(prepared[0], "another component")),  # new endorsement, stored entry
        storable(prepared[1]),  # the same item twice: nothing new the second time
        unlogged(crawl_setup),
    ]
    rounds: list[tuple[list[Storable], bool]] = [
        # Entries new in this batch, repeated in it: as another endorsement (once served with
        # another integratedTime), and as the same item.
        ([*first[:20], storable(relisted(prepared[5], "another component")),
          storable(prepared[6]), storable(relisted(prepared[7], "a third", later=3600))], False),
        (first, False),  # the first twenty again among the rest: stored already
        # Fresh verifications of stored entries (the recheck path), one repeated.
        ([*first[:3], first[-5], *first[-6:-4]], True),
        (first, False),  # a no-op
    ]
    for items, again in rounds:
        one_by_one = store_one_by_one(reference_url, items, again)
        batch = store_batch(db_url, items, again)
        assert outcomes(db_url, batch) == outcomes(reference_url, one_by_one)
        assert rows(db_url) == rows(reference_url)
    stored = rows(db_url)
    assert len(stored["entries"]) == len(prepared)
    # 40 with their statement, three relisted, the unlogged one; five without statement.
    assert len(stored["endorsements"]) == len(prepared) - 5 + 4
    assert len(stored["receipts"]) == 1
    recheck = [dict(e)["recheck"] for e in stored["entries"]]
    assert recheck.count(True) == 5  # the entries whose statement is missing
    assert sum(1 for v in stored["verifications"] if v[0] is None) == 1  # the unlogged one
    assert {len(v[4]) for v in stored["verifications"]} >= {14}
    # An endorsement carries its stored entry's integratedTime, whatever a later copy said.
    with open_database(db_url)() as session:
        times = session.execute(select(models.Endorsement.integrated_time,
                                       models.Entry.integrated_time).join(models.Entry)).all()
    assert len(times) == len(prepared) - 5 + 3 and all(a == b for a, b in times)


def test_a_batch_in_a_transaction_that_fails_stores_nothing(
        crawl_setup: CrawlSetup, db_url: str) -> None:
    items = [storable(p) for p in prepared_entries(crawl_setup, db_url)]
    sessions = open_database(db_url)
    with pytest.raises(RuntimeError), sessions.begin() as session:
        stored = store_verifications(session, items)
        assert all(s.verification_stored for s in stored)
        raise RuntimeError("killed mid-batch")
    assert all(not table for table in rows(db_url).values())
    with sessions.begin() as session:
        assert all(s.entry_new for s in store_verifications(session, items))

