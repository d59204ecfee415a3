"""Findings as a function of stored evidence: the same evidence gives the same finding.

Whatever run, crawl or query looks at a stored endorsement, entry or log fault, it judges it
here, so a foreign entry listed under a pinned key is `WRONG_KEY` in every run (never
`UNEXPECTED_ENDORSEMENT` in the next), an unparsable body is `ENTRY_INVALID` (never a
`STATEMENT_UNAVAILABLE` for an unknown digest), and a split view stays a split view.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from auditor.findings import Finding, RuleId, invalid_rule
from auditor.keyset import KeySet
from auditor.receipt_policy import DEFAULT_REQUIREMENT, ReceiptVerdict, judge
from auditor.source.publisher_index import typed
from auditor.store import publisher
from auditor.store.publisher import (
    AlteredFile,
    KeyListing,
    KeysetKey,
    ListedElsewhere,
    PackageView,
    SignedEntry,
)
from auditor.store.views import EndorsementView, EntryView
from auditor.wording import REASON_CHARS, bounded


def shown(component: str | None) -> str:
    """A component as messages show it: never "None"."""
    return component if component is not None else "no component"


def receipt_verdict(endorsed: EndorsementView, keyset: KeySet | None) -> ReceiptVerdict:
    """Whether `endorsed` has the receipts its policies need (without a key set: the default,
    a valid receipt of some kind)."""
    requirements = keyset.requirements_for(endorsed.component, endorsed.signer_key_sha256) \
        if keyset is not None else []
    return judge(endorsed, requirements)


def reliance(endorsed: EndorsementView, verdict: ReceiptVerdict) -> RuleId | None:
    """Why a verifier may not rely on `endorsed`; None when it may (every check passes, a
    receipt verifies and every receipt policy is met)."""
    if endorsed.failed_checks:
        return invalid_rule(endorsed.failed_checks, endorsed.logged)
    if not verdict.met:
        return RuleId.TLOG_POLICY_UNMET if endorsed.logged else RuleId.ENDORSED_NOT_LOGGED
    return None if endorsed.logged else RuleId.NOT_LOGGED_ALLOWED


def invalid_detail(rule: RuleId, endorsed: EndorsementView, what: str,
                   verdict: ReceiptVerdict | None = None) -> str:
    """Why `endorsed` (the endorsement of `what`) cannot be relied on."""
    where = _where(endorsed)
    policy = f": {verdict.detail()}" if verdict is not None and _named_policy(verdict) else ""
    if rule is RuleId.ENDORSED_NOT_LOGGED and endorsed.published:
        index, package = endorsed.published
        return (f"the endorsement of {what}, published as {package} in {index}, carries no "
                f"transparency-log receipt{policy}")
    if rule is RuleId.ENDORSED_NOT_LOGGED:
        return f"the endorsement of {what} was never logged in the transparency log{policy}"
    if rule is RuleId.TLOG_POLICY_UNMET:
        return f"the endorsement of {what} ({where}){policy}"
    if rule is RuleId.NOT_LOGGED_ALLOWED:
        applied = verdict.applied if verdict is not None else ()
        return (f"the endorsement of {what} was never logged, which receipt policy "
                f"{'; '.join(r.describe() for r in applied)} allows")
    if rule is RuleId.WRONG_KEY:
        signer = endorsed.signer_key_sha256
        by = f" (signed by key sha256:{signer})" if signer else ""
        return (f"the endorsement of {what} ({where}) is not signed by a pinned key of "
                f"{shown(endorsed.component)}{by}")
    if rule is RuleId.EXPIRED_AT_INTEGRATION:
        return f"the endorsement of {what} ({where}) was logged outside its validity window"
    return f"the endorsement of {what} ({where}) failed: {failure_reasons(endorsed.checks)}"


def _where(endorsed: EndorsementView) -> str:
    if endorsed.log_index is not None:
        return f"log index {endorsed.log_index}"
    if endorsed.logged:
        return "logged by " + " and ".join(kind.label for kind in endorsed.receipts)
    return "not logged"


def _named_policy(verdict: ReceiptVerdict) -> bool:
    # The default ("logged somewhere") is what ENDORSED_NOT_LOGGED always meant: unnamed.
    return verdict.failed is not None and verdict.failed is not DEFAULT_REQUIREMENT


def problem_evidence(endorsed: EndorsementView, verdict: ReceiptVerdict) -> dict[str, Any]:
    """What a finding that `endorsed` cannot be relied on adds to its evidence."""
    evidence: dict[str, Any] = {"failed_checks": list(endorsed.failed_checks)}
    if _named_policy(verdict):
        evidence["receipt_policy"] = verdict.evidence()
    return evidence


def endorsement_rule(endorsed: EndorsementView, pinned: set[str],
                     keyset: KeySet | None = None) -> tuple[RuleId, ReceiptVerdict | None]:
    """The rule a stored endorsement that no release accounts for falls under, and the receipt
    verdict when the receipts decided it (None: a foreign key or a legacy format did first).
    """
    unpinned = endorsed.signer_key_sha256 is not None and endorsed.signer_key_sha256 not in pinned
    if endorsed.logged and (unpinned or endorsed.component is None) and endorsed.ok:
        return RuleId.WRONG_KEY, None
    if endorsed.ok and endorsed.statement_format not in (None, "oak-endorsement-v1"):
        return RuleId.LEGACY_FORMAT, None
    verdict = receipt_verdict(endorsed, keyset)
    return reliance(endorsed, verdict) or RuleId.UNEXPECTED_ENDORSEMENT, verdict


def endorsement_finding(endorsed: EndorsementView, pinned: set[str],
                        keyset: KeySet | None = None) -> Finding:
    """What a stored endorsement that no release accounts for means.

    `pinned`: the sha256 of every pinned component key; `keyset`: the receipt policies.
    """
    rule, verdict = endorsement_rule(endorsed, pinned, keyset)
    evidence = endorsed.evidence()
    identity = ("uuid", "statement_sha256")
    component = endorsed.component
    where = _where(endorsed)
    if verdict is None and rule is RuleId.WRONG_KEY:
        return Finding(RuleId.WRONG_KEY, component, f"{where}: "
                       f"{endorsed.subject_name!r} is signed by key sha256:"
                       f"{endorsed.signer_key_sha256}, which no component pins", evidence,
                       identity=identity)
    if verdict is None:
        return Finding(RuleId.LEGACY_FORMAT, component, f"statement format "
                       f"{endorsed.statement_format} ({where}): "
                       "classified, not interpreted", evidence, identity=identity)
    if rule is RuleId.UNEXPECTED_ENDORSEMENT:
        return Finding(RuleId.UNEXPECTED_ENDORSEMENT, component, f"{where}: a valid "
                       f"endorsement of {endorsed.subject_name!r} under a {shown(component)} "
                       "key matches no artifact of any configured release", evidence,
                       identity=identity)
    # A statement that did not parse names no subject: it is named by its hash instead.
    what = repr(endorsed.subject_name) if endorsed.subject_name is not None \
        else f"statement sha256:{endorsed.statement_sha256}"
    return Finding(rule, component, invalid_detail(rule, endorsed, what, verdict),
                   {**evidence, **problem_evidence(endorsed, verdict)}, identity=identity)


def entry_finding(entry: EntryView, pinned: set[str]) -> Finding:
    """What a stored entry without an endorsement means: it failed, it is foreign, or its
    statement could not be fetched (yet: every crawl tries again)."""
    evidence: dict[str, Any] = {"uuid": entry.uuid, "log_index": entry.log_index,
                "statement_sha256": entry.signed_digest,
                "signer_key_sha256": entry.signer_key_sha256}
    where = f"entry {entry.uuid} (log index {entry.log_index})"
    if entry.failed_checks:
        rule = invalid_rule(entry.failed_checks, logged=True)
        evidence["failed_checks"] = list(entry.failed_checks)
        return Finding(rule, entry.component, f"{where} failed: {failure_reasons(entry.checks)}",
                       evidence, identity=("uuid",))
    if entry.signer_key_sha256 is not None and entry.signer_key_sha256 not in pinned:
        return Finding(RuleId.WRONG_KEY, entry.component, f"{where}, listed under a "
                       f"{shown(entry.component)} key, is signed by key "
                       f"sha256:{entry.signer_key_sha256}, which no component pins", evidence,
                       identity=("uuid",))
    return Finding(RuleId.STATEMENT_UNAVAILABLE, entry.component, f"{where} signs statement "
                   f"sha256:{entry.signed_digest}, whose bytes are not in the statement store",
                   evidence, identity=("uuid",))


def store_findings(endorsements: Iterable[EndorsementView], entries: Iterable[EntryView],
                   pinned: set[str], accounted: set[int] | None = None,
                   keyset: KeySet | None = None) -> Iterator[Finding]:
    """One finding per stored endorsement (unless a release accounts for it) and per bare
    entry."""
    for endorsed in endorsements:
        if accounted is None or endorsed.endorsement_id not in accounted:
            yield endorsement_finding(endorsed, pinned, keyset)
    for entry in entries:
        yield entry_finding(entry, pinned)


# -- the publisher's index against the logs ---------------------------------------------------


def publication_findings(session: Session, pinned: set[str],
                         keysets: Mapping[str, str | None] | None = None,
                         expected_since: datetime | None = None) -> Iterator[Finding]:
    """What the stored evidence of every publisher index crawl amounts to: altered and missing
    files, published receipts the log disagrees with, log entries under pinned keys that no
    index lists, and keyset keys nobody pins (`keysets`: keyset hash -> its component).

    Packages without a Rekor receipt are stored as unlogged endorsements and judged with the
    others (`store_findings`: ENDORSED_NOT_LOGGED, naming the package).
    """
    for altered in publisher.altered_files(session):
        yield altered_file_finding(altered)
    for package in publisher.package_views(session):
        finding = package_finding(package)
        if finding is not None:
            yield finding
    listings = [k for k in publisher.key_listings(session) if k.spki_sha256 in pinned]
    entries = publisher.entries_signed_by(session, {k.spki_sha256 for k in listings})
    yield from unpublished_findings(listings, entries, expected_since)
    for elsewhere in publisher.listed_elsewhere(session, listings):
        yield listed_elsewhere_finding(elsewhere)
    keysets = keysets or {}
    for key in publisher.keyset_keys(session, keysets):
        if key.spki_sha256 not in pinned:
            yield unpinned_key_finding(key, keysets.get(key.keyset_sha256))


def altered_file_finding(altered: AlteredFile) -> Finding:
    evidence = {"file": typed(altered.sha256), "served": altered.altered, "store": altered.store,
                "named_by": altered.wanted_by, "first_seen": altered.first_seen.isoformat()}
    return Finding(RuleId.PUBLISHED_FILE_ALTERED, None, f"{altered.store} served "
                   f"{altered.altered} under the name {typed(altered.sha256)} (named by "
                   f"{altered.wanted_by}); the bytes were not used", evidence,
                   identity=("file", "served"))


def package_finding(package: PackageView) -> Finding | None:
    """An incomplete package, or a published Rekor receipt the log disagrees with or that
    fails verification. A package without a receipt is judged as the unlogged endorsement it
    is stored as (`endorsement_finding`)."""
    evidence: dict[str, Any] = {"index": package.store,
                                "package": typed(package.endorsement_sha256),
                                "key": typed(package.key_file_sha256)}
    what = f"the index lists endorsement {evidence['package']} under key {evidence['key']}"
    if package.missing is not None:
        evidence["missing"] = package.missing
        return Finding(RuleId.PUBLISHED_FILE_MISSING, package.component,
                       f"{what}, but {package.missing}", evidence,
                       identity=("index", "package"))
    if package.pending or package.rekor_sha256 is None:
        return None
    failed = package.failed_checks
    problems = [f"fails verification: {failure_reasons(package.checks)}"] if failed else []
    answer = _LOG_ANSWERS.get(package.log_answer or "")
    if answer is not None:
        problems.append(answer.format(detail=package.log_detail))
    if not problems:
        return None
    evidence.update(receipt=typed(package.rekor_sha256), uuid=package.receipt_uuid,
                    log_answer=package.log_answer, log_detail=package.log_detail,
                    failed_checks=list(failed))
    rule = invalid_rule(failed, logged=True) if failed else RuleId.ENTRY_INVALID
    # A receipt that does not parse names no entry.
    entry = f" (entry {package.receipt_uuid})" if package.receipt_uuid else ""
    return Finding(rule, package.component, f"the published Rekor receipt "
                   f"{evidence['receipt']} of endorsement {evidence['package']}{entry} "
                   f"{'; '.join(problems)}", evidence,
                   identity=("index", "package", "receipt"))


def failure_reasons(checks: Iterable[tuple[str, bool | None, str | None]]) -> str:
    """Each failed check with why it failed ("set (the signed integratedTime … is after …)"):
    a finding said only "set" or "body", though the reason is stored with the check. The reason
    may quote the log (hostile): bounded here, escaped by each output like every detail."""
    return ", ".join(f"{name} ({bounded(reason, REASON_CHARS)})" if reason else name
                     for name, ok, reason in checks if ok is False)


def listed_elsewhere_finding(elsewhere: ListedElsewhere) -> Finding:
    """A key's list naming another key's endorsement: as a package whose key link names
    another key, whoever fetches this key's endorsements from the index gets one it did not
    sign (whichever list the crawl read first, the same finding)."""
    listing = elsewhere.listing
    evidence = {"index": listing.store, "package": typed(elsewhere.endorsement_sha256),
                "key": typed(listing.key_file_sha256),
                "signed_under": typed(elsewhere.signed_under),
                "signer_key_sha256": elsewhere.signer_spki_sha256}
    return Finding(RuleId.PUBLISHED_FILE_MISSING, elsewhere.component, f"the index lists "
                   f"endorsement {evidence['package']} under key {evidence['key']}, but it is "
                   f"signed by key sha256:{elsewhere.signer_spki_sha256} (listed under key "
                   f"file {evidence['signed_under']}): the list names another key's "
                   "endorsement", evidence, identity=("index", "package", "key"))


#: How the log's own copy of a published receipt's entry differed from it.
_LOG_ANSWERS = {
    "absent": "names an entry the log does not serve",
    "different": "is not the entry the log returns for that UUID ({detail})",
    "malformed": "names an entry the log answers for with a malformed document ({detail})",
}


def unpublished_findings(listings: list[KeyListing], entries: Iterable[SignedEntry],
                         expected_since: datetime | None = None) -> Iterator[Finding]:
    """Log entries whose statement no index lists under the key that signed them (`entries`
    are signed by the listed keys: only keys whose list some index crawl fetched are judged,
    and an entry listed by any index under its key is published)."""
    by_key: dict[str, list[KeyListing]] = {}
    for listing in listings:
        by_key.setdefault(listing.spki_sha256, []).append(listing)
    for entry in entries:
        mine = by_key.get(entry.signer_key_sha256, [])
        if not mine or any(listing.publishes(entry.signed_digest) for listing in mine):
            continue
        if expected_since is not None and entry.integrated_time is not None and \
                datetime.fromtimestamp(entry.integrated_time, UTC) < expected_since:
            continue
        digest = entry.signed_digest
        listing = next((m for m in mine if digest in m.listed or digest in m.withdrawn),
                       mine[0])
        yield unpublished_finding(entry, listing)


def unpublished_finding(entry: SignedEntry, listing: KeyListing) -> Finding:
    evidence = {"uuid": entry.uuid, "log_index": entry.log_index,
                "statement_sha256": entry.signed_digest,
                "signer_key_sha256": entry.signer_key_sha256, "index": listing.store,
                "key": typed(listing.key_file_sha256)}
    if entry.signed_digest in listing.unserved:
        which = f"which {listing.store} lists under key {evidence['key']} but does not serve " \
            "its statement"
    elif entry.signed_digest in listing.withdrawn:
        which = f"which {listing.store} listed under key {evidence['key']} before and no " \
            "longer lists"
    else:
        which = f"which {listing.store} does not list under key {evidence['key']}"
    return Finding(RuleId.UNPUBLISHED_LOG_ENTRY, entry.component, f"entry {entry.uuid} (log "
                   f"index {entry.log_index}) under a pinned {shown(entry.component)} key "
                   f"signs statement sha256:{entry.signed_digest}, {which}", evidence,
                   identity=("uuid",))


def unpinned_key_finding(key: KeysetKey, component: str | None) -> Finding:
    evidence = {"index": key.store, "keyset": typed(key.keyset_sha256),
                "key": typed(key.key_file_sha256), "spki_sha256": key.spki_sha256}
    why = (f"is key sha256:{key.spki_sha256}, which no component pins" if key.spki_sha256
           else f"cannot be matched with a pinned key: {key.detail}")
    return Finding(RuleId.UNPINNED_PUBLISHER_KEY, component, f"keyset {evidence['keyset']} "
                   f"lists key file {evidence['key']}, which {why}", evidence,
                   identity=("index", "keyset", "key"))
