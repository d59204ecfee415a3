"""JSON from hostile sources: linear time, bounded memory, one error type.

A log, a bundle or a statement store may send anything. Python's parser is linear, but three
things are not bounded by it: a duplicate-key check done naively is quadratic, a document of
millions of tiny values costs gigabytes of objects (a 63 MB answer of empty objects is 1.7 GB of
dicts), and deep nesting exhausts the interpreter's stack. This module bounds all three and
turns each into an `InputError` naming where the document came from.
"""

from __future__ import annotations

import json
from typing import Any

from auditor.errors import InputError

#: The most JSON values one document may hold (arrays, objects, members, scalars). A Rekor
#: index answer for a key with 100,000 entries holds about 100,000.
MAX_ITEMS = 2_000_000


class JsonInputError(InputError):
    """A document that is not JSON, or JSON we refuse to hold (duplicates, too big, too deep)."""


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
    if value_bound(raw) > max_items:
        raise JsonInputError(f"{where}: a JSON document of more than {max_items} values is "
                             "refused")
    try:
        if duplicates:
            return json.loads(raw)
        return json.loads(raw, object_pairs_hook=_unique_members)
    except _DuplicateKey as duplicate:
        raise JsonInputError(f"{where}: duplicate JSON key {_excerpt(str(duplicate))}") from None
    except RecursionError:
        raise JsonInputError(f"{where}: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise JsonInputError(f"{where}: not valid JSON ({_excerpt(str(error), 120)})") from None


def _excerpt(text: str, limit: int = 60) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return repr(shown + ("..." if len(text) > limit else ""))
