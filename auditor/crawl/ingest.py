"""The store path every log source shares: one fetched entry → one verification → rows.

Each entry is prepared (`auditor.crawl.prepare`: its body parsed, its statement fetched, every
named check run), then the entry, the endorsement and the check results are stored. A statement
source that cannot answer stops the batch (the run is incomplete and the entry is fetched again
next time); one that does not hold the statement leaves the entry without an endorsement, which
every later crawl tries to complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pyroaring import BitMap64
from sqlalchemy.orm import Session

from auditor.assessment import endorsement_rule
from auditor.crawl.interface import CrawlJob
from auditor.crawl.prepare import Fetched, Prepared, Preparer
from auditor.crawl.summary import CrawlSummary
from auditor.findings import Finding, RuleId
from auditor.store.repository import Storable, StoredItem, log_of, store_verifications
from auditor.store.views import inserted_view
from auditor.verify.trust import LogKeyring

__all__ = ["UNREPORTED", "Fetched", "Ingest", "Prepared", "count", "crawl_findings"]


#: What a crawl's findings leave out: a valid endorsement that no release was asked about
#: yet, and a statement format that is classified, not interpreted.
UNREPORTED = frozenset({RuleId.UNEXPECTED_ENDORSEMENT, RuleId.LEGACY_FORMAT})


class Ingest:
    def __init__(self, job: CrawlJob, keyring: LogKeyring) -> None:
        self.job = job
        self.keyring = keyring
        self.preparer = Preparer(job.keyset, job.statements, keyring)
        #: Entries this crawl inserted, with one endorsement each, whose finding it judged as
        #: it stored them: `crawl_findings` need not read them back (see `_settle`). Row ids
        #: in a compressed bitmap: a crawl's are mostly consecutive, and a Python set of
        #: 100,000 of them took 4-7 MB, a bitmap some kilobytes.
        self.settled = BitMap64()
        self._pinned: set[str] | None = None

    def prepare(self, fetched: Fetched, *, only_pinned: bool = False) -> Prepared | None:
        """See `Preparer.prepare`."""
        return self.preparer.prepare(fetched, only_pinned=only_pinned)

    def prepare_all(self, batch: list[Fetched]) -> list[Prepared]:
        """See `Preparer.prepare_all`."""
        return self.preparer.prepare_all(batch)

    def store(self, session: Session, prepared: Prepared, *, again: bool = False) -> StoredItem:
        """Store one prepared entry; `again`: a fresh verification of a stored entry."""
        return self.store_all(session, [prepared], again=again)[0]

    def store_all(self, session: Session, prepared: Sequence[Prepared], *,
                  again: bool = False) -> list[StoredItem]:
        """Store a batch of prepared entries in the caller's transaction (one statement per
        table, not per row); `again`: fresh verifications of stored entries."""
        items = [Storable(p.verification, p.record, p.fetched.raw, p.fetched.raw_format,
                          p.verification.log_key, p.component) for p in prepared]
        stored = store_verifications(session, items, again=again)
        for item, result in zip(items, stored, strict=True):
            self._settle(item, result)
        return stored

    def _settle(self, item: Storable, stored: StoredItem) -> None:
        """Judge an entry inserted now with a new endorsement from what was stored, as the
        crawl's findings would after reading it back (`views.inserted_view`): one whose finding
        they leave out is settled. Any other store of the entry unsettles it."""
        if stored.entry_id is None:
            return
        if stored.entry_new and stored.endorsement_new:
            if self._pinned is None:
                self._pinned = self.job.keyset.pinned_key_ids()
            rule, _ = endorsement_rule(inserted_view(item, stored), self._pinned,
                                       self.job.keyset)
            if rule in UNREPORTED:
                self.settled.add(stored.entry_id)
                return
        self.settled.discard(stored.entry_id)


def count(summary: CrawlSummary, item: Prepared, new: bool, again: bool) -> None:
    """Count a stored entry in the crawl's summary: new or checked again, and how it fared."""
    if again:
        summary.rechecked += 1
    elif not new:
        return
    else:
        summary.new += 1
    if item.record.statement is None and item.verification.body is not None:
        summary.statements_unavailable += 1
    if item.verification.ok:
        summary.verified += 1
    else:
        summary.failed += 1


def crawl_findings(job: CrawlJob, log_id: str | None, touched: Iterable[int]) -> list[Finding]:
    """A crawl's findings: the stored faults of the log whose log id (hex) is `log_id`, and
    what the entries it touched amount to (`touched`: without those `Ingest.settled`, whose
    findings are left out).

    The log's row is read here, in a session of its own: the crawl's copy may come from a
    transaction that rolled back (a proof the log did not serve), expired and detached, or
    gone with it if the transaction created it.
    """
    from auditor.assessment import store_findings
    from auditor.store import history as stored_history
    from auditor.store import views

    with job.sessions() as session:
        log = log_of(session, log_id) if log_id is not None else None
        if log is None:
            return []
        faults = [stored_history.fault_finding(row)
                  for row in stored_history.faults(session, [log.id])]
        entries = sorted(touched)
        endorsement_ids = views.endorsement_ids_of_entries(session, entries)
        # Streamed and filtered as judged: a scan that stored many entries under a component
        # key does not hold a finding for each of them.
        relevant = [f for f in store_findings(
            views.endorsement_views(session, ids=endorsement_ids),
            views.bare_entries(session, ids=entries), job.keyset.pinned_key_ids(),
            keyset=job.keyset)
            if f.rule not in UNREPORTED]
    return faults + relevant
