"""Words for people: counts ("1 failed entry", "2 failed entries", never "1 entries"), and
hostile text quoted at a length a message can carry."""

from __future__ import annotations

from collections.abc import Sequence


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`number` and `noun`, in the plural unless `number` is 1 (`plural` for irregular nouns:
    "entry" → "entries" is derived, anything else irregular is given)."""
    if number == 1:
        return f"{number} {noun}"
    if plural is None:
        head, _, last = noun.rpartition(" ")
        word = last[:-1] + "ies" if last.endswith("y") and last[-2:-1] not in "aeiou" \
            else last + "s"
        plural = f"{head} {word}" if head else word
    return f"{number} {plural}"


def first_of(items: Sequence[str], shown: int = 5) -> str:
    """The first `shown` of `items`, and how many more ("a, b, c and 7 more")."""
    more = len(items) - shown
    return ", ".join(items[:shown]) + (f" and {more} more" if more > 0 else "")


#: The most of a value from a log or a statement a message quotes (a stored subject name is cut
#: at the same length: auditor.store.tables.SUBJECT_NAME_CHARS). A check detail is stored with
#: every entry and shown in every report: a statement may be a megabyte, and its subject name
#: with it. Messages that name a value in passing (a checkpoint's line) quote less.
QUOTED_CHARS = 512


#: The most of a checkpoint origin (or a signer's name) a detail quotes: a real one is a host
#: name and a tree id; a hostile receipt's, or even a hostile log's signed one, a megabyte.
ORIGIN_CHARS = 200


#: The most of a failed check's reason a finding's one line quotes (each reason: a receipt may
#: fail several checks; the stored check keeps its whole detail).
REASON_CHARS = 300


def quoted(value: object, limit: int = QUOTED_CHARS) -> str:
    """`value` as `repr` quotes it, cut at `limit` characters when longer (saying how long the
    quote was)."""
    return bounded(repr(value), limit)


def bounded(text: str, limit: int = QUOTED_CHARS) -> str:
    """`text` as it is, cut at `limit` characters when longer (saying how long it was): `quoted`
    without the quotes, for details that show a value bare."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"
