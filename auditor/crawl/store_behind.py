"""Storing a batch while the next one is verified.

A crawl alternates between verifying a batch (Python, holding the interpreter lock) and storing
it in one transaction, where much of the time is the database's own: SQLite executing and
committing with the lock released, PostgreSQL working in its server processes. `StoreBehind`
runs each store on one worker thread while the caller verifies the next batch, so the two
overlap on a machine with a second core. Measured with scripts/bench_ingest.py (20,000 entries,
2 cores): on PostgreSQL the wall rate rose from 1,382 to 1,630 entries/s for 10.2 -> 10.5
CPU-seconds; on SQLite, whose work runs in this process and contends for the interpreter lock
and the caches, from 1,572 to 1,664-1,804 entries/s but for 11.1 -> 12.4-13.4 CPU-seconds, so
there (`inline=True`) each store runs in the caller, at once.

One store at a time, in the order submitted: the caller waits for the previous store before
submitting the next, which keeps every batch one whole transaction after the one before it (a
killed crawl leaves the batches stored before it, never part of one), and an error of a store
is raised where the caller waits.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class StoreBehind:
    """At most one store running behind the caller (see the module's docstring)."""

    def __init__(self, *, inline: bool = False) -> None:
        self.inline = inline
        self._worker: ThreadPoolExecutor | None = None
        self._running: Future[None] | None = None

    def submit(self, store: Callable[[], None]) -> None:
        """Run `store` on the worker (inline: here), after waiting for the store before it."""
        self.wait()
        if self.inline:
            store()
            return
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="store")
        self._running = self._worker.submit(store)

    def wait(self) -> None:
        """Return once the store submitted last has ended; raise what it raised."""
        running, self._running = self._running, None
        if running is not None:
            running.result()

    def close(self) -> None:
        """Wait for the running store (raising its error), then end the worker."""
        try:
            self.wait()
        finally:
            if self._worker is not None:
                self._worker.shutdown()
                self._worker = None
