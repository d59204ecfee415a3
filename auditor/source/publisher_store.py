"""Reading the publisher's content-addressed store and link index over HTTP.

Nothing served is trusted: a file is used only when its bytes hash to its name, and a link
whose lines are not typed SHA-256 hashes is refused. Layout: `auditor.source.publisher_index`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from auditor.errors import IncompleteError, InputError
from auditor.http_client import HttpClient, ResponseTooLarge, Retryable
from auditor.source.publisher_index import PREFIX, LinkType, parse_link, typed

#: Package pieces are small (statements, signatures, keys, receipts, inline subjects).
MAX_FILE_BYTES = 1 << 20
#: A key's endorsement list: 73 bytes a line, so about 100,000 endorsements.
MAX_LINK_BYTES = 8 << 20


@dataclass(frozen=True)
class Served:
    """A file as the store answered: bytes that hash to the name, altered bytes, or a 404."""

    content: bytes | None = None
    #: What was served instead when the bytes do not hash to the name (never used): their
    #: `sha2-256:<hex>`, or their size when larger than any package piece.
    altered: str | None = None

    @property
    def missing(self) -> bool:
        return self.content is None and self.altered is None


class MalformedLinkError(IncompleteError):
    """A link the index served is not a list of typed hashes: the comparison cannot finish."""


class PublisherStore:
    """Reads files and links over the shared HTTP client (retries, rate limit, deadlines).

    A 5xx or a connection that keeps failing ends the crawl as incomplete (IncompleteError,
    exit 3): an outage never looks like an empty index.
    """

    def __init__(self, files_url: str, links_url: str, http: HttpClient) -> None:
        self.files_url = files_url.rstrip("/")
        self.links_url = links_url.rstrip("/")
        self.http = http

    def link(self, link_type: LinkType, source_sha256: str) -> tuple[str, ...] | None:
        """What `<links>/<type>/sha2-256:<source>` lists; None when it does not exist (404)."""
        url = f"{self.links_url}/{int(link_type)}/{typed(source_sha256)}"

        def decode(content: bytes, where: str) -> tuple[str, ...]:
            try:
                return parse_link(content, f"publisher index {where}")
            except InputError as error:
                if _cut(content):
                    raise Retryable("a link cut short") from None  # another attempt may be whole
                raise MalformedLinkError(str(error)) from None

        return self.http.call("GET", url, decode=decode, absent=True, max_bytes=MAX_LINK_BYTES)

    def file(self, sha256_hex: str) -> Served:
        """`<files>/sha2-256:<hex>`: its bytes only if they hash to the name."""
        try:
            content = self.http.get(f"{self.files_url}/{typed(sha256_hex)}",
                                    max_bytes=MAX_FILE_BYTES)
        except ResponseTooLarge:
            # No package piece is this large: what the store serves here is not the file.
            return Served(altered=f"over {MAX_FILE_BYTES} bytes")
        if content is None:
            return Served()
        served = hashlib.sha256(content).hexdigest()
        if served != sha256_hex:
            return Served(altered=typed(served))
        return Served(content=content)


def _cut(content: bytes) -> bool:
    """A body whose last line is the beginning of a typed hash: cut short in transit."""
    last = content.rsplit(b"\n", 1)[-1].decode("ascii", "replace")
    head, tail = last[:len(PREFIX)], last[len(PREFIX):]
    return 0 < len(last) < len(PREFIX) + 64 and PREFIX.startswith(head) and all(
        c in "0123456789abcdef" for c in tail)
