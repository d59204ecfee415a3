"""Recognise a log document on disk: a Rekor v1 entry response or a Sigstore bundle."""

from __future__ import annotations

from pathlib import Path

from auditor.errors import InputError
from auditor.local_files import MAX_DOCUMENT_SIZE, open_input, read_at_most
from auditor.source.bundle import Bundle, is_bundle, parse_bundle
from auditor.source.entry import LogEntry
from auditor.source.json_input import loads
from auditor.source.rekor_v1 import parse_entry_document


def read_file(path: Path, max_size: int | None = MAX_DOCUMENT_SIZE) -> bytes:
    """A document, receipt or key from disk (bounded, never blocking: auditor.local_files)."""
    try:
        with open_input(path) as handle:
            data = read_at_most(handle, max_size)
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from None
    if data is None:
        raise InputError(f"{path}: larger than {max_size} bytes, too large for a log entry, "
                         "bundle, receipt, key or Endorsements message")
    return data


def parse_log_document(raw: bytes, *, source: str) -> LogEntry | Bundle:
    document = loads(raw, source)
    if is_bundle(document):
        return parse_bundle(document, source=source)
    if isinstance(document, dict) and "media_type" in document:
        # protobuf JSON lets a writer use the proto field names; bundles are read in the JSON
        # names sigstore writes, never both (a key in each spelling would be two answers).
        raise InputError(f"{source}: a Sigstore bundle in protobuf field names (media_type, "
                          "verification_material): give it in its JSON names (mediaType, "
                          "verificationMaterial), as sigstore writes it")
    return parse_entry_document(document, source=source)
