"""Verifying a crawl's next batch in a worker process while this one is stored.

A crawl's process alternates between preparing a batch (parsing bodies, reading statements,
every named check: Python holding the interpreter lock, with the signatures) and storing it,
so one core does it all while the machine's second core idles (the log server took 1.5 of the
crawl's 13 CPU-seconds at 20,000 entries). With `VerifyAhead` a worker process prepares batch
N+1 while the crawl's process stores batch N; the crawl's process keeps fetching, storing and
judging, as before, so every database write and finding stays where it was.

The worker is started only when it pays (scripts/bench_ingest.py): for a crawl that will fetch
at least `WORKER_FROM` entries, on a machine with a second core, with a statement source that
works the same in another process (`StatementSource.portable`: a directory; a statement server
is asked by the crawl's own rate-limited HTTP client). The first batch waits for it to start
(while the next answers are fetched). A batch whose preparation failed in the worker is
prepared again in the crawl's process, so an error (a statement source that cannot answer) is
raised there as it always was; a worker that died (killed, out of memory) is not used again and
the crawl goes on without it. Batches are handed back and stored in the order submitted.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace

from auditor.crawl.heap import fewer_collections
from auditor.crawl.prepare import Fetched, Prepared, Preparer
from auditor.store.record import EndorsementRecord
from auditor.verify.entry import Verification

#: Entries a crawl fetches before a worker pays for its start (a fresh interpreter importing the
#: verifiers and receiving the keys: about 0.25 CPU-seconds). Measured with
#: scripts/bench_ingest.py; see the README's benchmarks.
WORKER_FROM = 4_000

Then = Callable[[list[Prepared]], None]
#: A prepared entry as the worker sends it back: its place in the batch, and what `Prepared`
#: holds besides the fetched entry, which the crawl has (its verification without the entry).
Sent = tuple[int, str | None, bool, Verification, EndorsementRecord]
#: A batch's preparation in the worker: what it prepared and the statement files that did not
#: hash to their names, or None if it failed there (the crawl prepares it again itself).
Answer = tuple[list[Sent], list[str]] | None


class VerifyAhead:
    """Prepares batches, in a worker process when one is running (see the module's docstring),
    and hands each to its `then` in the order submitted."""

    def __init__(self, preparer: Preparer, *, worker_from: int = WORKER_FROM) -> None:
        self.preparer = preparer
        self.worker_from = worker_from
        self._pool: ProcessPoolExecutor | None = None
        self._ready: Future[None] | None = None
        self._pending: tuple[Future[Answer], list[Fetched], bool, Then] | None = None
        #: Batches the worker prepared, and those it failed that were prepared here again.
        self.in_worker = 0
        self.redone = 0

    def expect(self, entries: int) -> None:
        """The crawl is about to fetch `entries`: start the worker if that many pay for it."""
        if (self._pool is None and entries >= self.worker_from and _cores() > 1
                and self.preparer.statements.portable):
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker,
                                             initargs=(self.preparer, os.getpid()))
            self._ready = self._pool.submit(_ready)

    def submit(self, fetched: list[Fetched], then: Then, *, only_pinned: bool = False) -> None:
        """Prepare `fetched`, then call `then` with what was prepared: later, once the batch
        submitted before it is handed over, if the worker prepares it."""
        if self._pool is not None:
            try:
                assert self._ready is not None
                self._ready.result()  # the first batch waits for the worker to start
                answer = self._pool.submit(_prepare, fetched, only_pinned)
            except Exception:  # it did not start (or died): the crawl goes on without it
                self._lose_worker()
            else:
                self.drain()
                self._pending = (answer, fetched, only_pinned, then)
                return
        self.drain()
        then(self.preparer.prepare_all(fetched, only_pinned=only_pinned))

    def drain(self) -> None:
        """Hand over the batch the worker is preparing, if any (raising what its `then` or its
        preparation here raised)."""
        if self._pending is None:
            return
        answer, fetched, only_pinned, then = self._pending
        self._pending = None
        try:
            result = answer.result()
        except Exception:  # the worker died (BrokenProcessPool) or its answer did not arrive
            self._lose_worker()
            result = None
        if result is None:
            self.redone += 1
            prepared = self.preparer.prepare_all(fetched, only_pinned=only_pinned)
        else:
            self.in_worker += 1
            sent, mismatches = result
            prepared = [_received(fetched[at], c, p, v, r) for at, c, p, v, r in sent]
            self.preparer.statements.mismatches.extend(mismatches)
        then(prepared)

    def close(self) -> None:
        """Hand over the last batch, then end the worker (its CPU is then counted as the
        crawl's: a waited-for child's)."""
        try:
            self.drain()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def _lose_worker(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None


def _received(fetched: Fetched, component: str | None, pinned: bool,
              verification: Verification, record: EndorsementRecord) -> Prepared:
    return Prepared(fetched, component, pinned, replace(verification, entry=fetched.entry), record)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --- the worker process ------------------------------------------------------------------------

_preparer: Preparer | None = None


def _start_worker(preparer: Preparer, crawler: int) -> None:
    global _preparer
    _preparer = preparer
    # Ctrl-C is the crawl's to handle: it stops the worker by closing the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fewer_collections().__enter__()  # for the process's life: see auditor.crawl.heap
    threading.Thread(target=_end_when_orphaned, args=(crawler,), daemon=True).start()


def _end_when_orphaned(crawler: int) -> None:
    """A crawl killed outright (SIGKILL) cannot end its worker: the worker ends itself."""
    while os.getppid() == crawler:
        time.sleep(1)
    os._exit(0)


def _ready() -> None:
    return None


def _prepare(fetched: list[Fetched], only_pinned: bool) -> Answer:
    assert _preparer is not None
    _preparer.statements.mismatches.clear()
    sent = []
    try:
        for at, item in enumerate(fetched):
            prepared = _preparer.prepare(item, only_pinned=only_pinned)
            if prepared is not None:
                # The crawl holds the entry: a tenth of the bytes are sent back without it.
                sent.append((at, prepared.component, prepared.pinned,
                             replace(prepared.verification, entry=None), prepared.record))
    except Exception:  # prepared again in the crawl, which raises it there
        return None
    return sent, list(_preparer.statements.mismatches)
