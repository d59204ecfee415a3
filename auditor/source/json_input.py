"""JSON from hostile sources: linear time, bounded memory, one error type.

A log, a bundle or a statement store may send anything. Python's parser is linear, but three
things are not bounded by it: a duplicate-key check done naively is quadratic, a document of
millions of tiny values costs gigabytes of objects (a 63 MB answer of empty objects is 1.7 GB of
dicts), and deep nesting exhausts the interpreter's stack. This module bounds all three and
turns each into an `InputError` naming where the document came from.

It also refuses text that is not text: `\u0000` and an unpaired surrogate escape (`\ud800`)
parse into Python strings that no database can store (PostgreSQL refuses U+0000, and neither it
nor SQLite encodes a lone surrogate) nor any UTF-8 report write. Parsed, one signed statement
holding them stopped every later run at its store; refused here, it is a document we cannot
read, like any other malformed one. A document must be UTF-8 (RFC 8259 §8.1): Python would
also guess UTF-16 or UTF-32, and decode the bytes of a surrogate as one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from auditor.errors import InputError

#: The most JSON values one document may hold (arrays, objects, members, scalars). A Rekor
#: index answer for a key with 100,000 entries holds about 100,000.
MAX_ITEMS = 2_000_000


class JsonInputError(InputError):
    """A document that is not JSON, or JSON we refuse to hold (duplicates, too big, too deep)."""


class DuplicateKeyError(JsonInputError):
    """An object with a key twice: JSON readers disagree on which value it holds."""


class _DuplicateKey(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        # Two values for one key: parsers disagree on which one wins (RFC 8259 §4). A set keeps
        # finding the culprit linear.
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return document


#: The escapes of U+0000 and of a surrogate: only documents holding one are searched for text
#: that is not text (a paired surrogate escape is an astral character, and is fine).
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def value_bound(content: bytes) -> int:
    """An upper bound on the number of values in a JSON text, in one pass of C code.

    Every value after the first follows a `,`, a `:`, a `[` or a `{`; bytes inside strings only
    make the bound looser, never too small.
    """
    return sum(content.count(c) for c in (b",", b":", b"[", b"{")) + 1


def loads(content: bytes | str, where: str, *, max_items: int = MAX_ITEMS,
          duplicates: bool = False) -> Any:
    """Parse `content`; `duplicates=False` refuses an object with a key twice."""
    raw = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    # A value takes a byte at least: a shorter text cannot hold too many (and is not counted).
    if len(raw) >= max_items and value_bound(raw) > max_items:
        raise JsonInputError(f"{where}: a JSON document of more than {max_items} values is "
                             "refused")
    try:
        text = raw.decode("utf-8-sig")  # strict: no surrogates, no other encodings
        document = json.loads(text)
        if not duplicates and raw.count(b":") > _members(document):
            # Some colon is no member's own: a duplicate key, or one inside a string. Decide.
            document = json.loads(text, object_pairs_hook=_unique_members)
    except _DuplicateKey as duplicate:
        raise DuplicateKeyError(f"{where}: duplicate JSON key {_excerpt(str(duplicate))}") from None
    except RecursionError:
        raise JsonInputError(f"{where}: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise JsonInputError(f"{where}: not valid JSON ({_excerpt(str(error), 120)})") from None
    if _SUSPECT_ESCAPE.search(raw) and not _text_only(document):
        raise JsonInputError(f"{where}: a JSON string holds U+0000 or an unpaired surrogate, "
                             "which no database or UTF-8 file holds")
    return document


def _members(document: Any) -> int:
    """How many members the objects of `document` hold (iteratively: the parser bounded its
    depth). Every member of the text is one `:` outside a string: when the text holds no more
    colons than the parsed objects hold members, no key was given twice, which is what makes
    the exact check (a Python call per object) needed only for the rest."""
    count, pending = 0, [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            count += len(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return count


def _text_only(document: Any) -> bool:
    """Whether every string in `document` (keys included) is text a store and a UTF-8 file
    can hold: no U+0000, no unpaired surrogate. Iterative: the parser bounded its depth."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and not is_text(value):
            return False
    return True


def is_text(value: str) -> bool:
    """No U+0000, no unpaired surrogate (which UTF-8 cannot encode)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _excerpt(text: str, limit: int = 60) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return repr(shown + ("..." if len(text) > limit else ""))
