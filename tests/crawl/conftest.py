"""The crawl tests' local log (see tests/crawl/world.py)."""

from tests.crawl.world import world

__all__ = ["world"]
