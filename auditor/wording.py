"""Counts in words for people: "1 failed entry", "2 failed entries", never "1 entries"."""

from __future__ import annotations


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
