"""One fetched entry → one verification, before anything is stored.

For each entry: parse its body once, decide its component (the one whose pinned key signed it,
else the one under whose key the log listed it), fetch its statement and inline subject from
the statement source, and run every named check. Nothing here touches the database, so a
crawl can prepare its next batch in a worker process while it stores this one
(`auditor.verify_ahead`); this module and what it imports stay clear of the store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from auditor.source.interface import is_sha256_hex
from auditor.store.record import EndorsementRecord
from auditor.verify.body import BodyError, EntryBody, parse_body
from auditor.verify.entry import (
    EndorsementMaterial,
    Verification,
    verify_entry,
    with_inline_subject,
)

if TYPE_CHECKING:
    from auditor.keyset import KeySet
    from auditor.source.entry import LogEntry
    from auditor.source.interface import StatementSource
    from auditor.verify.trust import LogKeyring


@dataclass(frozen=True)
class Fetched:
    """An entry as a log served it: the document bytes to store, and its parsed fields."""

    entry: LogEntry
    raw: bytes
    raw_format: str
    #: Where it came from, for provenance (the log URL and the entry's UUID or index).
    origin: str
    #: The component under whose key the log listed it (None: found otherwise).
    listed_under: str | None = None
    #: When the auditor first saw it, for logs that record no integration time (Rekor v2):
    #: its statement's validity is judged then.
    seen_at: datetime | None = None


@dataclass(frozen=True)
class Prepared:
    """A verified entry ready to store."""

    fetched: Fetched
    component: str | None
    pinned: bool
    verification: Verification
    record: EndorsementRecord


#: A batch prepared in a worker, as sent back (see `Preparer.packed`).
Packed = tuple[list[tuple[int, str | None, bool, Verification, EndorsementRecord]], list[str]]


@dataclass
class Preparer:
    """Verifies fetched entries against the pinned keys, with their statements."""

    keyset: KeySet
    statements: StatementSource
    keyring: LogKeyring

    def signer(self, entry: LogEntry) -> tuple[EntryBody | None, str | None, bool]:
        """(body, component, pinned): the parsed body and the component its key belongs to."""
        try:
            body = parse_body(entry.body)
        except BodyError:
            return None, None, False
        component, pinned = self.keyset.signer_component(body.key)
        return body, component, pinned

    def prepare(self, fetched: Fetched, *, only_pinned: bool = False) -> Prepared | None:
        """Verify `fetched` with its statement; None when `only_pinned` and no component pins
        its key (a range scan keeps only what component keys signed)."""
        prepared = self.prepare_all([fetched], only_pinned=only_pinned)
        return prepared[0] if prepared else None

    def prepare_all(self, batch: list[Fetched], *, only_pinned: bool = False) -> list[Prepared]:
        """Each of `batch` prepared (see `prepare`), in order. The statements are asked of the
        source together, then the inline subjects they name: a remote store fetches them at
        once instead of one after the other."""
        signed = [(fetched, *self.signer(fetched.entry)) for fetched in batch]
        if only_pinned:
            signed = [item for item in signed if item[3]]  # (fetched, body, component, pinned)
        self.statements.fetch_ahead([body.digest.hex() for _, body, _, _ in signed if body])
        checked = [self._checked(*item) for item in signed]
        self.statements.fetch_ahead([d for c in checked if (d := subject_digest(c.verification))])
        return [self._prepared(c) for c in checked]

    def _checked(self, fetched: Fetched, body: EntryBody | None, component: str | None,
                 pinned: bool) -> _Checked:
        component = component or fetched.listed_under
        statement = self.statements.fetch(body.digest.hex()) if body is not None else None
        material = EndorsementMaterial(artifact=statement,
                                       endorser_keys=self.keyset.keys_for(component),
                                       at=fetched.seen_at, at_source="first seen",
                                       required_claims=self.keyset.claims_for(component))
        verification = verify_entry(fetched.entry, self.keyring, material, body=body)
        return _Checked(fetched, component, pinned, body, statement, verification)

    def _prepared(self, checked: _Checked) -> Prepared:
        verification, body, statement = checked.verification, checked.body, checked.statement
        digest = subject_digest(verification)
        subject = self.statements.fetch(digest) if digest else None
        if subject is not None:
            verification = with_inline_subject(verification, subject)
        record = EndorsementRecord(checked.component, statement,
                                   body.signature if body and statement else None, subject,
                                   checked.fetched.origin)
        return Prepared(checked.fetched, checked.component, checked.pinned, verification, record)

    # -- as a worker's task (auditor.verify_ahead.Task; the option is `only_pinned`) ---------

    @property
    def portable(self) -> bool:
        return self.statements.portable

    def verify_all(self, batch: list[Fetched], option: bool) -> list[Prepared]:
        return self.prepare_all(batch, only_pinned=option)

    def packed(self, batch: list[Fetched], option: bool) -> Packed:
        """Each prepared entry's place in the batch and what `Prepared` holds besides it (its
        verification without the entry: the crawl holds it, and it is most of the bytes), with
        the statement files that did not hash to their names."""
        self.statements.mismatches.clear()
        places = {id(fetched): at for at, fetched in enumerate(batch)}
        sent = [(places[id(p.fetched)], p.component, p.pinned, replace(p.verification, entry=None),
                 p.record) for p in self.prepare_all(batch, only_pinned=option)]
        return sent, list(self.statements.mismatches)

    def unpacked(self, batch: list[Fetched], packed: Packed) -> list[Prepared]:
        sent, mismatches = packed
        self.statements.mismatches.extend(mismatches)
        return [Prepared(batch[at], component, pinned,
                         replace(verification, entry=batch[at].entry), record)
                for at, component, pinned, verification, record in sent]


class _Checked(NamedTuple):
    """An entry verified with its statement, its inline subject still to fetch."""

    fetched: Fetched
    component: str | None
    pinned: bool
    body: EntryBody | None
    statement: bytes | None
    verification: Verification


def subject_digest(verification: Verification) -> str | None:
    """The SHA-256 the statement names its subject by, when it is one (the statement is the
    log's: anything else names no file)."""
    statement = verification.statement
    digest = statement.subject.digests.get("sha256") if statement and statement.subject \
        else None
    return digest if digest is not None and is_sha256_hex(digest) else None
