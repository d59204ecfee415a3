"""The statement-source seam: content-addressed bytes by SHA-256.

Statements and inline subjects are not in Rekor; publishers keep them in content-addressed
storage (Oak's `oak-files` bucket names each file `sha2-256:<hex>`). A source returns the bytes
whose SHA-256 is asked for, None when it does not hold them, and raises `IncompleteError` when
it cannot answer at all (after its retries): an outage makes the run incomplete, never "clean".
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def is_sha256_hex(name: str) -> bool:
    """Whether `name` is a SHA-256 in lower-case hex: the only names a source is asked for
    (a hostile statement's subject digest must not become a path or a URL)."""
    return _SHA256_HEX.fullmatch(name) is not None


class StatementSource(ABC):
    #: Where the bytes come from, for diagnostics and provenance.
    name: str = ""

    @abstractmethod
    def fetch(self, sha256_hex: str) -> bytes | None:
        """The bytes whose SHA-256 is `sha256_hex`, or None when the source does not hold them.

        Bytes that do not hash to the name are never returned (`mismatches` counts them).
        """

    #: Files served whose bytes did not hash to their name (sha256 hex names).
    mismatches: list[str]
    #: Whether a copy in another process answers the same (a crawl's worker process asks its
    #: copy; see auditor.verify_ahead).
    portable: bool = False

    def __init__(self) -> None:
        self.mismatches = []

    def fetch_ahead(self, sha256_hexes: Iterable[str]) -> None:  # noqa: B027 (optional)
        """Those the next `fetch` calls will ask for (a batch's statements, or their inline
        subjects): a remote source fetches them at once; a local one gains nothing by it."""

    def close(self) -> None:  # noqa: B027 (optional)
        """Release what the source holds (connections, threads)."""
