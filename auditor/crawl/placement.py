"""Where a Rekor v1 entry's logIndex says it is, held against where its inclusion proof puts it.

Rekor v1's logIndex is virtual: the sizes of the shards before the entry's tree plus its index
in that tree, which the inclusion proof proves (sigstore/rekor `sharding.VirtualLogIndex`;
`GET /log` lists the inactive shards oldest first, but nothing signs that order, and a log
listing them in another order would move every index after the first it moved). Where a shard
starts is kept once known (`shards.first_virtual_index`: frozen shards never change size, so
it never moves) and decides from then on; the listing orders only shards first seen, after the
known ones (the newest: an honest log adds shards at its end). An order the kept starts and
the shards' sizes do not agree with is refused: no shard from there on is placed.

The signed entry timestamp signs the logIndex, but a hostile log signs what it likes: an entry
from another leaf, relabelled, could answer for an index, and the entry really there would go
unseen by a range scan or `--log-index` (which trust no search index), or be stored under a
place it does not hold.
The shards' sizes come from this run's verified heads; an entry of a tree they do not name
(the log rotated since) is not judged here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from auditor.source.entry import LogEntry
from auditor.verify.checkpoint import CheckpointFormatError, origin_tree_id, parse_checkpoint


def proof_tree_id(entry: LogEntry) -> int | None:
    """The tree id the origin of the entry's checkpoint names, if it parses (not verified:
    an entry whose checkpoint does not verify fails its own checks)."""
    if entry.proof is None or entry.proof.checkpoint is None:
        return None
    try:
        return origin_tree_id(parse_checkpoint(entry.proof.checkpoint).origin)
    except CheckpointFormatError:
        return None


@dataclass(frozen=True)
class ShardOffsets:
    """The virtual index of each known tree's first entry; why the rest are not placed."""

    offsets: dict[int, int] = field(default_factory=dict)
    #: Why the shards' kept starts and sizes disagree, if they do.
    disorder: str | None = None

    @classmethod
    def of_heads(cls, inactive: Sequence[tuple[int, int] | None], active: int | None,
                 known: Mapping[int, int] | None = None) -> ShardOffsets:
        """From the verified heads, (tree id, size) of each inactive shard as the log lists
        them (None: its head did not verify), the active tree id, and the starts `known`
        from earlier runs: past a shard of unknown size no offset is known."""
        known = known or {}
        if any(head is None for head in inactive):
            inactive = list(inactive[:[h is None for h in inactive].index(True)])
            active = None  # past a shard of unknown size
        heads = [head for head in inactive if head is not None]
        # Kept starts first, in their order; shards first seen after them, as listed.
        ordered = sorted((h for h in heads if h[0] in known), key=lambda h: known[h[0]]) + [
            h for h in heads if h[0] not in known]
        offsets: dict[int, int] = {}
        total = 0
        for tree_id, size in ordered:
            if known.get(tree_id, total) != total:
                return cls(offsets, f"tree {tree_id} starts at index {known[tree_id]}, but the "
                           f"shards before it hold {total} entries")
            offsets.setdefault(tree_id, total)
            total += size
        if active is not None:
            if known.get(active, total) != total:
                return cls(offsets, f"active tree {active} starts at index {known[active]}, "
                           f"but the inactive shards hold {total} entries")
            offsets.setdefault(active, total)
        return cls(offsets)

    def misplaced(self, entry: LogEntry, tree_id: int | None) -> str | None:
        """Why the entry's logIndex is not the place its proof (in tree `tree_id`) gives it,
        if it is not."""
        offset = None if tree_id is None else self.offsets.get(tree_id)
        if offset is None or entry.proof is None:
            return None
        place = offset + entry.proof.log_index
        if entry.log_index == place:
            return None
        return (f"the entry's logIndex {entry.log_index} is not where its inclusion proof places "
                f"it: leaf {entry.proof.log_index} of tree {tree_id}, virtual index {place}")

    def answered_by(self, index: int, entry: LogEntry) -> str | None:
        """Why the entry served for virtual index `index` is not the entry there, if not.

        The indexes asked for are below the verified heads' total size, so the entry there is
        in a tree the heads name: one from another tree (a tree the log hides) is not it."""
        tree_id = proof_tree_id(entry)
        if not self.offsets or tree_id is None or entry.proof is None:
            return None  # no verified head to judge by; or the entry fails its own checks
        offset = self.offsets.get(tree_id)
        if offset is None:
            return (f"index {index} was answered by an entry of tree {tree_id}, which the log's "
                    f"heads do not name")
        if offset + entry.proof.log_index == index:
            return None
        return (f"index {index} was answered by the entry at leaf {entry.proof.log_index} of "
                f"tree {tree_id} (index {offset + entry.proof.log_index})")
