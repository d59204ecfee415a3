"""Rows looked up by a list of keys, with statements built once.

A statement built per call around a list of keys (`column.in_(keys)`) is a reference cycle:
SQLAlchemy's bind parameter for the `IN` and the copy it compiles refer to each other. The list,
and every key in it, then lives until the garbage collector's next pass over the generation it
has reached. A crawl collects rarely (`auditor.crawl.heap`), so what each batch looked up piled
up: about 0.35 kB per entry, most of the crawl's growth in memory (measured over 50,000 entries).

The store's per-batch lookups are built here once, with an expanding bind parameter named
`KEYS`; the keys go in with the execution's parameters (`chunks`) and are freed with them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, bindparam, tuple_

T = TypeVar("T")

#: The bind parameter the keys go in as.
KEYS = "keys"

#: Keys per query: an `IN` list the databases handle comfortably.
CHUNK = 500


def among_keys(*columns: Any) -> ColumnElement[bool]:
    """`columns IN (:keys)`: one column's values, or tuples of several columns'."""
    target = columns[0] if len(columns) == 1 else tuple_(*columns)
    return target.in_(bindparam(KEYS, expanding=True))


def chunks(keys: Sequence[T], size: int = CHUNK) -> Iterator[list[T]]:
    """`keys` in lists of at most `size`, each for one query's `KEYS`."""
    for start in range(0, len(keys), size):
        yield list(keys[start:start + size])
