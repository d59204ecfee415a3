"""Following the publisher's own endorsement index (Oak's `oak-files` and `oak-index`).

A log answers "what did this key sign?"; the publisher's index answers "what did we sign?".
One crawl brings the store in step with the index for every pinned component key:

1. Keysets (link 22) configured are listed and their key files read, so a key the publisher
   lists but nobody pins is on record.
2. Each pinned key is named as the publisher names it: the SHA-256 of its key file as stored.
   That form is learned once, by following a known endorsement's signature (link 14) to its key
   (16) or by finding one of our keys' files in the store, and then applied to every pinned
   key; keys are matched by SPKI, never by the bytes of our own PEM.
3. Each key's endorsement list (21) is fetched (the one request a no-op rerun makes per key).
4. Every package not yet verified is loaded: statement, signature (14), key (16), Rekor entry
   (15), C2SP tlog-proof (31), PES confirmation (32); every file only if it hashes to its name.
   It is verified once with the same named checks as a log entry (`verify_entry`, or
   `verify_unlogged` without a Rekor receipt), and a Rekor receipt is compared with the entry
   the log itself returns for that UUID (which is stored like any crawled entry).

Findings are derived from what was stored (`auditor.assessment.publication_findings`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from auditor.crawl.ingest import Fetched, Ingest, Prepared
from auditor.crawl.interface import CrawlJob, LogSource
from auditor.crawl.prepare import subject_digest
from auditor.crawl.rekor_v1 import EntryCheckpoints, consistency_prover, held_to_heads
from auditor.crawl.summary import CrawlSummary
from auditor.errors import IncompleteError, InputError
from auditor.findings import Finding, RuleId, unique
from auditor.prefetch import prefetched
from auditor.source.entry import LogEntry
from auditor.source.interface import StatementSource
from auditor.source.json_input import loads
from auditor.source.publisher_index import LinkType, provenance, typed
from auditor.source.publisher_store import PublisherStore, Served
from auditor.source.rekor_client import MalformedResponseError, RekorClient
from auditor.source.rekor_v1 import parse_entry_document
from auditor.store import models, publisher
from auditor.store.publisher import StoredKey
from auditor.store.record import EndorsementRecord
from auditor.store.repository import log_row, now, store_verification
from auditor.verify.entry import (
    EndorsementMaterial,
    Verification,
    failed,
    verify_entry,
    verify_unlogged,
    with_check,
    with_inline_subject,
)
from auditor.verify.keys import PublicKey, load_one_key
from auditor.verify.trust import LogKeyring
from auditor.wording import counted

#: Encodings a publisher may store a key file in, most likely first: the form learned from one
#: of its key files is applied to every pinned key.
KEY_FORMS: dict[str, Callable[[PublicKey], bytes]] = {
    "pem": lambda key: key.to_pem().encode(),
    "pem-no-newline": lambda key: key.to_pem().encode().rstrip(b"\n"),
    "der": lambda key: key.spki_der,
}
#: Known endorsements followed (14 -> 16) per key to learn how the publisher names it.
LEARN_FROM = 2

#: Packages whose files are fetched while the one before is verified and stored. A package's
#: ten or so requests go one after the other (a link names the next file), so one package at
#: a time waits out the bucket's latency ten times over; side by side they reach the rate.
PACKAGES_AHEAD = 4


def key_form(content: bytes, key: PublicKey) -> str | None:
    """Which of our encodings of `key` reproduces `content` exactly, if any."""
    return next((name for name, encode in KEY_FORMS.items() if encode(key) == content), None)


class PublisherIndexSource(LogSource):
    """The publisher's index as a source beside the logs: it runs after them (the service
    crawls sources in order), so the entries it compares with are already stored."""

    def __init__(self, store: PublisherStore, rekor: RekorClient, keyring: LogKeyring,
                 keysets: Mapping[str, str | None] | None = None,
                 expected_since: datetime | None = None) -> None:
        self.store = store
        self.rekor = rekor
        self.keyring = keyring
        #: keyset hash (hex) -> the component it belongs to, if named.
        self.keysets = dict(keysets or {})
        #: Entries integrated before this are not reported as unpublished.
        self.expected_since = expected_since
        self.name = store.links_url

    def crawl(self, job: CrawlJob) -> CrawlSummary:
        return IndexCrawl(self, job).run()

    def close(self) -> None:
        self.store.http.close()
        self.rekor.close()


class _FileLocks:
    """A lock per file while it is being fetched or waited for, dropped after: a crawl of
    lists naming 400,000 files does not keep 400,000 locks and names (about 100 MB) to its
    end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: file hash -> its lock and how many threads hold or wait for it
        self._held: dict[str, tuple[threading.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._held)

    @contextlib.contextmanager
    def holding(self, sha256: str) -> Iterator[None]:
        with self._lock:
            lock, users = self._held.get(sha256, (threading.Lock(), 0))
            self._held[sha256] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._held[sha256]
                if users == 1:
                    del self._held[sha256]
                else:
                    self._held[sha256] = (lock, users - 1)


@dataclass
class _Pieces:
    """A package's files by piece name: their hashes, the bytes served, what it lacks, and
    whether a file was served altered."""

    hashes: dict[str, str] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    altered: bool = False
    #: Its links are read again rather than taken from the store (it was incomplete).
    fresh: bool = False


class _PackageFiles(StatementSource):
    """The package at hand's files and its inline subject, then the statement source: what is
    asked twice (the subject, the statement for the log's copy) is fetched once."""

    def __init__(self, fallback: StatementSource) -> None:
        super().__init__()
        self.fallback = fallback
        self.name = fallback.name
        self.known: dict[str, bytes | None] = {}

    def fetch(self, sha256_hex: str) -> bytes | None:
        if sha256_hex not in self.known:
            self.known[sha256_hex] = self.fallback.fetch(sha256_hex)
        return self.known[sha256_hex]


class IndexCrawl:
    def __init__(self, source: PublisherIndexSource, job: CrawlJob) -> None:
        self.source = source
        self.store = source.store
        self.index = source.store.links_url
        self.job = job
        self.files = _PackageFiles(job.statements)
        self.ingest = Ingest(dataclasses.replace(job, statements=self.files), source.keyring)
        self.summary = CrawlSummary(source=self.index)
        self._rekor_requests = (source.rekor.requests, source.rekor.retries)
        self._http = (source.store.http.stats.requests, source.store.http.stats.retries)
        self.checkpoints = EntryCheckpoints(consistency_prover(source.rekor))
        #: What the checkpoints of the log's copies showed about the log's history.
        self._log_faults: list[Finding] = []
        #: Packages fetched side by side share key files, and a file is fetched once.
        self._file_locks = _FileLocks()
        #: key file hash -> the SHA-256 of the SPKI it holds, for every key file on record.
        self._key_spki: dict[str, str] = {}

    def run(self) -> CrawlSummary:
        try:
            self._keysets()
            self._list(self._key_names())
            self._packages()
            self.summary.complete = self.summary.incomplete_reason is None
        except IncompleteError as error:
            self.summary.fail(error.diagnostics())
        finally:
            self._count_requests()
            self.summary.findings = self._findings()
        return self.summary

    # -- fetching, remembered -----------------------------------------------------------------

    def _link(self, link_type: LinkType, source: str, *,
              fresh: bool = False) -> tuple[str, ...] | None:
        """A link's targets; stored ones are not fetched again unless `fresh` (lists grow)."""
        if not fresh:
            with self.job.sessions() as session:
                stored = publisher.stored_link(session, self.index, link_type, source)
            if stored is not None:
                return stored
        targets = self.store.link(link_type, source)
        with self.job.sessions.begin() as session:
            publisher.save_link(session, self.index, link_type, source, targets)
        return targets

    def _file(self, sha256: str, wanted_by: str) -> Served:
        """A file's bytes, fetched once (files are immutable); altered bytes are recorded and
        never used; an absent file is asked for again next time."""
        with self._file_locks.holding(sha256):
            return self._file_once(sha256, wanted_by)

    def _file_once(self, sha256: str, wanted_by: str) -> Served:
        with self.job.sessions() as session:
            content = publisher.file_content(session, sha256)
        if content is not None:
            return Served(content=content)
        served = self.store.file(sha256)
        if not served.missing:
            with self.job.sessions.begin() as session:
                publisher.save_file(session, sha256, content=served.content,
                                    altered=served.altered, store=self.store.files_url,
                                    wanted_by=wanted_by)
        return served

    # -- keys ---------------------------------------------------------------------------------

    def _keysets(self) -> None:
        """List each configured keyset's keys (22) and read their key files."""
        for keyset in self.source.keysets:
            listed = self._link(LinkType.KEYS_FOR_KEYSET, keyset, fresh=True)
            if listed is None:
                # Oak reads a missing link as an empty list, but a keyset named in the
                # configuration and gone from the index compares nothing: not a clean run.
                self.summary.fail(f"keyset {typed(keyset)} is not in the publisher's index "
                                  "(its link 22 does not exist): its keys cannot be compared "
                                  "with the pinned ones")
                continue
            with self.job.sessions() as session:
                known = {k.key_file_sha256 for k in publisher.keys(session, self.index)
                         if k.spki_sha256 is not None}
            for key_file in listed:
                if key_file not in known:
                    self._read_key(key_file, f"link 22 of {typed(keyset)}", "keyset")

    def _read_key(self, key_file: str, wanted_by: str, learned: str, *,
                  probe: bool = False) -> StoredKey | None:
        """Read a key file and record what key it is; a `probe` (a name we guessed) that the
        store does not serve is no key of the publisher's (None)."""
        served = self._file(key_file, wanted_by)
        if served.missing and probe:
            return None
        if served.content is None:
            why = "the store does not serve it" if served.missing else \
                f"the store served altered bytes ({served.altered})"
            key = StoredKey(key_file, None, None, learned, why)
        else:
            try:
                parsed = load_one_key(served.content, source=f"key file {typed(key_file)}")
            except InputError as error:
                key = StoredKey(key_file, None, None, learned, error.diagnostics())
            else:
                form = key_form(served.content, parsed)
                key = StoredKey(key_file, parsed.key_id.hex(), form, learned,
                                f"{form or 'unrecognised'} form, named by {wanted_by}")
        with self.job.sessions.begin() as session:
            publisher.save_key(session, self.index, key)
        return key

    def _key_names(self) -> list[tuple[str, list[str]]]:
        """(component, key file hashes) for every pinned key the publisher's names are known of.

        A key not yet named is learned (from a known endorsement, or by finding its file), or
        named in the form learned from another key; a key that cannot be named leaves the
        crawl incomplete (its endorsements cannot be listed).
        """
        pinned = self.job.keyset.all_keys()
        with self.job.sessions() as session:
            # A keyset's key file says which keys a keyset holds, not what the publisher lists
            # endorsements under: one in another encoding (DER where the lists are under PEM)
            # named no list, and its form named every other key's (all entries unpublished).
            stored = [k for k in publisher.keys(session, self.index) if k.learned != "keyset"]
        names: dict[str, list[str]] = {}
        for known in stored:
            if known.spki_sha256 is not None:
                names.setdefault(known.spki_sha256, []).append(known.key_file_sha256)
        form = next((k.form for k in stored if k.form is not None), None)
        unnamed = [key for _, key in pinned if key.key_id.hex() not in names]
        for key in unnamed:
            if key.key_id.hex() in names:
                continue
            for found in self._named(key, form):
                if found.spki_sha256 is not None:
                    names.setdefault(found.spki_sha256, []).append(found.key_file_sha256)
                form = form or found.form
        for key in unnamed:  # the form may have been learned from a later key
            if key.key_id.hex() not in names and form is not None:
                names[key.key_id.hex()] = [self._name_by_form(key, form).key_file_sha256]
        nameless = [key.key_id.hex() for _, key in pinned if key.key_id.hex() not in names]
        if nameless:
            self.summary.fail(
                f"the publisher's index names none of {counted(len(nameless), 'pinned key')} "
                f"(sha256:{', sha256:'.join(nameless[:3])}): no endorsement under them is "
                "listed and their key files are not in the store, so what the publisher "
                "published under them cannot be compared")
        return [(component, names[key.key_id.hex()]) for component, key in pinned
                if key.key_id.hex() in names]

    def _named(self, key: PublicKey, form: str | None) -> list[StoredKey]:
        """Learn the publisher's name for `key`: every key file read on the way is recorded.

        With the publisher's form known, the name is computed; else known endorsements signed
        by the key are followed to the key file (14 -> 16), else our encodings are looked for.
        """
        if form is not None:
            return [self._name_by_form(key, form)]
        found = []
        with self.job.sessions() as session:
            known = publisher.statements_signed_by(session, key.key_id.hex(), LEARN_FROM)
        for statement in known:
            read = self._follow(statement)
            found += [read] if read is not None else []
            if read is not None and read.spki_sha256 == key.key_id.hex():
                return found
        for name, encode in KEY_FORMS.items():
            digest = hashlib.sha256(encode(key)).hexdigest()
            read = self._read_key(digest, f"the {name} form of a pinned key", "file", probe=True)
            found += [read] if read is not None else []
            if read is not None and read.spki_sha256 == key.key_id.hex():
                break
        return found

    def _follow(self, statement: str) -> StoredKey | None:
        """The key file an endorsement's signature links to (14, then 16), read."""
        signature = self._link(LinkType.SIGNATURE, statement) or ()
        key_file = self._link(LinkType.PUBLIC_KEY, signature[0]) or () if signature else ()
        if not key_file:
            return None
        return self._read_key(key_file[0], f"link 16 of {typed(signature[0])}", "signature")

    def _name_by_form(self, key: PublicKey, form: str) -> StoredKey:
        digest = hashlib.sha256(KEY_FORMS[form](key)).hexdigest()
        named = StoredKey(digest, key.key_id.hex(), form, "form",
                          f"the publisher's {form} form of a pinned key")
        with self.job.sessions.begin() as session:
            publisher.save_key(session, self.index, named)
        return named

    # -- listing ------------------------------------------------------------------------------

    def _list(self, names: list[tuple[str, list[str]]]) -> None:
        """Fetch every pinned key's endorsement list (21) and record the packages it names."""
        for done, (component, key_files) in enumerate(names):
            self.job.progress("listing the publisher's endorsements", done, len(names))
            for key_file in key_files:
                listed = self._link(LinkType.ENDORSEMENTS_FOR_KEY, key_file, fresh=True) or ()
                # A line listed twice is one endorsement (Oak's links never repeat one).
                self.summary.discovered += len(set(listed))
                with self.job.sessions.begin() as session:
                    publisher.list_packages(session, self.index, listed, key_file, component)

    # -- packages -----------------------------------------------------------------------------

    def _packages(self) -> None:
        with self.job.sessions() as session:
            pending = publisher.pending_packages(session, self.index)
            self._key_spki = {k.key_file_sha256: k.spki_sha256
                              for k in publisher.keys(session, self.index)
                              if k.spki_sha256 is not None}
        fetched = prefetched(lambda package: self._pieces(
            package.endorsement_sha256, package.key_file_sha256, fresh=package.incomplete),
            pending, ahead=PACKAGES_AHEAD)
        with contextlib.closing(fetched):  # ended early: the fetches ahead are not waited for
            for done, (package, pieces) in enumerate(zip(pending, fetched, strict=True)):
                self.job.progress("loading published packages", done, len(pending))
                self._package(package, pieces)

    def _package(self, package: publisher.PendingPackage, pieces: _Pieces) -> None:
        package_id, endorsement, component = package.id, package.endorsement_sha256, \
            package.component
        if pieces.missing or pieces.altered:  # tried again next run
            with self.job.sessions.begin() as session:
                row = publisher.package(session, package_id)
                row.missing = "; ".join(pieces.missing) or None
                _record_hashes(row, pieces)
            return
        self.files.known = {pieces.hashes[name]: content
                            for name, content in pieces.contents.items()}
        verification, receipt = self._verify(pieces, component)
        log = self._log_answer(receipt, component) if receipt is not None else _LogAnswer()
        with self.job.sessions.begin() as session:
            if log.prepared is not None:
                held = self._held_to_heads(session, log.prepared)
                if held is not log.prepared and log.answer == "same":
                    # The receipt is the log's copy: dated back alike.
                    verification = with_check(verification, held.verification.check("set"))
                log = dataclasses.replace(log, prepared=held)
                self._judge_checkpoint(session, held)
            logged = self.ingest.store(session, log.prepared) if log.prepared else None
            row = publisher.package(session, package_id)
            _record_hashes(row, pieces)
            row.pending, row.missing, row.verified_at = False, None, now()
            row.checks = json.dumps([c.to_json() for c in verification.checks])
            row.ok = verification.ok
            row.receipt_uuid = receipt.uuid if receipt else None
            row.log_answer, row.log_detail = log.answer, log.detail
            if logged is not None and log.answer == "same":
                row.endorsement_pk = logged.endorsement_id
            elif "rekor" not in pieces.contents:
                row.endorsement_pk = self._store_unlogged(session, verification, pieces,
                                                          component, endorsement)
        self.summary.new += 1
        if verification.ok and log.answer in (None, "same"):
            self.summary.verified += 1
        else:
            self.summary.failed += 1

    def _pieces(self, endorsement: str, key_file: str, *, fresh: bool) -> _Pieces:
        """Every file of a package; what it lacks and whether a file was altered.

        A package's links are read once and remembered, but those of a package found
        incomplete are read again (`fresh`): a link that listed two signatures or the wrong
        key would otherwise keep it incomplete after the index is mended.
        """
        pieces = _Pieces(fresh=fresh)
        listed = f"link 21 of {typed(key_file)}"
        self._piece(pieces, "statement", endorsement, listed)
        if "statement" not in pieces.contents:
            # Nothing to verify: its links are not asked for (a list padded with hashes of
            # nothing costs one request each per run, not five).
            return pieces
        signature = self._single(pieces, LinkType.SIGNATURE, endorsement, required=True)
        if signature is not None:
            self._piece(pieces, "signature", signature, f"link 14 of {typed(endorsement)}")
            key = self._single(pieces, LinkType.PUBLIC_KEY, signature, required=True)
            if key is not None:
                self._piece(pieces, "public key", key, f"link 16 of {typed(signature)}")
                self._listed_key(pieces, signature, key_file)
        for name, link in (("rekor", LinkType.REKOR_ENTRY), ("tlog-proof", LinkType.TLOG_PROOF),
                           ("pes", LinkType.PES_CONFIRMATION)):
            receipt = self._single(pieces, link, endorsement, required=False)
            if receipt is not None:
                self._piece(pieces, name, receipt, f"link {int(link)} of {typed(endorsement)}")
        return pieces

    def _single(self, pieces: _Pieces, link: LinkType, source: str, *,
                required: bool) -> str | None:
        targets = self._link(link, source, fresh=pieces.fresh) or ()
        if len(targets) == 1:
            return targets[0]
        if targets:
            pieces.missing.append(f"link {int(link)} of {typed(source)} lists {len(targets)} "
                                  "files where a package has one")
        elif required:
            pieces.missing.append(f"link {int(link)} of {typed(source)} does not exist")
        return None

    def _listed_key(self, pieces: _Pieces, signature: str, listed_under: str) -> None:
        """The key file a package's signature links to (16) must hold the key whose list (21)
        names the package: one naming another key sends whoever verifies from the store to the
        wrong key, so the package cannot be verified from the store (like a missing piece)."""
        key_file, content = pieces.hashes["public key"], pieces.contents.get("public key")
        if content is None or key_file == listed_under:
            return
        where = f"key file {typed(key_file)}"
        try:
            spki = load_one_key(content, source=where).key_id.hex()
        except InputError:
            why = "which is not a public key"
        else:
            if spki == self._key_spki.get(listed_under):
                return  # the same key in another form
            why = f"whose key sha256:{spki} is not the key the package is listed under"
        pieces.missing.append(f"link 16 of {typed(signature)} names {where}, {why}")

    def _piece(self, pieces: _Pieces, name: str, sha256: str, wanted_by: str) -> None:
        pieces.hashes[name] = sha256
        served = self._file(sha256, wanted_by)
        if served.content is not None:
            pieces.contents[name] = served.content
        elif served.missing:
            pieces.missing.append(f"the store does not serve its {name} {typed(sha256)} "
                                  f"(named by {wanted_by})")
        else:
            pieces.altered = True

    def _verify(self, pieces: _Pieces,
                component: str | None) -> tuple[Verification, LogEntry | None]:
        """The package's named checks: its Rekor receipt's with the statement and detached
        signature beside it, or the unlogged ones. C2SP and PES receipts are stored with the
        package; their checks are the receipts work's (not in this build)."""
        keyset = self.job.keyset
        material = EndorsementMaterial(artifact=pieces.contents["statement"],
                                       signature=pieces.contents["signature"],
                                       endorser_keys=keyset.keys_for(component),
                                       required_claims=keyset.claims_for(component))
        receipt = None
        document = pieces.contents.get("rekor")
        if document is None:
            verification = verify_unlogged(material)
        else:
            where = f"published Rekor entry {typed(pieces.hashes['rekor'])}"
            try:
                receipt = parse_entry_document(loads(document, where), source=where)
            except InputError as error:
                return Verification((failed("body", error.diagnostics()),), None), None
            verification = verify_entry(receipt, self.source.keyring, material)
        subject = self._subject(verification)
        return (with_inline_subject(verification, subject) if subject else verification), receipt

    def _subject(self, verification: Verification) -> bytes | None:
        """The inline subject the statement names, if the store holds it."""
        digest = subject_digest(verification)
        return self.files.fetch(digest) if digest else None

    def _log_answer(self, published: LogEntry, component: str | None) -> _LogAnswer:
        """What the log returns for the UUID the receipt names, compared with the receipt."""
        uuid = published.uuid or ""
        try:
            served = self.source.rekor.entry_by_uuid(uuid)
        except MalformedResponseError as error:
            return _LogAnswer("malformed", error.diagnostics())
        if served is None:
            return _LogAnswer("absent", f"{self.source.rekor.base_url} has no entry {uuid}")
        prepared = self.ingest.prepare(Fetched(served.entry, served.raw, "rekor-v1",
                                               f"{self.source.rekor.base_url} {served.uuid}",
                                               component))
        differences = _differences(published, served.entry)
        if differences:
            return _LogAnswer("different", "; ".join(differences), prepared)
        return _LogAnswer("same", f"{self.source.rekor.base_url} returns the same entry",
                          prepared)

    def _held_to_heads(self, session: Session, prepared: Prepared) -> Prepared:
        """The log's copy, its `set` check failed if the log dated it before a head it served
        without it (see `crawl.signed_time`): a receipt dated back with it says the same."""
        key = prepared.verification.log_key
        if key is None:
            return prepared
        log = log_row(session, prepared.fetched.entry.log_id, key)
        held, fault = held_to_heads(session, log, prepared)
        if fault is not None:
            self._log_faults.append(fault)
        return held

    def _judge_checkpoint(self, session: Session, prepared: Prepared) -> None:
        """The log's copy names a checkpoint: held against the log's stored history before it
        is stored, as every crawled entry's is."""
        key = prepared.verification.log_key
        if key is not None:
            log = log_row(session, prepared.fetched.entry.log_id, key)
            self._log_faults += self.checkpoints.judge(session, log, prepared.verification)

    def _store_unlogged(self, session: Session, verification: Verification, pieces: _Pieces,
                        component: str | None, endorsement: str) -> int | None:
        """A package without a Rekor receipt is stored as the unlogged endorsement it is."""
        record = EndorsementRecord(component, pieces.contents["statement"],
                                   pieces.contents["signature"], self._subject(verification),
                                   provenance(self.index, endorsement))
        return store_verification(session, verification, record,
                                  component=component).endorsement_id

    # -- the summary --------------------------------------------------------------------------

    def _count_requests(self) -> None:
        stats, rekor = self.store.http.stats, self.source.rekor
        self.summary.requests = (stats.requests - self._http[0]
                                 + rekor.requests - self._rekor_requests[0])
        self.summary.retries = (stats.retries - self._http[1]
                                + rekor.retries - self._rekor_requests[1])

    def _findings(self) -> list[Finding]:
        """The comparison over the whole store, and what the unlogged packages amount to."""
        from auditor.assessment import publication_findings, store_findings
        from auditor.store import views

        pinned = self.job.keyset.pinned_key_ids()
        with self.job.sessions() as session:
            found = list(publication_findings(session, pinned, self.source.keysets,
                                              self.source.expected_since))
            unlogged = views.endorsement_views(session,
                                               ids=publisher.unlogged_endorsements(session))
            found += [f for f in store_findings(unlogged, (), pinned)
                      if f.rule not in (RuleId.UNEXPECTED_ENDORSEMENT, RuleId.LEGACY_FORMAT)]
        return unique(self._log_faults + found)


@dataclass(frozen=True)
class _LogAnswer:
    """The log's copy of a published receipt's entry: same, different, absent, malformed."""

    answer: str | None = None
    detail: str | None = None
    #: The log's copy, verified and ready to store like any crawled entry.
    prepared: Prepared | None = None


def _record_hashes(row: models.PublishedPackage, pieces: _Pieces) -> None:
    row.signature_sha256 = pieces.hashes.get("signature")
    row.public_key_sha256 = pieces.hashes.get("public key")
    row.rekor_sha256 = pieces.hashes.get("rekor")
    row.tlog_proof_sha256 = pieces.hashes.get("tlog-proof")
    row.pes_sha256 = pieces.hashes.get("pes")


def _differences(published: LogEntry, served: LogEntry) -> list[str]:
    """Where the log's copy of an entry differs from the publisher's (proofs may differ:
    they are made at read time against different tree heads)."""
    fields = (("body", published.body_text, served.body_text),
              ("integratedTime", published.integrated_time, served.integrated_time),
              ("logIndex", published.log_index, served.log_index),
              ("logID", published.log_id.hex(), served.log_id.hex()))
    return [f"{name}: the receipt says {mine!r:.80}, the log {theirs!r:.80}"
            for name, mine, theirs in fields if mine != theirs]
