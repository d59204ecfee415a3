"""What is stored about an endorsement besides its entry: a light module, so that a worker
process verifying a crawl's entries (`auditor.verify_ahead`) can build one without
importing the database layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.verify.receipts import Receipt


@dataclass(frozen=True)
class EndorsementRecord:
    component: str | None
    statement: bytes | None
    signature: bytes | None
    subject: bytes | None
    source: str
    #: Every receipt that travelled with the endorsement (stored byte-exact, one row each).
    receipts: tuple[Receipt, ...] = ()
