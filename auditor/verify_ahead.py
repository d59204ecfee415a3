"""Verifying the next batch in a worker process while this one is stored.

A crawl (or an import) alternates between verifying a batch (parsing bodies, reading
statements, every named check: Python holding the interpreter lock, with the signatures) and
storing it, so one core does it all while the machine's second core idles (the log server took
1.5 of a crawl's 13 CPU-seconds at 20,000 entries). With `VerifyAhead` a worker process verifies
batch N+1 while the caller's process stores batch N; the caller keeps fetching, storing and
judging, as before, so every database write and finding stays where it was. What is verified,
and how a result travels back, is the caller's `Task` (`auditor.crawl.prepare.Preparer` for a
crawl, `auditor.importer.ImportVerifier` for an import).

The worker is started only when it pays (scripts/bench_ingest.py): for at least `WORKER_FROM`
items, on a machine with a second core, for a task that works the same in another process
(`Task.portable`: statements from a directory; a statement server is asked by the crawl's own
rate-limited HTTP client). The first batch waits for it to start (while the next answers are
fetched). A batch whose verification failed in the worker is verified again in the caller's
process, so an error (a statement source that cannot answer) is raised there as it always was;
a worker that died (killed, out of memory) is not used again and the caller goes on without it.
Batches are handed back and stored in the order submitted.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, Protocol, TypeVar

from auditor.crawl.heap import fewer_collections

#: Items from which a worker pays for its start (a fresh interpreter importing the verifiers
#: and receiving the keys: about 0.3 CPU-seconds). Measured with scripts/bench_ingest.py; see the
#: README's benchmarks.
WORKER_FROM = 4_000

B = TypeVar("B")
R = TypeVar("R")


class Task(Protocol[B, R]):
    """What a worker verifies: a batch of `B` into a list of `R`, here or in the worker."""

    #: Whether a copy in another process verifies the same.
    @property
    def portable(self) -> bool: ...

    def verify_all(self, batch: list[B], option: bool) -> list[R]:
        """The batch verified here."""

    def packed(self, batch: list[B], option: bool) -> object:
        """In the worker: the batch verified, as sent back (without what the caller holds)."""

    def unpacked(self, batch: list[B], packed: Any) -> list[R]:
        """Here: what `packed` sent back, as `verify_all` would have returned it."""


class VerifyAhead(Generic[B, R]):
    """Verifies batches, in a worker process when one is running (see the module's
    docstring), and hands each to its `then` in the order submitted."""

    def __init__(self, task: Task[B, R], *, worker_from: int | None = None) -> None:
        self.task = task
        self.worker_from = WORKER_FROM if worker_from is None else worker_from
        self._pool: ProcessPoolExecutor | None = None
        self._ready: Future[None] | None = None
        self._pending: tuple[Future[object], list[B], bool, Callable[[list[R]], None]] \
            | None = None
        #: Batches the worker verified, and those it failed that were verified here again.
        self.in_worker = 0
        self.redone = 0

    def expect(self, items: int) -> None:
        """About `items` are coming: start the worker if that many pay for it."""
        if (self._pool is None and items >= self.worker_from and _cores() > 1
                and self.task.portable):
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker,
                                             initargs=(self.task, os.getpid()))
            self._ready = self._pool.submit(_ready)

    def submit(self, batch: list[B], then: Callable[[list[R]], None], *,
               option: bool = False) -> None:
        """Verify `batch` (with the task's `option`), then call `then` with the result: later,
        once the batch submitted before it is handed over, if the worker verifies it."""
        if self._pool is not None:
            try:
                assert self._ready is not None
                self._ready.result()  # the first batch waits for the worker to start
                answer = self._pool.submit(_verify, batch, option)
            except Exception:  # it did not start (or died): the caller goes on without it
                self._lose_worker()
            else:
                self.drain()
                self._pending = (answer, batch, option, then)
                return
        self.drain()
        then(self.task.verify_all(batch, option))

    def drain(self) -> None:
        """Hand over the batch the worker is verifying, if any (raising what its `then` or its
        verification here raised)."""
        if self._pending is None:
            return
        answer, batch, option, then = self._pending
        self._pending = None
        try:
            packed = answer.result()
        except Exception:  # the worker died (BrokenProcessPool) or its answer did not arrive
            self._lose_worker()
            packed = None
        if packed is None:
            self.redone += 1
            verified = self.task.verify_all(batch, option)
        else:
            self.in_worker += 1
            verified = self.task.unpacked(batch, packed)
        then(verified)

    def close(self) -> None:
        """Hand over the last batch, then end the worker (its CPU is then counted as the
        caller's: a waited-for child's)."""
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


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --- the worker process ------------------------------------------------------------------------

_task: Task[Any, Any] | None = None


def _start_worker(task: Task[Any, Any], caller: int) -> None:
    global _task
    _task = task
    # Ctrl-C is the caller's to handle: it stops the worker by closing the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fewer_collections().__enter__()  # for the process's life: see auditor.crawl.heap
    threading.Thread(target=_end_when_orphaned, args=(caller,), daemon=True).start()


def _end_when_orphaned(caller: int) -> None:
    """A caller killed outright (SIGKILL) cannot end its worker: the worker ends itself."""
    while os.getppid() == caller:
        time.sleep(1)
    os._exit(0)


def _ready() -> None:
    return None


def _verify(batch: list[Any], option: bool) -> object:
    assert _task is not None
    try:
        return _task.packed(batch, option)
    except Exception:  # verified again by the caller, which raises it there
        return None
