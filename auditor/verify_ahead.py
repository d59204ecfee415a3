"""Verifying the next batch in a worker process while this one is stored.

A crawl (or an import) alternates between verifying a batch (parsing bodies, reading
statements, every named check: Python holding the interpreter lock, with the signatures) and
storing it, so one core does it all while the machine's second core idles (the log server took
1.5 of a crawl's 13 CPU-seconds at 20,000 entries). With `VerifyAhead` a worker process verifies
batch N+1 while the caller's process stores batch N; the caller keeps fetching, storing and
judging, as before, so every database write and finding stays where it was. What is verified,
and how a result travels back, is the caller's `Task` (`auditor.crawl.prepare.Preparer` for a
crawl, `auditor.import_item.ImportVerifier` for an import).

The worker is started only where it pays (scripts/bench_ingest.py): for at least `WORKER_FROM`
items, on a machine with a second core, for a task that works the same in another process
(`Task.portable`: statements from a directory; a statement server is asked by the crawl's own
rate-limited HTTP client). Until it has started, batches are verified here. Where it is safe
the worker is a fork of the caller, ready in milliseconds with everything imported; else a fresh
interpreter that imports the verifiers and unpickles the task (0.13-0.23 CPU-seconds: see
`_start_method`). Then each batch is split: the worker verifies its head
while the caller stores the batch before and verifies the tail itself. The tail's share is
measured so that both sides finish together: from the last round, the worker's seconds per
item `w`, the caller's `v` for the tail, and what else the caller did per item `o` (storing,
fetching, unpacking), the tail's share is (w - o) / (w + v), halfway from the last one. The
caller is mostly busy storing, so the worker takes most of a batch. A fixed `share` (tests)
waits for the worker's start instead, and splits every batch alike.

A batch whose verification failed in the worker is verified again in the caller's
process, so an error (a statement source that cannot answer) is raised there as it always was;
a worker that died (killed, out of memory) is not used again and the caller goes on without it.
Batches are handed back and stored in the order submitted.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from typing import Any, Generic, Literal, Protocol, TypeVar

from auditor.crawl.heap import fewer_collections

#: Items from which a worker pays for itself. Measured with scripts/bench_ingest.py
#: (`--worker-from`; see the README's benchmarks). A spawned worker (a fresh interpreter
#: importing the verifiers: 0.13-0.23 CPU-seconds) gained 5-30 % wall time at 2,000 entries for
#: 35-45 % more CPU, and nothing for sure at 1,000. A forked one (4 ms) gains 9-34 % at 1,000
#: for 1-24 % more CPU, and at 500 at most 14 % for 22-37 % more.
WORKER_FROM = 1_000

#: How a worker starts (see `_start_method`).
StartMethod = Literal["fork", "spawn"]

#: The tail of each batch the caller verifies itself once the worker has started: None
#: measures it (see the module's docstring), starting from `FIRST_SHARE`; a number fixes it,
#: and the first batch then waits for the worker's start.
SHARE: float | None = None
FIRST_SHARE = 0.1

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


@dataclass
class _Pending(Generic[B, R]):
    """A batch whose head the worker is verifying: its tail verified here (None: that
    failed, and nothing of the batch is handed over)."""

    head: list[B]
    option: bool
    then: Callable[[list[R]], None]
    #: When the head was sent (the caller's round starts).
    sent: float
    tail: list[R] | None = None
    tail_size: int = 0
    #: What verifying the tail took here.
    tail_seconds: float = 0.0


class VerifyAhead(Generic[B, R]):
    """Verifies batches, in part in a worker process when one is running (see the module's
    docstring), and hands each to its `then` in the order submitted."""

    def __init__(self, task: Task[B, R], *, worker_from: int | None = None,
                 share: float | None = None, start: StartMethod | None = None) -> None:
        self.task = task
        self.worker_from = WORKER_FROM if worker_from is None else worker_from
        #: How its worker starts (None: `_start_method` decides then; tests fix it).
        self.start = start
        fixed = SHARE if share is None else share
        self.adapt = fixed is None
        #: The share of each batch verified here, once the worker has started.
        self.share = FIRST_SHARE if fixed is None else fixed
        self._worker: _Worker | None = None
        self._pending: _Pending[B, R] | None = None
        #: Batches the worker verified (in part), and those it failed that were verified here.
        self.in_worker = 0
        self.redone = 0
        #: Items verified here (batches before the worker started, tails, batches redone).
        self.here = 0

    def expect(self, items: int) -> None:
        """About `items` are coming: start the worker if that many pay for it."""
        if (self._worker is None and items >= self.worker_from and _cores() > 1
                and self.task.portable):
            try:
                self._worker = _Worker(self.task, self.start or _start_method())
            except OSError:
                # No process to be had (EAGAIN at a process limit, ENOMEM under strict
                # overcommit): verified here, as a worker that died would leave it.
                self._worker = None

    def submit(self, batch: list[B], then: Callable[[list[R]], None], *,
               option: bool = False) -> None:
        """Verify `batch` (with the task's `option`), then call `then` with the result: later,
        once the batch submitted before it is handed over, if the worker verifies a part.

        The worker gets this batch's head as soon as it has answered for the one before, whose
        `then` (the store) runs here while the worker verifies; then the tail is verified here."""
        previous, verified = self._pending, self._answer()
        cut = self._cut(len(batch))
        if cut and self._worker is not None and self._worker.send(batch[:cut], option):
            self._pending = _Pending(batch[:cut], option, then, time.perf_counter())
        elif cut:  # it is gone
            self._lose_worker()
            cut = 0
        if previous is not None and verified is not None:
            previous.then(verified)
        started = time.perf_counter()
        tail = self._verify_here(batch[cut:], option)
        if self._pending is None:
            then(tail)
        else:
            self._pending.tail, self._pending.tail_size = tail, len(batch) - cut
            self._pending.tail_seconds = time.perf_counter() - started

    def drain(self) -> None:
        """Hand over the batch the worker is verifying, if any (raising what its `then` or its
        verification here raised)."""
        previous, verified = self._pending, self._answer()
        if previous is not None and verified is not None:
            previous.then(verified)

    @property
    def worker_started(self) -> bool:
        """Whether a worker runs and has started (it takes batches)."""
        return self._worker is not None and self._worker.started(wait=False)

    def _verify_here(self, items: list[B], option: bool) -> list[R]:
        self.here += len(items)
        return self.task.verify_all(items, option)

    def _cut(self, size: int) -> int:
        """How many items at the head of a batch of `size` go to the worker: none before it
        has started (unless the share is fixed: then it is waited for)."""
        worker = self._worker
        if worker is None or not worker.started(wait=not self.adapt):
            if worker is not None and worker.gone:
                self._lose_worker()
            return 0
        return size - round(self.share * size)

    def _answer(self) -> list[R] | None:
        """The pending batch verified (its head by the worker, else here, and its tail); None
        when its tail failed here; nothing pending: []."""
        pending, self._pending = self._pending, None
        if pending is None:
            return []
        packed = None
        if self._worker is not None:
            caller = time.perf_counter() - pending.sent
            packed, seconds = self._worker.receive()
            if self.adapt and pending.tail is not None and seconds:
                self._balance(pending, caller, seconds)
        if pending.tail is None:
            return None
        if packed is None:  # it failed the batch, died, or was lost
            self.redone += 1
            head = self._verify_here(pending.head, pending.option)
        else:
            self.in_worker += 1
            head = self.task.unpacked(pending.head, packed)
        return head + pending.tail

    def _balance(self, pending: _Pending[B, R], caller: float, worker: float) -> None:
        """The tail's share from what the last round took: `caller`, the seconds from sending
        the head to asking for its answer (storing the batch before, verifying the tail, the
        caller's own work); `worker`, the worker's seconds on the head."""
        items = len(pending.head) + pending.tail_size
        w = worker / len(pending.head)
        v = pending.tail_seconds / pending.tail_size if pending.tail_size else w
        other = max(0.0, caller - pending.tail_seconds) / items
        balanced = min(1.0, max(0.0, (w - other) / (w + v)))
        self.share = (self.share + balanced) / 2

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

    def __init__(self, task: Task[Any, Any], method: StartMethod) -> None:
        self.forked = method == "fork"
        context = multiprocessing.get_context("fork") if self.forked \
            else multiprocessing.get_context("spawn")
        masking = hasattr(signal, "pthread_sigmask")  # POSIX
        if masking and not self.forked:
            # A spawning multiprocessing starts its resource tracker first, unblocking the
            # signals below on the way: it is started before they are blocked.
            resource_tracker.ensure_running()
        self.connection, theirs = context.Pipe()
        collecting = gc.isenabled()
        target, args = (_serve_forked, (theirs, self.connection, task, os.getpid(), collecting)) \
            if self.forked else (_serve, (theirs, task, os.getpid()))
        self.process = context.Process(target=target, args=args, name="verify-ahead",
                                       daemon=True)
        # The caller handles Ctrl-C and SIGTERM (sent to the whole process group by a terminal
        # or systemd) and then ends the worker: the worker must never see them, not even while
        # it starts (a KeyboardInterrupt traceback from its imports). Blocked here, they are
        # blocked in the child from its first instruction (a signal mask survives fork and
        # exec), and held for this process until unblocked, not lost.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _CALLERS_SIGNALS) if masking else ()
        try:
            if self.forked:
                _fork(self.process, collecting)
            else:
                self.process.start()
        except BaseException:
            self.connection.close()
            theirs.close()
            raise
        finally:
            if masking:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        theirs.close()  # the worker's end lives in the worker only: its death is our EOF
        self._started = False
        #: It ended before it started (its start failed, or it was killed).
        self.gone = False

    def started(self, *, wait: bool) -> bool:
        """Whether it has started (imported what the task needs: its first message says so);
        `wait`: wait for that."""
        if not self._started and not self.gone and (wait or self.answered()):
            try:
                self._started = self.connection.recv() == _STARTED
            except (EOFError, OSError):
                pass
            except BaseException:
                self._end(at_once=True)
                raise
            self.gone = not self._started
        return self._started

    def answered(self) -> bool:
        """Whether its next message (or its end) is there to read."""
        try:
            return self.connection.poll()
        except (OSError, ValueError):
            return True

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

    def receive(self) -> tuple[object, float]:
        """The worker's answer (None if it failed the batch or ended) and the seconds it
        took (0: unknown)."""
        try:
            answer, seconds = self.connection.recv()
        except (EOFError, OSError):
            return None, 0.0
        except BaseException:
            self._end(at_once=True)  # interrupted mid-message: the pipe is of no more use
            raise
        return answer, seconds

    def close(self) -> None:
        self._end(at_once=False)

    def _end(self, *, at_once: bool) -> None:
        at_once = at_once or not self._started  # still starting: nothing of ours to lose
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


def _start_method() -> StartMethod:
    """"fork" where a copy of this process is sound: on Linux, with no other thread running.
    Another thread may hold a lock at the moment of the fork (an HTTP client's, a progress
    bar's, a standard stream's) that the copy would then find held forever; macOS's system
    libraries are not fork-safe at all. A crawl under cron or systemd runs one thread when it
    starts its worker; one with a progress bar on a terminal spawns it. The kernel's count
    is asked too: a library's native threads (a host application's) count. A thread Python
    has joined (a pool just shut down) still runs for a moment: it is waited for, briefly."""
    if sys.platform != "linux" or threading.active_count() > 1:
        return "spawn"
    deadline = time.monotonic() + _EXITING_THREADS_WAIT
    while True:
        try:
            if len(os.listdir("/proc/self/task")) == 1:
                return "fork"
        except OSError:  # no /proc: as if threads ran
            return "spawn"
        if time.monotonic() > deadline:
            return "spawn"
        time.sleep(0.001)


#: How long threads Python has joined may take to end before a worker is spawned instead.
_EXITING_THREADS_WAIT = 0.05


def _fork(process: multiprocessing.process.BaseProcess, collecting: bool) -> None:
    """Start `process` as a fork of this one. What the standard streams hold unwritten is
    written first (else the copy would write it again), and the collector is off until the
    copy has frozen what it inherited (see `_serve_forked`)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # closed, or a broken pipe: its own caller's matter
            pass
    gc.disable()
    try:
        process.start()
    finally:
        if collecting:
            gc.enable()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


#: What the caller handles for its worker (see _Worker).
_CALLERS_SIGNALS = {signal.SIGINT, signal.SIGTERM}

#: The worker's first message: it has imported what the task needs (unpickling it did).
_STARTED = "started"


# --- the worker process ------------------------------------------------------------------------

def _serve(connection: Connection, task: Task[Any, Any], caller: int) -> None:
    """The worker's loop: verify each batch received and send back what `task` packs (None if
    it failed: the caller verifies the batch again and raises what it raises)."""
    # Blocked since it started (see _Worker): killed by them mid-answer, it would lose the
    # batch. Ignored as well, should anything unblock them.
    for signum in _CALLERS_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    threading.Thread(target=_end_when_orphaned, args=(caller,), daemon=True).start()
    # For the process's life (see auditor.crawl.heap). A block, not a bare `__enter__()`: the
    # context manager left unreferenced was finalized at once, and with it its `finally`, so
    # the worker collected as often as CPython's defaults say.
    with fewer_collections():
        _answer(connection, task)


def _answer(connection: Connection, task: Task[Any, Any]) -> None:
    if not _sent(connection, _STARTED):
        return
    while True:
        try:
            message = connection.recv()
        except Exception:  # the caller ended (EOF) or was interrupted mid-message
            return
        if message is None:
            # Everything it answered was sent whole; an interpreter's orderly end (its modules
            # and frozen heap torn down) would keep the caller waiting 40 ms for nothing.
            sys.stderr.flush()
            os._exit(0)
        batch, option = message
        started = time.perf_counter()
        try:
            answer = task.packed(batch, option)
        except Exception:  # verified again by the caller, which raises it there
            answer = None
        if not _sent(connection, (answer, time.perf_counter() - started)):
            return


def _serve_forked(connection: Connection, callers_end: Connection, task: Task[Any, Any],
                  caller: int, collecting: bool) -> None:
    """`_serve` in a fork of the caller. Everything it inherited is the caller's: frozen out
    of the collector (which would otherwise finalize the caller's garbage here: a pooled
    database connection rolled back on the socket both share), and never torn down (it
    leaves by `os._exit`, as the interpreter's orderly end would flush, close and finalize
    what is the caller's)."""
    gc.freeze()
    if collecting:
        gc.enable()
    callers_end.close()  # else a caller killed outright would never be its end of file
    code = 1
    try:
        _serve(connection, task, caller)
        code = 0
    finally:
        os._exit(code)


def _sent(connection: Connection, message: object) -> bool:
    """Whether `message` went to the caller. A caller that stopped (Ctrl-C, SIGTERM: it closes
    the pipe and ends the worker) is no error of the worker's: raised, multiprocessing printed
    "Process verify-ahead:" and a traceback under the caller's one line."""
    try:
        connection.send(message)
    except OSError:
        return False
    return True


def _end_when_orphaned(caller: int) -> None:
    """A caller killed outright (SIGKILL) cannot end its worker: the worker ends itself."""
    while os.getppid() == caller:
        time.sleep(1)
    os._exit(0)
