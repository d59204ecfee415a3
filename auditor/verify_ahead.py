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
from multiprocessing.connection import Connection
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
        self._worker: _Worker | None = None
        #: The batch the worker is verifying: (batch, option, then).
        self._pending: tuple[list[B], bool, Callable[[list[R]], None]] | None = None
        #: Batches the worker verified, and those it failed that were verified here again.
        self.in_worker = 0
        self.redone = 0

    def expect(self, items: int) -> None:
        """About `items` are coming: start the worker if that many pay for it."""
        if (self._worker is None and items >= self.worker_from and _cores() > 1
                and self.task.portable):
            self._worker = _Worker(self.task)

    def submit(self, batch: list[B], then: Callable[[list[R]], None], *,
               option: bool = False) -> None:
        """Verify `batch` (with the task's `option`), then call `then` with the result: later,
        once the batch submitted before it is handed over, if the worker verifies it.

        The worker gets this batch as soon as it has answered for the one before, whose `then`
        (the store) runs here while the worker verifies this one."""
        previous, verified = self._pending, self._answer()
        if self._worker is not None and self._worker.send(batch, option):
            self._pending = (batch, option, then)
        else:
            self._lose_worker()
        if previous is not None:
            previous[2](verified)
        if self._pending is None:
            then(self.task.verify_all(batch, option))

    def drain(self) -> None:
        """Hand over the batch the worker is verifying, if any (raising what its `then` or its
        verification here raised)."""
        previous, verified = self._pending, self._answer()
        if previous is not None:
            previous[2](verified)

    def _answer(self) -> list[R]:
        """The pending batch verified (by the worker, else here); nothing pending: []."""
        if self._pending is None:
            return []
        batch, option, _ = self._pending
        self._pending = None
        packed = self._worker.receive() if self._worker is not None else None
        if packed is None:  # it failed the batch, died, or was lost
            self.redone += 1
            return self.task.verify_all(batch, option)
        self.in_worker += 1
        return self.task.unpacked(batch, packed)

    def close(self) -> None:
        """Hand over the last batch, then end the worker (its CPU is then counted as the
        caller's: a waited-for child's)."""
        try:
            self.drain()
        finally:
            self._lose_worker()

    def _lose_worker(self) -> None:
        if self._worker is not None:
            self._worker.close()
        self._worker = None


class _Worker:
    """One worker process and the pipe to it: a batch goes out, its answer comes back.

    A plain pipe rather than a process pool: a worker killed while it writes an answer leaves
    a pool's result reader waiting forever (the pool itself holds the pipe's other end), where
    this pipe then reads the end of file, and the batch is verified in the caller."""

    def __init__(self, task: Task[Any, Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, task, os.getpid()),
                                       name="verify-ahead", daemon=True)
        self.process.start()
        theirs.close()  # the worker's end lives in the worker only: its death is our EOF

    def send(self, batch: list[Any], option: bool) -> bool:
        """Whether the batch went out (else the worker is gone)."""
        try:
            self.connection.send((batch, option))
        except (OSError, ValueError):
            return False
        except BaseException:
            self._end(at_once=True)  # interrupted mid-message: the pipe is of no more use
            raise
        return True

    def receive(self) -> object:
        """The worker's answer, None if it failed the batch or ended."""
        try:
            return self.connection.recv()
        except (EOFError, OSError):
            return None
        except BaseException:
            self._end(at_once=True)  # interrupted mid-message: the pipe is of no more use
            raise

    def close(self) -> None:
        self._end(at_once=False)

    def _end(self, *, at_once: bool) -> None:
        if not at_once and not self.connection.closed:
            try:
                self.connection.send(None)  # "no more": the worker ends
            except (OSError, ValueError):
                pass
        self.connection.close()
        if at_once:
            self.process.kill()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --- the worker process ------------------------------------------------------------------------

def _serve(connection: Connection, task: Task[Any, Any], caller: int) -> None:
    """The worker's loop: verify each batch received and send back what `task` packs (None if
    it failed: the caller verifies the batch again and raises what it raises)."""
    # The caller handles Ctrl-C and SIGTERM (sent to the whole process group by a terminal or
    # systemd) and then ends the worker: killed by them mid-answer, it would lose the batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fewer_collections().__enter__()  # for the process's life: see auditor.crawl.heap
    threading.Thread(target=_end_when_orphaned, args=(caller,), daemon=True).start()
    while True:
        try:
            message = connection.recv()
        except Exception:  # the caller ended (EOF) or was interrupted mid-message
            return
        if message is None:
            return
        batch, option = message
        try:
            answer = task.packed(batch, option)
        except Exception:  # verified again by the caller, which raises it there
            answer = None
        connection.send(answer)


def _end_when_orphaned(caller: int) -> None:
    """A caller killed outright (SIGKILL) cannot end its worker: the worker ends itself."""
    while os.getppid() == caller:
        time.sleep(1)
    os._exit(0)
