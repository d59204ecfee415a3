"""The store side of the publisher's endorsement index: files, links, keys and packages.

What an index crawl fetched (with where it came from) and what it concluded, so that a rerun
fetches only what it has not seen, and every run derives the same findings from the same
evidence (`auditor.assessment.publication_findings`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from auditor.store import models
from auditor.store.repository import get_or_create, now
from auditor.store.tables import aware
from auditor.store.views import BATCH

# -- files ----------------------------------------------------------------------------------


def file_content(session: Session, sha256: str) -> bytes | None:
    """The bytes of a file the store served with the right hash, if any."""
    return session.scalar(select(models.PublisherFile.content).where(
        models.PublisherFile.sha256 == sha256))


def save_file(session: Session, sha256: str, *, content: bytes | None, altered: str | None,
              store: str, wanted_by: str) -> None:
    """Record a file the store served: its bytes, or the altered bytes' hash (kept for good)."""
    row, created = get_or_create(
        session, models.PublisherFile, {"sha256": sha256}, content=content, altered=altered,
        store=store, wanted_by=wanted_by, first_seen=now(), last_seen=now())
    if created:
        return
    row.last_seen = now()
    if content is not None:
        row.content = content
    if altered is not None:
        row.altered, row.store, row.wanted_by = altered, store, wanted_by


@dataclass(frozen=True)
class AlteredFile:
    sha256: str
    altered: str
    store: str
    wanted_by: str
    first_seen: datetime


def altered_files(session: Session) -> list[AlteredFile]:
    rows = session.scalars(select(models.PublisherFile).where(
        models.PublisherFile.altered.is_not(None)).order_by(models.PublisherFile.id))
    return [AlteredFile(r.sha256, r.altered or "", r.store, r.wanted_by, aware(r.first_seen))
            for r in rows]


# -- links ----------------------------------------------------------------------------------


def stored_link(session: Session, store: str, link_type: int,
                source: str) -> tuple[str, ...] | None:
    """What a link listed when last fetched; None if never fetched or absent (404) then."""
    row = session.scalar(select(models.PublisherLink).where(
        models.PublisherLink.store == store, models.PublisherLink.link_type == link_type,
        models.PublisherLink.source_sha256 == source))
    if row is None or not row.present:
        return None
    return tuple(row.targets.split())


def save_link(session: Session, store: str, link_type: int, source: str,
              targets: Sequence[str] | None) -> None:
    """Record a link as served now (None: absent)."""
    listed = "\n".join(targets or ())
    row, created = get_or_create(
        session, models.PublisherLink,
        {"store": store, "link_type": link_type, "source_sha256": source},
        targets=listed, present=targets is not None, fetched_at=now())
    if not created:
        row.targets, row.present, row.fetched_at = listed, targets is not None, now()


