"""An entry's virtual logIndex against the place its inclusion proof and the heads give it."""

from __future__ import annotations

from auditor.crawl.placement import ShardOffsets
from auditor.source.entry import InclusionProof, LogEntry

OLD, MIDDLE, ACTIVE, HIDDEN = 11, 22, 33, 44


def entry(tree_id: int, leaf: int, log_index: int) -> LogEntry:
    checkpoint = (f"rekor.sigstore.dev - {tree_id}\n{leaf + 1}\n{'A' * 43}=\n\n"
                  f"\u2014 rekor.sigstore.dev AAAAAAAA\n")
    proof = InclusionProof(leaf, leaf + 1, bytes(32), (), checkpoint)
    return LogEntry(1, None, b"{}", "e30=", 1, bytes(32), log_index, proof, None)


def test_offsets_follow_the_inactive_shards_oldest_first_then_the_active_one() -> None:
    offsets = ShardOffsets.of_heads([(OLD, 5), (MIDDLE, 7)], ACTIVE)
    assert offsets.offsets == {OLD: 0, MIDDLE: 5, ACTIVE: 12}
    assert offsets.misplaced(entry(ACTIVE, 3, 15), ACTIVE) is None
    assert offsets.misplaced(entry(MIDDLE, 3, 15), MIDDLE) == (
        "the entry's logIndex 15 is not where its inclusion proof places it: leaf 3 of tree "
        f"{MIDDLE}, virtual index 8")
    # Past a shard whose head did not verify, no offset is known: nothing is judged.
    unknown = ShardOffsets.of_heads([(OLD, 5), None], ACTIVE)
    assert unknown.offsets == {OLD: 0}
    assert unknown.misplaced(entry(ACTIVE, 3, 99), ACTIVE) is None


def test_an_index_is_answered_only_by_the_entry_of_a_tree_the_heads_name() -> None:
    offsets = ShardOffsets.of_heads([(OLD, 5)], ACTIVE)
    assert offsets.answered_by(8, entry(ACTIVE, 3, 8)) is None
    assert offsets.answered_by(8, entry(ACTIVE, 2, 8)) == (
        f"index 8 was answered by the entry at leaf 2 of tree {ACTIVE} (index 7)")
    # A tree the log hides from its heads holds no index below their total size.
    assert offsets.answered_by(8, entry(HIDDEN, 8, 8)) == (
        f"index 8 was answered by an entry of tree {HIDDEN}, which the log's heads do not name")
    # No verified head: nothing to judge by (the heads' own faults say so).
    assert ShardOffsets().answered_by(8, entry(HIDDEN, 1, 8)) is None
