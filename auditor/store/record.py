"""What is stored about an endorsement besides its entry: a light module, so that a worker
process verifying a crawl's entries (`auditor.verify_ahead`) can build one without
importing the database layer."""

from __future__ import annotations

import hashlib
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

    @property
    def statement_sha256(self) -> str | None:
        """The statement's SHA-256 hex; None only without a statement (an empty one has a
        hash: a key can sign the empty file)."""
        return None if self.statement is None else hashlib.sha256(self.statement).hexdigest()
