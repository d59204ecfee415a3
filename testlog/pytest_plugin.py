"""Pytest fixtures for the local Rekor.

Use them from a ``conftest.py`` with ``from testlog.pytest_plugin import *`` (or list this
module in the root conftest's ``pytest_plugins``):

- ``rekor_log``: an empty ``RekorLog`` on a ``ManualClock`` (``rekor_log.clock``);
- ``rekor_server``: that log served on 127.0.0.1 (``.url``, ``.faults``, ``.requests``);
- ``endorsers``: three component keys (``stage0``, ``kernel``, ``init_ram_fs``);
- ``tiled_log``: an empty ``TiledLog`` (C2SP tlog-tiles, Ed25519 checkpoints);
- ``tiled_server``: that log served on 127.0.0.1 (``.url``, ``.faults``, ``.requests``);
- ``publisher_index``: an empty ``PublisherIndex`` (Oak's files and links layout);
- ``index_server``: that index served on 127.0.0.1 (``.files_url``, ``.links_url``, ``.faults``,
  ``.requests``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testlog.log import ManualClock, RekorLog
from testlog.publisher import PublisherIndex
from testlog.publisher_server import RunningIndexServer, serve_index
from testlog.server import RunningServer, serve
from testlog.synthetic import Endorser
from testlog.tiles import TiledLog
from testlog.tiles_server import RunningTileServer, serve_tiles

__all__ = ["endorsers", "index_server", "publisher_index", "rekor_log", "rekor_server",
           "tiled_log", "tiled_server"]


@pytest.fixture
def rekor_log() -> RekorLog:
    return RekorLog(clock=ManualClock())


@pytest.fixture
def rekor_server(rekor_log: RekorLog) -> Iterator[RunningServer]:
    with serve(rekor_log) as server:
        yield server
    # An exception inside the test log is a bug of the test log, not of the code under test.
    assert not server.errors, server.errors[0]


@pytest.fixture
def endorsers() -> list[Endorser]:
    return [Endorser(name) for name in ("stage0", "kernel", "init_ram_fs")]


@pytest.fixture
def tiled_log() -> TiledLog:
    return TiledLog("tiles.testlog.example/log", clock=lambda: 1_767_225_600)


@pytest.fixture
def tiled_server(tiled_log: TiledLog) -> Iterator[RunningTileServer]:
    with serve_tiles(tiled_log) as server:
        yield server
    assert not server.errors, server.errors[0]


@pytest.fixture
def publisher_index() -> PublisherIndex:
    return PublisherIndex()


@pytest.fixture
def index_server(publisher_index: PublisherIndex) -> Iterator[RunningIndexServer]:
    with serve_index(publisher_index) as server:
        yield server
