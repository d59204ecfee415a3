"""The crawl tests' local log (see tests/crawl/world.py), and their own TUF caches."""

from pathlib import Path

import pytest

from tests.crawl.world import world

__all__ = ["own_tuf_directories", "world"]


@pytest.fixture
def own_tuf_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # sigstore keeps TUF metadata and targets per repository URL; a port used by an earlier
    # test's repository (other keys) must not be this one's.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
