"""Requests issued ahead of their use: in order, never more than `ahead` at once, errors where
their result is taken, nothing left running after the consumer stops."""

from __future__ import annotations

import threading
import time

import pytest

from auditor.prefetch import prefetched


class Calls:
    """A call that records how many run at once, and which ran."""

    def __init__(self, delay: float = 0.01, fail_on: int | None = None) -> None:
        self.delay = delay
        self.fail_on = fail_on
        self.running = 0
        self.most = 0
        self.started: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, n: int) -> int:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.started.append(n)
        try:
            time.sleep(self.delay)
            if n == self.fail_on:
                raise RuntimeError(f"call {n} failed")
            return n * n
        finally:
            with self._lock:
                self.running -= 1


@pytest.mark.parametrize("ahead", [0, 1, 3])
def test_results_come_in_order_with_at_most_ahead_calls_at_once(ahead: int) -> None:
    calls = Calls()
    assert list(prefetched(calls, range(20), ahead=ahead)) == [n * n for n in range(20)]
    assert calls.most == max(ahead, 1)
    assert sorted(calls.started) == list(range(20))


def test_the_next_call_runs_while_a_result_is_used() -> None:
    calls = Calls(delay=0.05)
    started = time.perf_counter()
    for _ in prefetched(calls, range(6), ahead=1):
        time.sleep(0.05)  # the consumer's work, overlapped with the next call
    # Sequentially: 6 calls + 6 uses = 0.6 s; overlapped: about 7 × 0.05 s.
    assert time.perf_counter() - started < 0.5


def test_a_failed_call_raises_where_its_result_is_taken() -> None:
    calls = Calls(fail_on=3)
    taken = []
    with pytest.raises(RuntimeError, match="call 3 failed"):
        for result in prefetched(calls, range(10), ahead=2):
            taken.append(result)
    assert taken == [0, 1, 4]
    assert max(calls.started) <= 3 + 2  # nothing beyond the window was started
    finished(calls)
    assert max(calls.started) <= 3 + 2


def test_a_consumer_that_stops_does_not_wait_and_nothing_more_starts() -> None:
    """The calls still running are left to end on their own (an HTTP call's client ends it
    when closed): an interrupted crawl must not wait out a retrying request."""
    calls = Calls(delay=0.5)
    results = prefetched(calls, range(100), ahead=3)
    assert next(results) == 0
    started = time.perf_counter()
    results.close()
    assert time.perf_counter() - started < 0.4  # not the 0.5 s of the calls still running
    assert calls.running > 0 and len(calls.started) <= 1 + 3 + 1
    finished(calls)
    assert len(calls.started) <= 1 + 3 + 1


def finished(calls: Calls) -> None:
    """Wait (a bounded time) for the calls still running to end."""
    deadline = time.monotonic() + 10
    while calls.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls.running == 0
