"""A crawl judges the entries it inserts as it stores them, and reads back only the others.

`Ingest` settles an entry it inserted with a new endorsement when the endorsement's rule is one
the crawl's findings leave out; `crawl_findings` then skips it. That must change nothing: the
view built from what was inserted (`views.inserted_view`) is the view read back, field by
field, and the findings over the touched entries without the settled ones are the findings over
all of them. The log's entries are stored by crawls that pin two of the four endorsers (the
others' entries are foreign: WRONG_KEY) and that miss some statements (bare entries).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from auditor.assessment import endorsement_rule
from auditor.crawl.ingest import UNREPORTED, Fetched, Ingest, crawl_findings
from auditor.crawl.interface import CrawlJob
from auditor.findings import RuleId
from auditor.keyset import KeySet
from auditor.source.rekor_client import RawEntry, RekorClient
from auditor.source.statements import DirectoryStore, EmptyStore
from auditor.store import models, views
from auditor.store.database import engine_of, open_database
from auditor.store.repository import Storable, log_row
from auditor.verify.keys import load_public_key
from tests.db.crawling import CrawlSetup

#: Fields `inserted_view` takes from the verification, not from the stored rows (evidence).
EVIDENCE_ONLY = {"subject_digests", "tree_id", "checkpoint"}


def fetched(setup: CrawlSetup) -> list[RawEntry]:
    uuids = [e.entry.uuid for e in setup.endorsements]
    with RekorClient(setup.server.url, requests_per_second=1000) as client:
        return [raw for start in range(0, len(uuids), 10)
                for raw in client.retrieve(uuids=uuids[start:start + 10]).by_uuid.values()]


def half_pinned(setup: CrawlSetup) -> KeySet:
    keyset = KeySet()
    for endorser in setup.endorsers[:2]:
        keyset.add(endorser.name, load_public_key(endorser.public_pem), "test")
    return keyset


def _comparable(view: views.EndorsementView) -> dict[str, Any]:
    fields = dataclasses.asdict(view)
    for name in ("valid_from", "valid_until"):  # SQLite reads back naive UTC times
        when = fields[name]
        if isinstance(when, datetime) and when.tzinfo is None:
            fields[name] = when.replace(tzinfo=UTC)
    return {k: v for k, v in fields.items() if k not in EVIDENCE_ONLY}


def test_settled_entries_are_judged_as_read_back(crawl_setup: CrawlSetup, db_url: str) -> None:
    sessions = open_database(db_url)
    keyset = half_pinned(crawl_setup)
    keyring = crawl_setup.keyring()
    raws = fetched(crawl_setup)
    with_statements = Ingest(CrawlJob(sessions, keyset, DirectoryStore(crawl_setup.statements)),
                             keyring)
    without = Ingest(CrawlJob(sessions, keyset, EmptyStore()), keyring)
    touched: set[int] = set()
    stored_views: dict[int, views.EndorsementView] = {}
    with sessions.begin() as session:
        for ingest, batch in ((with_statements, raws[:-6]), (without, raws[-6:])):
            prepared = [p for raw in batch if (p := ingest.prepare(Fetched(
                raw.entry, raw.raw, "rekor-v1", f"testlog {raw.uuid}"))) is not None]
            for item, result in zip(prepared, ingest.store_all(session, prepared), strict=True):
                assert result.entry_id is not None
                touched.add(result.entry_id)
                if result.endorsement_id is not None:
                    stored_views[result.endorsement_id] = views.inserted_view(Storable(
                        item.verification, item.record, item.fetched.raw), result)
        log = log_row(session, raws[0].entry.log_id, keyring.keys[0])
    settled = set(with_statements.settled | without.settled)
    pinned = keyset.pinned_key_ids()
    with sessions() as session:
        read_back = {v.endorsement_id: v for v in views.endorsement_views(
            session, ids=list(stored_views))}
        entry_of = {e.id: e.entry_pk for e in session.query(models.Endorsement)}
    assert read_back.keys() == stored_views.keys()
    rules = {}
    for endorsement_id, view in read_back.items():
        assert _comparable(stored_views[endorsement_id]) == _comparable(view)
        rules[entry_of[endorsement_id]] = endorsement_rule(view, pinned, keyset)[0]
    assert settled == {entry for entry, rule in rules.items() if rule in UNREPORTED}
    assert RuleId.UNEXPECTED_ENDORSEMENT in rules.values()
    assert RuleId.WRONG_KEY in rules.values()
    bare = touched - set(rules)
    assert len(bare) == 6 and not bare & settled
    job = with_statements.job
    everything = crawl_findings(job, log.log_id, touched)
    assert crawl_findings(job, log.log_id, touched - settled) == everything
    assert {f.rule for f in everything} == {RuleId.WRONG_KEY, RuleId.STATEMENT_UNAVAILABLE}
    engine_of(sessions).dispose()


def test_another_store_of_a_settled_entry_unsettles_it(crawl_setup: CrawlSetup,
                                                        db_url: str) -> None:
    sessions = open_database(db_url)
    keyset = half_pinned(crawl_setup)
    ingest = Ingest(CrawlJob(sessions, keyset, DirectoryStore(crawl_setup.statements)),
                    crawl_setup.keyring())
    pinned_signer = next(r for r in fetched(crawl_setup) if ingest.preparer.signer(r.entry)[2])
    raw = pinned_signer
    item = ingest.prepare(Fetched(raw.entry, raw.raw, "rekor-v1", "testlog"))
    assert item is not None
    with sessions.begin() as session:
        entry_id = ingest.store(session, item).entry_id
    assert set(ingest.settled) == {entry_id}
    other = dataclasses.replace(item, component="another component",
                                record=dataclasses.replace(item.record,
                                                           component="another component"))
    with sessions.begin() as session:
        assert ingest.store(session, other).endorsement_new
    assert set(ingest.settled) == set()
    engine_of(sessions).dispose()
