"""`audit import`: load log documents and Oak endorsements from files, verify, store.

Recognised inputs: a Rekor v1 entry JSON; a Sigstore bundle; a component directory (holding
`endorsement.json`, `endorsement.json.sig`, optional `logentry.json` and `subject.bin`, named
like Oak's `components/<component>/`); an Oak `Endorsements` message in binary or text
protobuf, whose endorsements keep every receipt they carry (Rekor entry, C2SP tlog-proof, PES
confirmation). A directory is searched for all of these. Each input is verified and stored on
its own: a malformed file is reported with its path and the rest of the batch still imports.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from auditor.crawl.heap import fewer_collections
from auditor.errors import InputError
from auditor.import_item import ImportItem, ImportVerifier, Verified
from auditor.keyset import KeySet
from auditor.local_files import path_name
from auditor.source.bundle import Bundle
from auditor.source.documents import parse_log_document, read_file
from auditor.source.entry import LogEntry
from auditor.store.record import EndorsementRecord
from auditor.store.repository import (
    Storable,
    StoredItem,
    failed_served_check,
    served_failures,
    store_component_keys,
    store_verifications,
    unsigned_entries,
)
from auditor.verify.entry import Verification
from auditor.verify.receipt_state import ReceiptKind
from auditor.verify.receipts import Receipt
from auditor.verify.trust import LogKeyring
from auditor.verify_ahead import VerifyAhead

#: Items verified and stored per transaction.
IMPORT_BATCH = 200
_ENDORSEMENT_MESSAGES = ("endorsements.binarypb", "endorsements.textproto", "endorsements.pb",
                         "endorsements.txtpb")


@dataclass(frozen=True)
class ImportedItem:
    source: str
    component: str | None
    verification: Verification
    new: bool


@dataclass
class ImportReport:
    #: Every item imported, unless they were handed to a caller's `each` as they were stored.
    imported: list[ImportedItem] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    #: Items imported, those that were new, and (source, failed check names) of those whose
    #: checks failed: what a summary says, kept however many items there were.
    count: int = 0
    new: int = 0
    failed: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def add(self, item: ImportedItem) -> None:
        self.count += 1
        self.new += item.new
        if not item.verification.ok:
            self.failed.append((item.source, tuple(c.name for c in item.verification.failures)))


def _optional(path: Path) -> bytes | None:
    return read_file(path) if path.exists() else None


def component_directory(path: Path) -> ImportItem:
    """Oak's exploded layout: `components/<component>/endorsement.json` and friends."""
    entry_raw = _optional(path / "logentry.json")
    source = path_name(path)
    return ImportItem(
        source=source,
        component=path_name(path.name) if path.parent.name == "components" else None,
        document=parse_log_document(entry_raw, source=path_name(path / "logentry.json"))
        if entry_raw is not None else None,
        raw=entry_raw,
        statement=read_file(path / "endorsement.json"),
        signature=_optional(path / "endorsement.json.sig"),
        subject=_optional(path / "subject.bin"),
    )


def endorsements_message(path: Path) -> list[ImportItem | InputError]:
    """The endorsements of an Oak `Endorsements` message; one whose Rekor entry is malformed is
    its own error, not the message's (the rest of a release set was dropped with it)."""
    from auditor.oak.messages import read_endorsements

    data = read_file(path)
    if path.suffix in _TEXT_SUFFIXES:
        _require_text(data, path)
    components = read_endorsements(data)
    if not components:
        # Blank text (or one of whitespace, such as vertical tabs) parses as an empty message,
        # as does one holding only a platform Variant: it was "imported 0 items", exit 0.
        raise InputError(f"{path}: an Endorsements message holding no endorsement")
    items: list[ImportItem | InputError] = []
    for component in components:
        source = f"{path_name(path)}#{component.component}"
        raw = component.rekor_log_entry
        carried = ((ReceiptKind.C2SP, component.c2sp_tlog_proof),
                   (ReceiptKind.PES, component.pes_confirmation))
        try:
            document = parse_log_document(raw, source=source) if raw else None
        except InputError as error:
            items.append(error)
            continue
        items.append(ImportItem(
            source=source,
            component=component.component,
            document=document,
            raw=raw,
            statement=component.statement,
            # proto3 cannot tell an absent signature from an empty one: absent it is (a
            # file's empty signature, by contrast, is checked as given).
            signature=component.signature or None,
            subject=component.subject,
            receipts=tuple(Receipt(kind, data) for kind, data in carried if data is not None),
        ))
    return items


_TEXT_SUFFIXES = (".textproto", ".txtpb")


