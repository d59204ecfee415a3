"""An on-disk cache of full tiles and entry bundles, so that a rescan fetches none twice.

tlog-tiles: full tiles and bundles are immutable, partial ones are not, so only full ones are
kept, at their resource path under the cache directory (one directory per log). The cache is
never trusted: a cached tile is verified like a fetched one, and one that no longer verifies is
fetched again (see `tree.TiledTree`, `scanner.Scanner`). Only verified bytes are written.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from auditor.source.tiles.layout import TileId

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class TileCache:
    """Full tiles and bundles of one log under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def for_log(cls, root: Path, origin: str) -> TileCache:
        """The cache of the log with checkpoint origin `origin`, in its own directory of `root`."""
        readable = _UNSAFE.sub("_", origin)[:64]
        digest = hashlib.sha256(origin.encode("utf-8")).hexdigest()[:12]
        return cls(root / f"{readable}-{digest}")

    def load(self, tile: TileId) -> bytes | None:
        """The cached bytes of full tile `tile`, or None."""
        if not tile.is_full:
            return None
        try:
            return (self.directory / tile.path).read_bytes()
        except FileNotFoundError:
            return None

    def store(self, tile: TileId, data: bytes) -> None:
        """Keep the verified bytes of full tile `tile` (partial tiles are ignored)."""
        if not tile.is_full:
            return
        path = self.directory / tile.path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write a temporary file beside it, then rename: readers see the old file or the
        # whole new one. No fsync: a torn file after a crash fails verification and is
        # fetched again.
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as out:
            out.write(data)
        try:
            os.replace(out.name, path)
        except OSError:
            os.unlink(out.name)
            raise