def links_of(session: Session, link_type: int,
             sources: Iterable[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(store, source, targets) of every fetched link of this type from these sources."""
    rows = session.scalars(select(models.PublisherLink).where(
        models.PublisherLink.link_type == link_type,
        models.PublisherLink.source_sha256.in_(list(sources))).order_by(models.PublisherLink.id))
    return [(r.store, r.source_sha256, tuple(r.targets.split())) for r in rows]


# -- keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredKey:
    key_file_sha256: str
    spki_sha256: str | None
    form: str | None
    learned: str
    detail: str


def keys(session: Session, store: str) -> list[StoredKey]:
    rows = session.scalars(select(models.PublisherKey).where(
        models.PublisherKey.store == store).order_by(models.PublisherKey.id))
    return [StoredKey(r.key_file_sha256, r.spki_sha256, r.form, r.learned, r.detail)
            for r in rows]


def save_key(session: Session, store: str, key: StoredKey) -> None:
    row, created = get_or_create(
        session, models.PublisherKey, {"store": store, "key_file_sha256": key.key_file_sha256},
        spki_sha256=key.spki_sha256, form=key.form, learned=key.learned, detail=key.detail)
    # A key file first read for a keyset and then found to name a pinned key's list (or the
    # other way round): recorded as a name, so later runs need not learn it again.
    relearned = row.learned == "keyset" and key.learned != "keyset"
    if not created and key.spki_sha256 is not None and (row.spki_sha256 is None or relearned):
        row.spki_sha256, row.form, row.learned, row.detail = (
            key.spki_sha256, key.form, key.learned, key.detail)


def statements_signed_by(session: Session, spki_sha256: str, limit: int) -> list[str]:
    """Up to `limit` statement hashes that stored log entries signed by this key sign: known
    endorsements to follow to the publisher's name for the key."""
    return list(session.scalars(
        select(models.Entry.signed_digest)
        .where(models.Entry.signer_key_sha256 == spki_sha256,
               models.Entry.signed_digest.is_not(None))
        .group_by(models.Entry.signed_digest)
        .order_by(models.Entry.signed_digest).limit(limit)))


# -- packages -------------------------------------------------------------------------------


def list_packages(session: Session, store: str, endorsements: Sequence[str], key_file: str,
                  component: str | None) -> int:
    """Record the packages a key's list names (those not recorded yet); how many are new."""
    known = set(session.scalars(select(models.PublishedPackage.endorsement_sha256).where(
        models.PublishedPackage.store == store)))
    new = [e for e in dict.fromkeys(endorsements) if e not in known]
    for endorsement in new:
        get_or_create(session, models.PublishedPackage,
                      {"store": store, "endorsement_sha256": endorsement},
                      key_file_sha256=key_file, component=component, pending=True,
                      first_listed=now())
    return len(new)


class PendingPackage(NamedTuple):
    """What a crawl needs of a package still to verify (a list padded with hashes of nothing
    is long, and an ORM row per entry held ~100 MB per 100,000)."""

    id: int
    endorsement_sha256: str
    key_file_sha256: str
    component: str | None
    #: Found incomplete before: its links are read again.
    incomplete: bool


def pending_packages(session: Session, store: str) -> list[PendingPackage]:
    package = models.PublishedPackage
    return [PendingPackage(*row) for row in session.execute(
        select(package.id, package.endorsement_sha256, package.key_file_sha256,
               package.component, package.missing.is_not(None))
        .where(package.store == store, package.pending.is_(True)).order_by(package.id))]


def unlogged_endorsements(session: Session) -> list[int]:
    """The endorsement rows of verified packages without a Rekor receipt."""
    return list(session.scalars(select(models.PublishedPackage.endorsement_pk).where(
        models.PublishedPackage.rekor_sha256.is_(None),
        models.PublishedPackage.endorsement_pk.is_not(None))))


def package(session: Session, package_id: int) -> models.PublishedPackage:
    row = session.get(models.PublishedPackage, package_id)
    assert row is not None, f"package {package_id} vanished"
    return row


@dataclass(frozen=True)
class PackageView:
    """A published package and what its verification and the log said about it."""

    store: str
    endorsement_sha256: str
    key_file_sha256: str
    component: str | None
    rekor_sha256: str | None
    tlog_proof_sha256: str | None
    pes_sha256: str | None
    pending: bool
    missing: str | None
    ok: bool | None
    checks: tuple[tuple[str, bool | None, str], ...]
    receipt_uuid: str | None
    log_answer: str | None
    log_detail: str | None

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(name for name, ok, _ in self.checks if ok is False)


def package_views(session: Session, store: str | None = None) -> Iterator[PackageView]:
    query = select(models.PublishedPackage).order_by(models.PublishedPackage.id)
    if store is not None:
        query = query.where(models.PublishedPackage.store == store)
    for row in session.scalars(query.execution_options(yield_per=BATCH)):
        yield PackageView(row.store, row.endorsement_sha256, row.key_file_sha256, row.component,
                          row.rekor_sha256, row.tlog_proof_sha256, row.pes_sha256, row.pending,
                          row.missing, row.ok, _checks(row.checks), row.receipt_uuid,
                          row.log_answer, row.log_detail)


def _checks(text: str | None) -> tuple[tuple[str, bool | None, str], ...]:
    document: list[dict[str, Any]] = json.loads(text) if text else []
    return tuple((c["name"], c["ok"], c["detail"]) for c in document)


# -- the comparison's evidence --------------------------------------------------------------


@dataclass(frozen=True)
class KeyListing:
    """What the publisher lists under one key now, and what it listed there before."""

    store: str
    key_file_sha256: str
    spki_sha256: str
    listed: frozenset[str]
    #: Listed statements the store was asked for and did not serve (404 or altered bytes).
    unserved: frozenset[str] = frozenset()
    #: Packages an earlier fetch of the list named and the list no longer names.
    withdrawn: frozenset[str] = frozenset()

    def publishes(self, statement_sha256: str) -> bool:
        """Listed now with its statement readable: a hash alone publishes nothing (nobody can
        read what was signed), and neither does a listing withdrawn since (whoever reads the
        index now does not find it), so neither can hide a signing outside the release
        process."""
        return statement_sha256 in self.listed and statement_sha256 not in self.unserved


def key_listings(session: Session) -> list[KeyListing]:
    """Listings of the keys whose endorsement list (link 21) has been fetched: what the link
    lists as last fetched, and the packages recorded under the key that it no longer lists."""
    fetched = {(r.store, r.source_sha256): set(r.targets.split()) for r in session.scalars(
        select(models.PublisherLink).where(models.PublisherLink.link_type == 21))}
    unserved = unserved_statements(session)
    listings = []
    for key in session.scalars(select(models.PublisherKey).where(
            models.PublisherKey.spki_sha256.is_not(None)).order_by(models.PublisherKey.id)):
        listed = fetched.get((key.store, key.key_file_sha256))
        if listed is None or key.spki_sha256 is None:
            continue
        before = set(session.scalars(select(models.PublishedPackage.endorsement_sha256).where(
            models.PublishedPackage.store == key.store,
            models.PublishedPackage.key_file_sha256 == key.key_file_sha256)))
        listings.append(KeyListing(key.store, key.key_file_sha256, key.spki_sha256,
                                   frozenset(listed), frozenset(listed & unserved),
                                   frozenset(before - listed)))
    return listings


@dataclass(frozen=True)
class ListedElsewhere:
    """A key's list naming a verified package that another key signed (the package is
    recorded under the list that named it first)."""

    listing: KeyListing
    endorsement_sha256: str
    #: The key file the package is recorded and verified under, and the key it holds.
    signed_under: str
    signer_spki_sha256: str
    #: The component of the packages recorded under the listing's key, if any.
    component: str | None


def listed_elsewhere(session: Session, listings: Iterable[KeyListing]) -> list[ListedElsewhere]:
    """Endorsements a key's list names that a package verified under another key signed: the
    publisher says this key signed what another one did."""
    found: list[ListedElsewhere] = []
    for store, mine in _by_store(listings).items():
        spki = {k.key_file_sha256: k.spki_sha256 for k in keys(session, store)}
        package = models.PublishedPackage
        rows = session.execute(select(package.endorsement_sha256, package.key_file_sha256,
                                      package.component).where(
            package.store == store, package.ok.is_(True))).all()
        verified = {row.endorsement_sha256: row.key_file_sha256 for row in rows}
        component = {row.key_file_sha256: row.component for row in rows}
        for listing in mine:
            for endorsement in sorted(listing.listed):
                signed_under = verified.get(endorsement)
                signer = spki.get(signed_under or "")
                if signer is not None and signer != listing.spki_sha256:
                    found.append(ListedElsewhere(listing, endorsement, signed_under or "",
                                                 signer,
                                                 component.get(listing.key_file_sha256)))
    return found


def _by_store(listings: Iterable[KeyListing]) -> dict[str, list[KeyListing]]:
    stores: dict[str, list[KeyListing]] = {}
    for listing in listings:
        stores.setdefault(listing.store, []).append(listing)
    return stores


def unserved_statements(session: Session) -> set[str]:
    """Statements of packages tried whose file the store never served with the right bytes:
    a 404 (the package is missing something) or altered bytes. A package not yet tried is
    not judged: its statement may yet be served."""
    file = models.PublisherFile
    served = select(file.sha256).where(file.content.is_not(None))
    altered = select(file.sha256).where(file.altered.is_not(None))
    package = models.PublishedPackage
    return set(session.scalars(select(package.endorsement_sha256).where(
        or_(package.missing.is_not(None), package.endorsement_sha256.in_(altered)),
        package.endorsement_sha256.not_in(served))))


@dataclass(frozen=True)
class SignedEntry:
    """A stored log entry and the statement its signer signed."""

    uuid: str | None
    log_index: int
    component: str | None
    signed_digest: str
    signer_key_sha256: str
    integrated_time: int | None


def entries_signed_by(session: Session, spki_sha256s: Iterable[str]) -> Iterator[SignedEntry]:
    """Stored entries whose body is signed by one of these keys, streamed."""
    query = (select(models.Entry).where(
        models.Entry.signer_key_sha256.in_(list(spki_sha256s)),
        models.Entry.signed_digest.is_not(None))
        .order_by(models.Entry.id).execution_options(yield_per=BATCH))
    for row in session.scalars(query):
        yield SignedEntry(row.uuid, row.log_index, row.component, row.signed_digest or "",
                          row.signer_key_sha256 or "", row.integrated_time)


@dataclass(frozen=True)
class KeysetKey:
    """A key the publisher lists for a keyset (link 22), and what its file holds."""

    store: str
    keyset_sha256: str
    key_file_sha256: str
    #: None: the file is not in the store or is not a key.
    spki_sha256: str | None
    detail: str


def keyset_keys(session: Session, keysets: Iterable[str]) -> list[KeysetKey]:
    found = []
    for store, keyset, targets in links_of(session, 22, keysets):
        known = {k.key_file_sha256: k for k in keys(session, store)}
        for target in targets:
            key = known.get(target)
            found.append(KeysetKey(store, keyset, target, key.spki_sha256 if key else None,
                                   key.detail if key else "the key file was never served"))
    return found

