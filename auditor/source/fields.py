"""Reading typed fields out of hostile documents: every defect is an InputError naming where."""

from __future__ import annotations

import base64
import binascii
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
