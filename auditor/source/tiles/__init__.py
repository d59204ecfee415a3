"""Following tiled transparency logs (C2SP tlog-tiles): Rekor v2 shards, Tessera logs.

    client = TileClient("https://log2025-1.rekor.sigstore.dev/api/v2", fetcher,
                        cache=TileCache.for_log(cache_root, origin))
    checkpoint = LogKeyVerifier(origin, log_key)(client.checkpoint())
    history = check_history(stored_checkpoint, checkpoint, client)   # rollback / fork
    for batch in Scanner(client, KeyMatcher(pinned_spki)).scan(checkpoint, start=position):
        store(batch.matches, batch.unparsable, position=batch.end)     # one transaction

Everything read is verified against the signed checkpoint before it is reported; see
`tree` for how, `scanner` for what a batch holds.
"""

from auditor.source.tiles.cache import TileCache
from auditor.source.tiles.checkpoint import CheckpointVerifier, LogKeyVerifier
from auditor.source.tiles.client import Fetcher, TileClient
from auditor.source.tiles.errors import (
    CheckpointRejectedError,
    TileFormatError,
    TileMismatchError,
    TileMissingError,
)
from auditor.source.tiles.history import HistoryCheck, HistoryStatus, check_history
from auditor.source.tiles.layout import TileId, parse_tile_path
from auditor.source.tiles.rekor_v2 import KeyMatch, KeyMatcher, UnparsableEntryError
from auditor.source.tiles.scanner import MatchedEntry, ScanBatch, Scanner, UnparsableEntry
from auditor.source.tiles.tree import TiledTree

__all__ = [
    "CheckpointRejectedError",
    "CheckpointVerifier",
    "Fetcher",
    "HistoryCheck",
    "HistoryStatus",
    "KeyMatch",
    "KeyMatcher",
    "LogKeyVerifier",
    "MatchedEntry",
    "ScanBatch",
    "Scanner",
    "TileCache",
    "TileClient",
    "TileFormatError",
    "TileId",
    "TileMismatchError",
    "TileMissingError",
    "TiledTree",
    "UnparsableEntry",
    "UnparsableEntryError",
    "check_history",
    "parse_tile_path",
]
