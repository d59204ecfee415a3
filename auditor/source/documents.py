"""Recognise a log document on disk: a Rekor v1 entry response or a Sigstore bundle."""

from __future__ import annotations

from pathlib import Path

from auditor.errors import InputError
from auditor.source.bundle import Bundle, is_bundle, parse_bundle
from auditor.source.entry import LogEntry
from auditor.source.json_input import loads
from auditor.source.rekor_v1 import parse_entry_document


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from None


def parse_log_document(raw: bytes, *, source: str) -> LogEntry | Bundle:
    document = loads(raw, source)
    if is_bundle(document):
        return parse_bundle(document, source=source)
    return parse_entry_document(document, source=source)
