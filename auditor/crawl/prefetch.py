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
               ahead: int) -> Generator[R, None, None]:
    """`call(a)` for each argument, in order, with up to `ahead` calls running in advance
    (none: `ahead` 0)."""
    if ahead < 1:
        yield from map(call, arguments)
        return
    pending: deque[Future[R]] = deque()
    upcoming = iter(arguments)
    with ThreadPoolExecutor(ahead, thread_name_prefix="prefetch") as pool:
        try:
            for argument in upcoming:
                pending.append(pool.submit(call, argument))
                if len(pending) > ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
