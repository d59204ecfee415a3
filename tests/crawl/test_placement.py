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


def test_kept_starts_place_shards_whatever_order_the_log_lists_them_in() -> None:
    kept = {OLD: 0, MIDDLE: 5, ACTIVE: 12}
    for listed in ([(OLD, 5), (MIDDLE, 7)], [(MIDDLE, 7), (OLD, 5)]):
        offsets = ShardOffsets.of_heads(listed, ACTIVE, kept)
        assert offsets.offsets == kept and offsets.disorder is None
    # A rotation since: the shard first seen goes after the known ones, whatever its place in
    # the listing.
    rotated = ShardOffsets.of_heads([(ACTIVE, 4), (MIDDLE, 7), (OLD, 5)], HIDDEN, kept)
    assert rotated.offsets == {**kept, HIDDEN: 16} and rotated.disorder is None


def test_kept_starts_the_sizes_do_not_add_up_to_are_refused() -> None:
    # A frozen shard that grew, or one dropped from the listing: the next start moved.
    grown = ShardOffsets.of_heads([(OLD, 6), (MIDDLE, 7)], ACTIVE, {OLD: 0, MIDDLE: 5})
    assert grown.offsets == {OLD: 0}
    assert grown.disorder == f"tree {MIDDLE} starts at index 5, but the shards before it hold 6 " \
        "entries"
    assert grown.misplaced(entry(MIDDLE, 3, 99), MIDDLE) is None  # not judged
    dropped = ShardOffsets.of_heads([(MIDDLE, 7)], ACTIVE, {OLD: 0, MIDDLE: 5, ACTIVE: 12})
    assert dropped.offsets == {} and dropped.disorder is not None
