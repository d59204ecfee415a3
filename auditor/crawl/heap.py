"""Garbage collection while a crawl ingests: fewer, cheaper collections.

Ingesting allocates a few hundred short-lived objects per entry (parsed fields, checks, rows),
freed by reference counting as each batch is stored; almost none are in cycles. CPython's
collector still runs a young-generation pass every 700 net allocations and, every few hundred
of those, a full pass over everything alive, including the modules, the ORM's metadata and
the caches of the process, which a crawl never frees. Measured (gc.callbacks) over a crawl of
10,000 entries: 0.35-0.42 s of its 6.2-6.7 CPU-seconds in 1,389 collections; inside this block,
0.04-0.06 s in 12.

`fewer_collections()` moves what is alive when the crawl starts out of the collector's sight
(`gc.freeze`: the next full passes skip it) and lets the young generation grow to
YOUNG_THRESHOLD objects before a pass. Cyclic garbage is still collected, but much later: a
pass comes after YOUNG_THRESHOLD objects *net* of those freed, and a batch frees almost all it
made. Memory stays flat only because a batch leaves nothing in cycles: the store's per-batch
statements are built once (`auditor.store.key_lists`, whose docstring tells what a statement
built per batch cost), and tests/db/test_crawl_garbage.py holds a crawl to that.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Net allocations before a young-generation pass while ingesting (CPython's default: 700).
YOUNG_THRESHOLD = 50_000

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect less often inside the block (nested and concurrent blocks share one setting,
    restored when the last one ends)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(_saved[0], YOUNG_THRESHOLD), *_saved[1:])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()
