"""Is a tiled log's new checkpoint an extension of one it signed before?

Tiled logs serve no consistency proofs: the root of the earlier size is recomputed from the new
tree's tiles, each verified against the new root (`TiledTree.root_at`), and compared with the
earlier checkpoint's root (RFC 9162 §2.1.4: consistency is exactly this prefix relation). A
smaller size is a rollback, another root a fork; either way the two signed checkpoints are the
evidence, and the outcome is a value, not an exception.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from auditor.source.tiles.tree import TiledTree, TileReader
from auditor.verify.checkpoint import Checkpoint


class HistoryStatus(enum.StrEnum):
    CONSISTENT = "consistent"
    ROLLBACK = "rollback"
    FORK = "fork"


@dataclass(frozen=True)
class HistoryCheck:
    status: HistoryStatus
    detail: str
    #: The checkpoint stored from before, and the newly verified one: both signed by the log.
    old: Checkpoint
    new: Checkpoint

    @property
    def ok(self) -> bool:
        return self.status is HistoryStatus.CONSISTENT


def check_history(old: Checkpoint, new: Checkpoint, reader: TileReader) -> HistoryCheck:
    """Compare two verified checkpoints of one log, reading tiles of the new tree if needed.

    Equal checkpoints need no tile. A tile that does not hash to the new root raises
    `TileMismatchError`: the new checkpoint's own tree is then broken, whatever the history.
    """
    if old.origin != new.origin:
        raise ValueError(f"checkpoints of two logs: {old.origin!r} and {new.origin!r}")
    if new.size < old.size:
        return HistoryCheck(
            HistoryStatus.ROLLBACK,
            f"{new.origin} now signs size {new.size}, smaller than the size {old.size} it "
            "signed before",
            old, new,
        )
    if new.size == old.size:
        if new.root_hash == old.root_hash:
            return HistoryCheck(HistoryStatus.CONSISTENT, f"unchanged at size {new.size}",
                                old, new)
        return _fork(old, new, new.root_hash)
    root = TiledTree(new.size, new.root_hash, reader).root_at(old.size)
    if root != old.root_hash:
        return _fork(old, new, root)
    return HistoryCheck(
        HistoryStatus.CONSISTENT,
        f"the tree of size {new.size} extends the tree of size {old.size}: its tiles give "
        f"the earlier root {root.hex()}",
        old, new,
    )


def _fork(old: Checkpoint, new: Checkpoint, root: bytes) -> HistoryCheck:
    return HistoryCheck(
        HistoryStatus.FORK,
        f"{new.origin} signed two histories: the tree of size {new.size} gives root "
        f"{root.hex()} for size {old.size}, where the earlier checkpoint signed "
        f"{old.root_hash.hex()}",
        old, new,
    )
