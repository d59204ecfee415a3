"""A crawl collects garbage less often, and leaves the collector as it found it."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from auditor.crawl.heap import YOUNG_THRESHOLD, fewer_collections


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generation of each collection that starts while the test runs."""
    seen: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(count)
    try:
        yield seen
    finally:
        gc.callbacks.remove(count)


def _cycles(n: int) -> None:
    for _ in range(n):
        a: list[Any] = []
        a.append(a)  # garbage only a collection frees


def test_inside_young_passes_are_rarer_and_what_was_alive_is_frozen(
        collections: list[int]) -> None:
    before = gc.get_threshold()
    _cycles(20_000)
    outside = len(collections)
    collections.clear()
    with fewer_collections():
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
        assert gc.get_freeze_count() > 0
        _cycles(20_000)
        inside = len(collections)
        _cycles(2 * YOUNG_THRESHOLD)
        assert len(collections) > inside, "cyclic garbage is still collected"
    assert outside >= 10  # about one per 700 allocations by default
    assert inside <= 1
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_nested_and_concurrent_blocks_restore_once_the_last_ends() -> None:
    before = gc.get_threshold()
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with fewer_collections():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    with fewer_collections():
        thread.start()
        assert entered.wait(10)
        with fewer_collections():
            pass
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
    assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD), "the thread's block"
    release.set()
    thread.join(10)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_an_exception_restores_the_collector() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("the crawl failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
