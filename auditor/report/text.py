"""Untrusted text made visible: what every human-readable rendering does first.

Every string in a report may come from a transparency log, and anyone can write to a log. Control
characters (ANSI escapes that recolour or move a terminal cursor), bidirectional overrides that
reorder what a reviewer reads (CVE-2021-42574, "Trojan Source"), zero-width and other invisible
format characters, letters and marks drawn as nothing (Hangul fillers, variation selectors), line
separators and lone surrogates are replaced by a Python-style escape
(`\\x1b`, `\\u202e`) so the reader sees that they are there instead of being acted on by them.
A backslash already in the data is left alone, so `\\u202e` typed literally reads the same: the
escaped form is for a human, the JSON report keeps the exact value.
"""

from __future__ import annotations

import unicodedata

# Cc control, Cf format (bidi overrides, zero-width), Zl/Zp line and paragraph separators,
# Cs lone surrogates (unencodable as UTF-8), Co private use, Cn unassigned.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
# The rest of Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): letters and
# marks drawn as nothing, such as U+3164 HANGUL FILLER ("kernel\u3164" reads as "kernel", a
# name of fillers as empty) and the variation selectors.
_IGNORABLE = frozenset(
    code for first, last in ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5),
                             (0x180B, 0x180D), (0x180F, 0x180F), (0x3164, 0x3164),
                             (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0100, 0xE01EF))
    for code in range(first, last + 1))


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
        _escape(ch) if ch not in keep and (unicodedata.category(ch) in _INVISIBLE
                                           or ord(ch) in _IGNORABLE) else ch
        for ch in text
    )
