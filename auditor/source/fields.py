"""Reading typed fields out of hostile documents: every defect is an InputError naming where."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

from auditor.errors import InputError


def b64_field(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise InputError(f"{where}: missing or not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{where}: not valid base64") from None


def hex_field(text: str, where: str, length: int | None = None) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise InputError(f"{where}: not valid hex") from None
    if length is not None and len(value) != length:
        raise InputError(f"{where}: expected {length} bytes, got {len(value)}")
    return value


#: The largest value of a signed 64-bit integer: log indexes and sizes are int64 in Rekor and
#: in the database.
INT64_MAX = 2**63 - 1
#: 9999-12-31T23:59:59Z: the last second a timestamp can name (Python's datetime ends there).
TIME_MAX = 253_402_300_799


def bounded(value: int, where: str, maximum: int = INT64_MAX) -> int:
    """`value` if 0 <= value <= maximum; a hostile number is an input error, not a crash."""
    if not 0 <= value <= maximum:
        raise InputError(f"{where}: {value} is out of range (0..{maximum})")
    return value


#: RFC 3339 §5.6 date-time (with the space §5.6 allows for "T"); the offset is required.
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
                      r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})")


def rfc3339(text: str) -> datetime | None:
    """`text` as an aware UTC datetime if it is an RFC 3339 timestamp Python can hold, else None
    (`read_rfc3339` says why not)."""
    try:
        return read_rfc3339(text)
    except ValueError:
        return None


def read_rfc3339(text: str) -> datetime:
    """`text` as an aware UTC datetime; a ValueError says why it is not one, completing "`text`
    ...": not RFC 3339, a day or time that does not exist, or out of Python's range.

    datetime.fromisoformat alone reads any ISO 8601 (`20240101T000000Z`, `2024-W01-1`, a
    time without an offset), which a verifier parsing RFC 3339 refuses, and an offset can carry
    a time past either end of Python's range (`0001-01-01T00:00:00+01:00`): OverflowError.
    """
    if not _RFC3339.fullmatch(text):
        raise ValueError("is not an RFC 3339 timestamp with its offset (e.g. "
                         "2026-11-30T00:00:00Z)")
    try:
        moment = datetime.fromisoformat(text.upper().replace(" ", "T"))
    except ValueError:
        raise ValueError("names a day or time that does not exist") from None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range (in UTC it is before 0001-01-01T00:00:00Z or after "
                         "9999-12-31T23:59:59Z)") from None
