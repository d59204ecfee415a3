"""An import item and its verification: what `audit import` verifies, in its own process or
in a worker (`auditor.verify_ahead`). No database code, so that a worker starts without it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from auditor.keyset import KeySet
from auditor.source.bundle import Bundle
from auditor.source.entry import LogEntry
from auditor.verify.body import BodyError, parse_body
from auditor.verify.bundle import verify_bundle
from auditor.verify.entry import EndorsementMaterial, Verification, verify_entry, verify_unlogged
from auditor.verify.receipts import Receipt, receipt_checks, with_receipt_checks
from auditor.verify.trust import LogKeyring


@dataclass(frozen=True)
class ImportItem:
    """One endorsement and/or log document to verify and store."""

    source: str
    component: str | None
    document: LogEntry | Bundle | None = None
    raw: bytes | None = None
    statement: bytes | None = None
    signature: bytes | None = None
    subject: bytes | None = None
    #: The tlog-proof and PES confirmation that travelled with the endorsement (its Rekor
    #: entry is `raw`).
    receipts: tuple[Receipt, ...] = ()


def _infer_component(item: ImportItem, keyset: KeySet) -> str | None:
    """A bare log entry belongs to the component whose pinned key signed it."""
    if item.component is not None or item.document is None:
        return item.component
    if isinstance(item.document, Bundle):
        if not item.document.entries:
            return None
        entry = item.document.entries[0]
    else:
        entry = item.document
    try:
        key = parse_body(entry.body).key
    except BodyError:
        return None
    return keyset.signer_component(key)[0]


def verify_item(item: ImportItem, keyring: LogKeyring, keyset: KeySet,
                at: datetime | None) -> tuple[str | None, list[Verification]]:
    component = _infer_component(item, keyset)
    material = EndorsementMaterial(
        artifact=item.statement, signature=item.signature, subject=item.subject,
        endorser_keys=keyset.keys_for(component), at=at,
        required_claims=keyset.claims_for(component),
    )
    if isinstance(item.document, Bundle):
        verifications = verify_bundle(item.document, keyring, material)
    elif isinstance(item.document, LogEntry):
        verifications = [verify_entry(item.document, keyring, material)]
    else:
        verifications = [verify_unlogged(material)]
    if not item.receipts:
        return component, verifications
    checks = receipt_checks(item.receipts, item.statement, material.endorser_keys,
                            keyset.receipt_trust(component))
    return component, [with_receipt_checks(v, checks) for v in verifications]


#: An item verified: its component and its verifications (a bundle may hold several).
Verified = tuple[str | None, list[Verification]]


@dataclass(frozen=True)
class ImportVerifier:
    """Verifies a batch of import items, here or in a worker (`auditor.verify_ahead.Task`:
    each item carries its own statement, so a copy verifies the same; no option)."""

    keyring: LogKeyring
    keyset: KeySet
    at: datetime | None
    portable: bool = True

    def verify_all(self, batch: list[ImportItem], option: bool = False) -> list[Verified]:
        return [verify_item(item, self.keyring, self.keyset, self.at) for item in batch]

    def packed(self, batch: list[ImportItem], option: bool) -> list[Verified]:
        return self.verify_all(batch, option)

    def unpacked(self, batch: list[ImportItem], packed: list[Verified]) -> list[Verified]:
        return packed
