"""The test servers' request counter: counts by kind, and the most of a kind answered at once."""

from __future__ import annotations

import threading

from testlog.counter import RequestCounter


def test_the_peak_is_the_most_answered_at_once_per_kind() -> None:
    counter: RequestCounter[str] = RequestCounter()
    inside, release = threading.Barrier(4), threading.Event()

    def answer() -> None:
        with counter.answering("retrieve"):
            inside.wait()  # three at once, with the test
            release.wait()

    threads = [threading.Thread(target=answer) for _ in range(3)]
    for thread in threads:
        thread.start()
    inside.wait()
    with counter.answering("files"):
        pass
    release.set()
    for thread in threads:
        thread.join()
    with counter.answering("retrieve"):  # alone now: the peak stays
        pass
    assert counter["retrieve"] == 4 and counter.peak("retrieve") == 3
    assert counter["files"] == 1 and counter.peak("files") == 1
    counter.reset()
    assert counter.total == 0 and counter.peak("retrieve") == 0
