"""Consistency of checkpoints from tiles: growth, rollback and fork, with both as evidence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tiles_logs import Contents, Source, connect, fill

from auditor.source.tiles import (
    HistoryStatus,
    LogKeyVerifier,
    TileMismatchError,
    check_history,
)
from testlog import RequestKind, RunningTileServer, TiledLog


@pytest.fixture
def source(tiled_log: TiledLog, tiled_server: RunningTileServer) -> Iterator[Source]:
    fill(tiled_log, 1300, Contents())
    source = connect(tiled_server)
    yield source
    source.close()


def test_a_grown_log_is_consistent(source: Source) -> None:
    old = source.checkpoint()
    for grow in (1, 255, 300, 70):
        fill(source.log, grow, Contents())
        new = source.checkpoint()
        check = check_history(old, new, source.client)
        assert check.ok and check.status is HistoryStatus.CONSISTENT, check.detail
        assert f"extends the tree of size {old.size}" in check.detail
        old = new


def test_every_earlier_size_is_consistent_with_the_current_tree(source: Source) -> None:
    log = source.log
    new = source.checkpoint()
    verify = LogKeyVerifier(log.name, log.public_key)
    for size in (0, 1, 2, 255, 256, 257, 511, 1024, 1280, 1299):
        old = verify(log.checkpoint(size))
        assert check_history(old, new, source.client).ok, size


def test_an_unchanged_log_needs_no_tile(source: Source) -> None:
    old = source.checkpoint()
    source.server.requests.reset()
    check = check_history(old, source.checkpoint(), source.client)
    assert check.ok and check.detail == "unchanged at size 1300"
    assert source.server.requests.total == 1


def test_a_rollback_is_evidenced_by_both_checkpoints(source: Source) -> None:
    old = source.checkpoint()
    source.server.faults.rollback(1000)
    new = source.checkpoint()
    check = check_history(old, new, source.client)
    assert check.status is HistoryStatus.ROLLBACK and not check.ok
    assert check.detail == ("tiles.testlog.example/log now signs size 1000, smaller than the "
                            "size 1300 it signed before")
    # Both checkpoints are signed by the log: the evidence stands on its own.
    verify = LogKeyVerifier(source.log.name, source.log.public_key)
    assert verify(check.old.raw) == old and verify(check.new.raw) == new


def test_a_fork_is_evidenced_by_both_checkpoints(source: Source) -> None:
    old = source.checkpoint()
    log = source.log
    source.server.faults.fork = log.fork(700, [b"other %d" % i for i in range(800)])
    new = source.checkpoint()
    assert new.size == 1500
    check = check_history(old, new, source.client)
    assert check.status is HistoryStatus.FORK
    assert check.detail.startswith("tiles.testlog.example/log signed two histories: the tree of "
                                   "size 1500 gives root ")
    assert check.old == old and check.new == new
    assert old.root_hash.hex() in check.detail


def test_a_fork_at_the_same_size_needs_no_tile(source: Source) -> None:
    old = source.checkpoint()
    source.server.faults.fork = source.log.fork(1299, [b"other"])
    source.server.requests.reset()
    check = check_history(old, source.checkpoint(), source.client)
    assert check.status is HistoryStatus.FORK
    assert source.server.requests[RequestKind.TILE] == 0


def test_a_tile_of_the_new_tree_that_does_not_verify_is_named(source: Source) -> None:
    old = source.checkpoint()
    fill(source.log, 300, Contents())
    new = source.checkpoint()
    source.server.faults.corrupt("tile/0/005")  # full now; the old edge at 1300 is in it
    with pytest.raises(TileMismatchError, match=r"^tile/0/005: "):
        check_history(old, new, source.client)


def test_checkpoints_of_two_logs_are_not_compared(source: Source) -> None:
    other = TiledLog("another.example/log")
    other.extend([b"a"])
    verify = LogKeyVerifier(other.name, other.public_key)
    with pytest.raises(ValueError, match="two logs"):
        check_history(verify(other.checkpoint()), source.checkpoint(), source.client)
