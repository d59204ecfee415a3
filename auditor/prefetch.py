"""Requests issued ahead of their use: the next batches are fetched while this one is verified.

A crawl alternates between waiting for the log and verifying what it sent. `prefetched` keeps
up to `ahead` calls in flight on worker threads and hands their results back in order, so the
waiting overlaps the verifying (the HTTP client is thread-safe and its rate limit is shared by
every thread; see `auditor.http_client`). A call that raised raises where its result is taken;
calls not yet taken when the consumer stops are cancelled, or left to finish unseen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

A = TypeVar("A")
R = TypeVar("R")


def prefetched(call: Callable[[A], R], arguments: Iterable[A], *,
               ahead: int, held: int = 0) -> Generator[R, None, None]:
    """`call(a)` for each argument, in order, with up to `ahead` calls running in advance
    (none: `ahead` 0), and up to `held` more results made ahead of their use (by those
    `ahead` workers: what they finish waits to be taken while they go on)."""
    if ahead < 1:
        yield from map(call, arguments)
        return
    pool = ThreadPoolExecutor(ahead, thread_name_prefix="prefetch")
    done = False
    try:
        yield from in_order(lambda argument: pool.submit(call, argument), arguments,
                            ahead + held + 1)
        done = True
    finally:
        # Ended early (an error, an interruption): nothing more starts, and the calls still
        # running are not waited for (an HTTP call may be retrying for minutes: its client
        # ends it when closed).
        pool.shutdown(wait=done, cancel_futures=True)


def in_order(submit: Callable[[A], Future[R]], arguments: Iterable[A],
             in_flight: int) -> Generator[R, None, None]:
    """The results of `submit(a)` for each argument, in order, with at most `in_flight`
    submitted and not yet taken; those not taken when the consumer stops are cancelled."""
    pending: deque[Future[R]] = deque()
    try:
        for argument in arguments:
            pending.append(submit(argument))
            if len(pending) >= in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
