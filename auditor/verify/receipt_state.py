"""Which receipts an endorsement carries, and what its stored checks say about each.

Apart from auditor.verify.receipts (which verifies receipts) so that reading stored results
(the store's read models, reports, queries) does not load the verifiers and their libraries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from auditor.verify.check_names import LOG_CHECKS, TLOG_PROOF_CHECKS, CheckName


class ReceiptKind(StrEnum):
    """Which receipt: the SignedEndorsement field it travels in."""

    REKOR = "rekor"
    C2SP = "c2sp"
    PES = "pes"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS: dict[str, str] = {ReceiptKind.REKOR: "Rekor entry", ReceiptKind.C2SP: "C2SP tlog-proof",
                          ReceiptKind.PES: "PES confirmation"}


def logged_by(kinds: Iterable[str]) -> str:
    """The receipts besides a Rekor entry, by name: "C2SP tlog-proof, PES confirmation"."""
    return ", ".join(_LABELS.get(kind, kind) for kind in kinds if kind != ReceiptKind.REKOR)


#: The named checks that decide each receipt (a Rekor entry: the log checks of its entry).
CHECKS_OF: dict[ReceiptKind, tuple[str, ...]] = {
    ReceiptKind.REKOR: (*LOG_CHECKS, CheckName.BODY_SIGNATURE),
    ReceiptKind.C2SP: TLOG_PROOF_CHECKS,
    ReceiptKind.PES: (CheckName.PES_CONFIRMATION,),
}


class ReceiptState(StrEnum):
    VALID = "valid"
    #: Carried, and a check of it failed.
    INVALID = "invalid"
    #: Carried, but not verified (no trust configured for its kind when it was checked).
    UNVERIFIED = "unverified"
    MISSING = "missing"


def receipt_state(kind: ReceiptKind, carried: bool,
                  checks: Sequence[tuple[str, bool | None, str]]) -> tuple[ReceiptState, str]:
    """What `checks` (a verification's: name, ok, detail) say about the receipt of `kind`,
    with the deciding check's detail."""
    if not carried:
        return ReceiptState.MISSING, f"no {kind.label}"
    own = [(name, ok, detail) for name, ok, detail in checks if name in CHECKS_OF[kind]]
    bad = next(((name, detail) for name, ok, detail in own if ok is False), None)
    if bad is not None:
        return ReceiptState.INVALID, f"{kind.label}: {bad[0]} failed: {bad[1]}"
    # A Rekor entry's checks may legitimately skip (no SET in a bundle); the others must pass.
    if kind is not ReceiptKind.REKOR and (not own or any(ok is None for _, ok, _ in own)):
        unverified = next((detail for _, ok, detail in own if ok is None), "not checked")
        return ReceiptState.UNVERIFIED, f"{kind.label} not verified: {unverified}"
    return ReceiptState.VALID, f"{kind.label} verifies"
