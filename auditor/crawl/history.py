"""The log's history as we watched it: signed heads, per-shard checkpoint branches, faults.

Every verified checkpoint is stored per tree. A new one is checked against **every tip** of its
tree's stored history (each checkpoint no larger one is proven to extend), not only the latest:
an honest log has one tip; a log that showed a split view keeps two, and every later head is
held against both. Breaches are `LOG_INCONSISTENT` faults with both checkpoints as evidence:

- split view: two roots for one size;
- rollback: the log's head went back below what it showed before;
- fork / consistency: no RFC 9162 consistency proof binds the two (§2.1.4.2);
- frozen shard that grew.

Faults are stored and every later run reports them again (a run never forgets what an earlier
one proved) until an operator suppresses the finding. A fault's fingerprint is anchored on the
stored checkpoint it contradicts, so a log that stays on a fork raises one finding, not one per
run. How a consistency proof is obtained is the log protocol's business (Rekor v1 serves them;
a tiled log's is computed from tiles): it is the `Prover` given in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from auditor.findings import Finding, RuleId
from auditor.store import history as stored
from auditor.store import models
from auditor.verify.checkpoint import (
    Checkpoint,
    CheckpointFormatError,
    CheckpointSignatureError,
    parse_checkpoint,
    verify_checkpoint,
)
from auditor.verify.entry import note_verifiers
from auditor.verify.trust import LogKey, LogKeyring


@dataclass(frozen=True)
class TreeState:
    """A (size, root hash) of one tree."""

    size: int
    root_hash: bytes

    @classmethod
    def of(cls, checkpoint: Checkpoint | models.StoredCheckpoint) -> TreeState:
        if isinstance(checkpoint, Checkpoint):
            return cls(checkpoint.size, checkpoint.root_hash)
        return cls(checkpoint.size, bytes.fromhex(checkpoint.root_hash))


#: (tree id, smaller, larger) -> None when a consistency proof binds them, else why not.
Prover = Callable[[int, TreeState, TreeState], str | None]


def _note(value: models.StoredCheckpoint | Checkpoint) -> str:
    return value.note if isinstance(value, models.StoredCheckpoint) else value.raw


def inconsistent(tree_id: int, kind: str, detail: str, stored: models.StoredCheckpoint,
                 seen: Checkpoint, **extra: Any) -> Finding:
    """A LOG_INCONSISTENT finding anchored on the stored checkpoint `stored`."""
    before, after = (stored, seen) if stored.size <= seen.size else (seen, stored)
    evidence = {"tree_id": tree_id, "kind": kind, "checkpoint_before": _note(before),
                "checkpoint_after": _note(after), "checkpoint_before_size": before.size,
                "checkpoint_after_size": after.size, "stored_size": stored.size,
                "stored_root": stored.root_hash, **extra}
    return Finding(RuleId.LOG_INCONSISTENT, None, detail, evidence,
                   identity=("tree_id", "kind", "stored_size", "stored_root"))


def verified_checkpoint(text: str, keyring: LogKeyring, when: Any = None
                        ) -> tuple[Checkpoint, LogKey] | str:
    """Parse and verify a checkpoint under a pinned log key valid at `when` (a datetime; None:
    any time); a reason string on failure."""
    try:
        checkpoint = parse_checkpoint(text)
    except CheckpointFormatError as error:
        return f"malformed checkpoint: {error}"
    expired = False
    for key in keyring.keys:
        verifiers = note_verifiers(key, checkpoint)
        if not verifiers:
            continue
        try:
            verify_checkpoint(checkpoint, verifiers)
        except CheckpointSignatureError:
            continue
        if not key.valid_at(when):
            expired = True
            continue
        return checkpoint, key
    if expired:
        return "checkpoint is signed by a pinned log key outside its validity window"
    return "checkpoint is not signed by any pinned log key"


def keep_unproven(session: Session, log: models.Log,
                  heads: Iterable[tuple[int, Checkpoint]]) -> None:
    """Store verified heads (tree id, checkpoint) whose place in the log's history could not be
    judged: the log did not serve the proof that they extend what is stored, and the run ended
    incomplete. What the log signed stays its word: the next head is held against them (back
    below one is a rollback; a proof is asked of them again), where forgetting them let a log
    sign a larger tree, withhold its proof, go back, and be clean."""
    for tree_id, checkpoint in heads:
        row, _ = stored.add_checkpoint(session, stored.shard(session, log, tree_id), checkpoint)
        stored.served_as_head(row)


class History:
    """Checks and records checkpoints of one log against what the database already holds."""

    def __init__(self, session: Session, log: models.Log, prove: Prover) -> None:
        self.session = session
        self.log = log
        self.prove = prove

    def observe(self, tree_id: int, checkpoint: Checkpoint, *, head: bool = False,
                frozen: bool = False) -> list[Finding]:
        """Check a verified `checkpoint` of `tree_id` against the stored tips, then store it.

        `head`: the log's own current head, which must never go back; `frozen`: the log says
        the tree is frozen. Every fault found is stored before it is returned.

        A head is judged even when stored before: a log that goes back to a head it once showed
        (a freeze, or hiding what it signed since) has not shown anything new, and a head at the
        tip of its tree costs no request. Other checkpoints were judged when first stored.
        """
        shard = stored.shard(self.session, self.log, tree_id)
        row, new = stored.add_checkpoint(self.session, shard, checkpoint)
        findings: list[Finding] = []
        if new or head:
            findings = self._judge(shard, tree_id, checkpoint, row, head)
        if head:
            stored.served_as_head(row)
        if frozen and not shard.frozen:
            shard.frozen = True
        for finding in findings:
            stored.record_fault(self.session, self.log, tree_id, finding.evidence["kind"],
                                finding)
        return findings

    def _judge(self, shard: models.Shard, tree_id: int, checkpoint: Checkpoint,
               row: models.StoredCheckpoint, head: bool) -> list[Finding]:
        split = [other for other in stored.same_size(self.session, shard, checkpoint.size)
                 if other.id != row.id]
        findings = [inconsistent(tree_id, "split_view", f"split view: tree {tree_id} has two "
                                 f"roots for size {checkpoint.size}", other, checkpoint)
                    for other in split]
        largest = max((t for t in stored.tips(self.session, shard) if t.id != row.id),
                      key=lambda t: t.size, default=None)
        if largest is not None and head and checkpoint.size < largest.size:
            # A head never goes back; a log serving an old head may not even be able to prove
            # anything about the newer one, so no proof is asked for.
            return [*findings, inconsistent(
                tree_id, "rollback", f"the log head of tree {tree_id} went back from size "
                f"{largest.size} to {checkpoint.size} (rollback)", largest, checkpoint)]
        if largest is not None and shard.frozen and checkpoint.size > largest.size:
            return [*findings, inconsistent(
                tree_id, "frozen_changed", f"frozen shard {tree_id} grew from size "
                f"{largest.size} to {checkpoint.size}", largest, checkpoint)]
        return findings + self._against_tips(shard, tree_id, checkpoint, row)

    def _against_tips(self, shard: models.Shard, tree_id: int, checkpoint: Checkpoint,
                      row: models.StoredCheckpoint) -> list[Finding]:
        """Prove `checkpoint` consistent with every tip; a proven prefix stops being a tip."""
        findings = []
        seen = TreeState.of(checkpoint)
        for tip in stored.tips(self.session, shard):
            if tip.id == row.id or tip.size == checkpoint.size:
                continue  # equal sizes with different roots were a split view
            tip_state = TreeState.of(tip)
            smaller, larger = (tip_state, seen) if tip.size < seen.size else (seen, tip_state)
            reason = self.prove(tree_id, smaller, larger) if smaller.size > 0 else None
            if reason is None:
                (tip if tip.size < seen.size else row).extended = True
                continue
            kind = "consistency" if tip.size < seen.size else "fork"
            findings.append(inconsistent(
                tree_id, kind, f"tree {tree_id}: no consistency proof binds size {smaller.size} "
                f"to size {larger.size}: {reason}", tip, checkpoint))
        return findings
