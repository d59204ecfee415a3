"""The publisher's own endorsement index: Oak's content-addressed files and their link index.

Oak publishes every endorsement package into two stores (`tr/endorscope/storage.rs`, used by
`endorscope_cli`): **files**, `<files URL>/sha2-256:<hex>`, the bytes whose SHA-256 is the name
(statements, signatures, public keys, Rekor entries, receipts); and **links**, `<links URL>/<link
type>/sha2-256:<hex>`, newline-separated `sha2-256:` hashes of the files related to that one
(its signature, its key, the endorsements a key signed, ...). A link that does not exist is a
404, which Oak reads as an empty list. Public instance: the `oak-files` and `oak-index` buckets
under https://storage.googleapis.com.

This module is the layout (names, link types, the link format); `publisher_store` reads it.
"""

from __future__ import annotations

import re
from enum import IntEnum

from auditor.errors import InputError

PREFIX = "sha2-256:"
_TYPED = re.compile(r"sha2-256:[0-9a-f]{64}")
#: Provenance of what an index crawl stores (`EndorsementRecord.source`).
_PROVENANCE = "publisher index "


class LinkType(IntEnum):
    """Oak's link types (`tr/endorscope/storage.rs`; 31 and 32 as issue 14 gives them)."""

    ENDORSEMENTS_FOR_SUBJECT = 13
    SIGNATURE = 14  # of an endorsement
    REKOR_ENTRY = 15  # of an endorsement
    PUBLIC_KEY = 16  # of a signature
    ENDORSEMENTS_FOR_KEY = 21
    KEYS_FOR_KEYSET = 22
    TLOG_PROOF = 31  # C2SP tlog-proof of an endorsement
    PES_CONFIRMATION = 32  # of an endorsement
    ENDORSEMENTS_FOR_CLAIM = 36


def typed(sha256_hex: str) -> str:
    """`sha2-256:<hex>`, how Oak names a file."""
    return f"{PREFIX}{sha256_hex}"


def parse_typed_hash(text: str, where: str) -> str:
    """The hex of a `sha2-256:<64 lowercase hex>` name; InputError otherwise."""
    if _TYPED.fullmatch(text) is None:
        raise InputError(f"{where}: {text[:80]!r} is not a typed hash sha2-256:<64 hex>")
    return text[len(PREFIX):]


def parse_link(content: bytes, where: str) -> tuple[str, ...]:
    """The hashes a link lists (hex, in the order served), InputError for anything else.

    Oak writes links with a trailing newline or without (`echo "$hash"`, or a list joined by
    newlines) and reads them with `split_terminator("\\n")`: both forms are accepted, nothing
    else (no blank lines, no other text).
    """
    try:
        text = content.decode("ascii")
    except UnicodeDecodeError:
        raise InputError(f"{where}: not ASCII text") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return tuple(parse_typed_hash(line, f"{where} line {n}") for n, line in enumerate(lines, 1))


def provenance(links_url: str, endorsement_sha256: str) -> str:
    """How a stored endorsement names the index that published it."""
    return f"{_PROVENANCE}{links_url} {typed(endorsement_sha256)}"


def published_in(source: str | None) -> tuple[str, str] | None:
    """(links URL, package hash `sha2-256:<hex>`) of an endorsement an index crawl stored."""
    if source is None or not source.startswith(_PROVENANCE):
        return None
    url, _, package = source[len(_PROVENANCE):].rpartition(" ")
    return (url, package) if url and package.startswith(PREFIX) else None
