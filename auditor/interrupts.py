"""An interruption (SIGINT, SIGTERM) waits for the batch being stored.

The CLI turns a signal into an `Interrupted` exception, raised wherever the main thread is.
Raised while SQLite executes a batch's statements (the signal handler runs between the rows of
an executemany), it leaves the statement unfinished, and the connection keeps the database's
write lock until that statement's cursor is freed, which the exception's frames keep alive: the
batch verified ahead and the run's own record, stored next, waited 30 s for that lock and
failed (exit 70 instead of 130/143, about one interruption in ten). A batch is stored in a few
milliseconds to a few tens, so an interruption that arrives meanwhile is raised when the store
ends: the batch is stored whole, and nothing is left holding the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0
_deferred: BaseException | None = None


def interrupt(error: BaseException) -> None:
    """Raise `error` now, or when the store in progress ends (for a signal handler)."""
    global _deferred
    if _depth:
        _deferred = _deferred or error
        return
    raise error


@contextmanager
def uninterrupted() -> Iterator[None]:
    """A store that an interruption waits for. Signal handlers run on the main thread, so a
    store on another thread (PostgreSQL's store-behind) is never interrupted anyway."""
    global _depth, _deferred
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _deferred is not None:
            error, _deferred = _deferred, None
            raise error
