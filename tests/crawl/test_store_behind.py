"""Stores run behind the caller one at a time, in order, their errors raised where it waits."""

from __future__ import annotations

import threading
import time

import pytest

from auditor.crawl.store_behind import StoreBehind


def test_one_store_at_a_time_in_order_beside_the_caller() -> None:
    behind = StoreBehind()
    log: list[str] = []
    running = threading.Event()
    release = threading.Event()

    def slow(name: str) -> None:
        running.set()
        assert release.wait(10)
        log.append(name)

    behind.submit(lambda: slow("first"))
    assert running.wait(10)
    log.append("verified the next batch")  # the caller works while the store runs
    release.set()
    behind.submit(lambda: log.append("second"))  # waits for the first
    assert log[:2] == ["verified the next batch", "first"]
    behind.close()
    assert log == ["verified the next batch", "first", "second"]


def test_a_store_runs_on_another_thread_unless_inline() -> None:
    threads: list[threading.Thread] = []
    for inline in (False, True):
        behind = StoreBehind(inline=inline)
        behind.submit(lambda: threads.append(threading.current_thread()))
        behind.close()
    assert threads[0] is not threading.current_thread()
    assert threads[1] is threading.current_thread()


def test_an_error_is_raised_where_the_caller_waits_and_the_next_store_is_not_run() -> None:
    behind = StoreBehind()
    ran: list[str] = []

    def failing() -> None:
        time.sleep(0.05)
        raise RuntimeError("the database went away")

    behind.submit(failing)
    with pytest.raises(RuntimeError, match="went away"):
        behind.submit(lambda: ran.append("next"))
    assert ran == []
    behind.close()  # nothing left running


def test_close_waits_for_the_running_store_and_raises_its_error() -> None:
    behind = StoreBehind()
    stored = threading.Event()

    def store() -> None:
        time.sleep(0.05)
        stored.set()
        raise ValueError("rolled back")

    behind.submit(store)
    with pytest.raises(ValueError, match="rolled back"):
        behind.close()
    assert stored.is_set()
    behind.close()  # closing twice is harmless
