"""Untrusted text made visible: what every human-readable rendering does first.

Every string in a report may come from a transparency log, and anyone can write to a log. Control
characters (ANSI escapes that recolour or move a terminal cursor), bidirectional overrides that
reorder what a reviewer reads (CVE-2021-42574, "Trojan Source"), zero-width and other invisible
format characters, line separators and lone surrogates are replaced by a Python-style escape
(`\\x1b`, `\\u202e`) so the reader sees that they are there instead of being acted on by them.
A backslash already in the data is left alone, so `\\u202e` typed literally reads the same: the
escaped form is for a human, the JSON report keeps the exact value.
"""

from __future__ import annotations

import unicodedata

# Cc control, Cf format (bidi overrides, zero-width), Zl/Zp line and paragraph separators,
# Cs lone surrogates (unencodable as UTF-8), Co private use, Cn unassigned.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text: str, keep: str = "\n\t") -> str:
    """`text` with every invisible or control character except those in `keep` escaped."""
    return "".join(
        _escape(ch) if ch not in keep and unicodedata.category(ch) in _INVISIBLE else ch
        for ch in text
    )