def _require_text(data: bytes, path: Path) -> None:
    """A file named as protobuf text format must be text: say so, not "malformed binary"."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or any(ch < " " and ch not in "\t\n\r" for ch in text):
        raise InputError(f"{path}: not protobuf text format (the file holds binary data; a "
                         "binary Endorsements message is named .binarypb)")


def log_document(path: Path) -> ImportItem:
    raw = read_file(path)
    source = path_name(path)
    return ImportItem(source=source, component=None,
                      document=parse_log_document(raw, source=source), raw=raw)


def _is_endorsements_message(path: Path) -> bool:
    return path.name in _ENDORSEMENT_MESSAGES or path.suffix in (".binarypb", ".textproto")


def items_for(path: Path) -> Iterator[ImportItem | InputError]:
    """Everything importable at `path`, and why a part of it is not. Raises InputError for a
    file that is not."""
    if path.is_dir():
        if (path / "endorsement.json").is_file():
            yield component_directory(path)
            return
        raise InputError(f"{path}: a directory is expanded by importable, not read")
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if _is_endorsements_message(path):
        yield from endorsements_message(path)
    else:
        yield log_document(path)


def importable(paths: list[Path]) -> Iterator[Path]:
    """What an import takes from `paths`: directories become their component directories,
    Endorsements messages and JSON docs. Found as they are taken (a list of 100,000 paths held
    32 MB, 318 bytes each, through an import)."""
    for path in paths:
        if not path.is_dir() or (path / "endorsement.json").is_file():
            yield path
        else:
            yield from _importable_under(path)


def _importable_under(directory: Path) -> Iterator[Path]:
    """What `importable` takes from everything below `directory`, in the order of its sorted
    paths (`sorted(directory.rglob("*"))`: depth first, each directory's names sorted).
    Iterative, with a listing per directory being walked: a tree nested a thousand deep (an
    archive holds one as easily as a file) exhausted Python's recursion limit."""
    pending = [_listing(directory)]
    while pending:
        item = next(pending[-1], None)
        if item is None:
            pending.pop()
            continue
        path, taken, descend = item
        if taken:
            yield path
        if descend:
            pending.append(_listing(path))


#: What a directory entry is, as `os.scandir` knew it (most without a `stat` call).
_DIRECTORY, _LINK, _FILE = 1, 2, 4


def _kind(entry: os.DirEntry[str]) -> int:
    try:
        return (_DIRECTORY * entry.is_dir()) | (_LINK * entry.is_symlink()) \
            | (_FILE * entry.is_file())
    except OSError:  # its type cannot be read (a link into a directory we may not search)
        return 0  # passed over, as rglob passes it over


def _listing(directory: Path) -> Iterator[tuple[Path, bool, bool]]:
    """(path, importable, to descend into) of each entry of `directory`, by name. Listed with
    `os.scandir`, whose entries know their type: a directory of 20,000 component directories was
    4 `stat` calls per file through pathlib (a tenth of an import's CPU). Held while the
    directory is walked as its sorted names in one string with a byte each for their kind:
    sorted DirEntry objects took 207 bytes each, 20 MB through the import of a directory of
    100,000 component directories."""
    try:
        with os.scandir(directory) as listing:
            kinds = {entry.name: _kind(entry) for entry in listing}
    except OSError:
        return  # unreadable, as rglob passes it over
    names = sorted(kinds)
    each_kind = bytes(kinds[name] for name in names)
    component = kinds.get("endorsement.json", 0) & _FILE
    joined = "\0".join(names)  # no file name holds a NUL
    del kinds, names
    start = 0
    for kind in each_kind:
        end = joined.find("\0", start)
        name = joined[start:] if end < 0 else joined[start:end]
        start = end + 1
        path = directory / name
        if kind & _DIRECTORY:
            # rglob does not descend into linked directories
            yield path, (path / "endorsement.json").is_file(), not kind & _LINK
        elif kind & _FILE and not component and (
                name in _ENDORSEMENT_MESSAGES or name.endswith(".sigstore.json")
                or name.endswith(".sigstore") or name == "logentry.json"):
            yield path, True, False


def _raw_format(item: ImportItem) -> str:
    return "sigstore-bundle" if isinstance(item.document, Bundle) else "rekor-v1"


def store_items(session: Session, items: Sequence[ImportItem],
                verified: Sequence[Verified]) -> list[ImportedItem]:
    """Store verified `items` in the caller's transaction."""
    stored_items: list[tuple[ImportItem, str | None, Storable]] = []
    for item, (component, verifications) in zip(items, verified, strict=True):
        # An Oak endorsement's Rekor entry is one of its receipts, kept byte-exact beside the
        # others.
        rekor = (Receipt(ReceiptKind.REKOR, item.raw),) \
            if item.raw is not None and item.statement is not None \
            and isinstance(item.document, LogEntry) else ()
        record = EndorsementRecord(component, item.statement, item.signature, item.subject,
                                   item.source, rekor + item.receipts)
        stored_items.extend((item, component, Storable(v, record, item.raw, _raw_format(item),
                                                       v.log_key, component))
                            for v in verifications)
    storables = [storable for _, _, storable in stored_items]
    stored = _mended(session, storables, store_verifications(session, storables))
    return [ImportedItem(item.source, component, storable.verification, result.verification_stored)
            for (item, component, storable), result in zip(stored_items, stored, strict=True)]


def _mended(session: Session, storables: list[Storable],
            stored: list[StoredItem]) -> list[StoredItem]:
    """`stored`, with the entries a fresh copy mends stored again. A stored entry whose proof,
    checkpoint or SET failed, imported again with ones that verify, is verified now (as a
    crawl's recheck does): the import said so, and the store kept the failure. So is one stored
    without a SET (a bundle without its promise) when the copy's SET verifies: it signs the
    index and time the store held unsigned."""
    fresh = [i for i, (storable, result) in enumerate(zip(storables, stored, strict=True))
             if not result.verification_stored and result.entry_id is not None
             and not failed_served_check(storable.verification)]
    broken = served_failures(session, [stored[i].entry_id or 0 for i in fresh])
    signed = {i for i in fresh if storables[i].verification.set_verified}
    unsigned = unsigned_entries(session, [stored[i].entry_id or 0 for i in signed])
    again = [i for i in fresh if stored[i].entry_id in broken
             or (i in signed and stored[i].entry_id in unsigned)]
    if not again:
        return stored
    results = store_verifications(session, [storables[i] for i in again], again=True)
    mended = list(stored)
    for i, result in zip(again, results, strict=True):
        mended[i] = result
    return mended


def record_keys(sessions: sessionmaker[Session], keyset: KeySet) -> None:
    with sessions.begin() as session:
        for name, spec in keyset.components.items():
            store_component_keys(session, name, [
                (k.spki_der, ", ".join(spec.key_sources[k.spki_der]))
                for k in spec.keys])


def import_paths(sessions: sessionmaker[Session], paths: list[Path], keyring: LogKeyring,
                 keyset: KeySet, at: datetime | None = None, *,
                 each: Callable[[ImportedItem], None] | None = None) -> ImportReport:
    """Verify and store everything at `paths`, a batch per transaction. Each item imported is
    handed to `each` once stored, or else kept in the report: a large directory's import,
    handed on, holds one batch at a time."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(f"{', '.join(missing)}: no such file or directory")
    verifying: VerifyAhead[ImportItem, Verified] = VerifyAhead(ImportVerifier(keyring, keyset, at))
    rest = importable(paths)
    # As many paths as it takes to know whether a worker pays (see below), found first.
    head = list(itertools.islice(rest, verifying.worker_from))
    if not head:
        raise InputError(f"nothing to import in {', '.join(str(p) for p in paths)}: no log "
                         "entries, bundles, component directories or Endorsements messages")
    report = ImportReport()
    record_keys(sessions, keyset)
    # A large import verifies its next batch in a worker process while it stores this one.
    verifying.expect(len(head))
    # Fewer collections (see auditor.crawl.heap): what the worker sends back is unpickled here,
    # a few hundred objects per item, which CPython's collector would scan again and again.
    with fewer_collections():
        _import_all(sessions, itertools.chain(head, rest), verifying, report, each)
    return report


def _import_all(sessions: sessionmaker[Session], expanded: Iterable[Path],
                verifying: VerifyAhead[ImportItem, Verified], report: ImportReport,
                each: Callable[[ImportedItem], None] | None) -> None:
    try:
        batch: list[ImportItem] = []
        for path in expanded:
            try:
                items = list(items_for(path))
            except InputError as error:
                items = [error]
            for item in items:
                if isinstance(item, InputError):
                    _unreadable(report, path, item)
                else:
                    batch.append(item)
            if len(batch) >= IMPORT_BATCH:
                verifying.submit(batch, functools.partial(_store_batch, sessions, batch, report,
                                                          each))
                batch = []
        verifying.submit(batch, functools.partial(_store_batch, sessions, batch, report, each))
    finally:
        verifying.close()


def _unreadable(report: ImportReport, path: Path, error: InputError) -> None:
    # Named as stored: a path that is not UTF-8 (see path_name) is shown escaped.
    shown, reason = path_name(path), path_name(error.diagnostics())
    named = reason if shown in reason else f"{shown}: {reason}"
    report.errors.append((shown, named))


def _store_batch(sessions: sessionmaker[Session], items: list[ImportItem], report: ImportReport,
                 each: Callable[[ImportedItem], None] | None, verified: list[Verified]) -> None:
    # One transaction per batch: a failure leaves what earlier batches stored intact.
    if not items:
        return
    with sessions.begin() as session:
        imported = store_items(session, items, verified)
    for item in imported:
        report.add(item)
        if each is None:
            report.imported.append(item)
        else:
            each(item)
