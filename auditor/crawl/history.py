"""The log's history as we watched it: signed heads, per-shard checkpoint chains, consistency.

Every checkpoint seen is stored per tree id. Each new one must be consistent with the latest
stored one of the same tree (RFC 9162 §2.1.4.2), must not be smaller (rollback), must not share
a size with a different root (split view), and a frozen shard must never change. Any breach is
a LOG_INCONSISTENT finding with both checkpoints as evidence; a new active tree id is a
recorded rotation (SHARD_ROTATED), not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.findings import Finding
from auditor.source.rekor_client import RekorClient, ShardHead
from auditor.store import models
from auditor.store.repository import get_or_create, now, shard_row
from auditor.verify.checkpoint import (
    Checkpoint,
    CheckpointFormatError,
    CheckpointSignatureError,
    parse_checkpoint,
    verify_checkpoint,
)
from auditor.verify.entry import note_verifiers
from auditor.verify.merkle import ProofError, verify_consistency
from auditor.verify.trust import LogKey, LogKeyring


@dataclass
class HeadReport:
    """What observing the log's heads established."""

    log: models.Log | None = None
    log_key: LogKey | None = None
    heads: dict[int, Checkpoint] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def _evidence(tree_id: int, older: models.StoredCheckpoint | Checkpoint | str,
              newer: Checkpoint | str, **extra: Any) -> dict[str, Any]:
    def note(value: models.StoredCheckpoint | Checkpoint | str) -> str:
        if isinstance(value, models.StoredCheckpoint):
            return value.note
        return value.raw if isinstance(value, Checkpoint) else value
    return {"tree_id": tree_id, "checkpoint_before": note(older), "checkpoint_after": note(newer),
            **extra}


def inconsistent(tree_id: int, detail: str, older: models.StoredCheckpoint | Checkpoint | str,
                 newer: Checkpoint | str, **extra: Any) -> Finding:
    return Finding("LOG_INCONSISTENT", None, detail, _evidence(tree_id, older, newer, **extra),
                   identity=("tree_id", "checkpoint_before_size", "checkpoint_after_size",
                             "kind"))


def verified_checkpoint(text: str, keyring: LogKeyring) -> tuple[Checkpoint, LogKey] | str:
    """Parse and verify a checkpoint under any pinned log key; a reason string on failure."""
    try:
        checkpoint = parse_checkpoint(text)
    except CheckpointFormatError as error:
        return f"malformed checkpoint: {error}"
    for key in keyring.keys:
        verifiers = note_verifiers(key, checkpoint)
        if not verifiers:
            continue
        try:
            verify_checkpoint(checkpoint, verifiers)
        except CheckpointSignatureError:
            continue
        return checkpoint, key
    return "checkpoint is not signed by any pinned log key"


class History:
    """Checks and records checkpoints of one log against what the database already holds."""

    def __init__(self, session: Session, client: RekorClient, log: models.Log) -> None:
        self.session = session
        self.client = client
        self.log = log

    def latest(self, shard: models.Shard) -> models.StoredCheckpoint | None:
        return self.session.scalar(
            select(models.StoredCheckpoint)
            .where(models.StoredCheckpoint.shard_pk == shard.id)
            .order_by(models.StoredCheckpoint.size.desc(), models.StoredCheckpoint.id.desc())
            .limit(1)
        )

    def same_size(self, shard: models.Shard, size: int) -> list[models.StoredCheckpoint]:
        return list(self.session.scalars(select(models.StoredCheckpoint).where(
            models.StoredCheckpoint.shard_pk == shard.id, models.StoredCheckpoint.size == size)))

    def prove(self, tree_id: int, smaller: Checkpoint | models.StoredCheckpoint,
              larger: Checkpoint) -> str | None:
        """Fetch and verify a consistency proof; the failure reason, or None when consistent."""
        small_size = smaller.size
        small_root = smaller.root_hash if isinstance(smaller, Checkpoint) else bytes.fromhex(
            smaller.root_hash)
        if small_size == 0:
            return None
        proof = self.client.consistency_proof(small_size, larger.size, tree_id)
        try:
            verify_consistency(small_size, larger.size, small_root, larger.root_hash, proof.hashes)
        except ProofError as error:
            return str(error)
        return None

    def observe(self, tree_id: int, checkpoint: Checkpoint, *, frozen: bool = False,
                head: bool = False) -> list[Finding]:
        """Check `checkpoint` against the stored chain of `tree_id`, then store it.

        `head` marks the log's own current head, which must never go backwards; an entry's
        checkpoint may be older than what we hold, as long as a proof binds the two.
        """
        shard = shard_row(self.session, self.log, tree_id)
        findings: list[Finding] = []
        root = checkpoint.root_hash.hex()
        for other in self.same_size(shard, checkpoint.size):
            if other.root_hash != root:
                findings.append(inconsistent(
                    tree_id, f"split view: tree {tree_id} has two roots for size "
                    f"{checkpoint.size}", other, checkpoint, kind="split_view",
                    checkpoint_before_size=other.size, checkpoint_after_size=checkpoint.size))
        latest = self.latest(shard)
        if latest is not None and not findings:
            findings.extend(self._against_latest(shard, tree_id, latest, checkpoint, head))
        get_or_create(self.session, models.StoredCheckpoint,
                      {"shard_pk": shard.id, "size": checkpoint.size, "root_hash": root},
                      note=checkpoint.raw, signature_ok=True, seen_at=now())
        if frozen and not shard.frozen:
            shard.frozen = True
        return findings

    def _against_latest(self, shard: models.Shard, tree_id: int,
                        latest: models.StoredCheckpoint, checkpoint: Checkpoint,
                        head: bool) -> list[Finding]:
        sizes = {"checkpoint_before_size": latest.size, "checkpoint_after_size": checkpoint.size}
        if checkpoint.size < latest.size and head:
            # A head must never go backwards; a log serving an old head may not even be able
            # to prove anything about the newer one, so no proof is asked for.
            return [inconsistent(tree_id, f"the log head of tree {tree_id} went back from "
                                 f"size {latest.size} to {checkpoint.size} (rollback)",
                                 latest, checkpoint, kind="rollback", **sizes)]
        if checkpoint.size < latest.size:
            # An entry's older checkpoint is fine once a proof binds it to what we hold.
            reason = self.prove(tree_id, checkpoint, parse_checkpoint(latest.note))
            if reason is None:
                return []
            return [inconsistent(tree_id, f"tree {tree_id} at size {checkpoint.size} is not a "
                                 f"prefix of the stored size {latest.size}: {reason}", latest,
                                 checkpoint, kind="fork", **sizes)]
        if checkpoint.size == latest.size:
            return []  # same root: a differing root was reported as a split view
        if shard.frozen:
            return [inconsistent(tree_id, f"frozen shard {tree_id} grew from size {latest.size} "
                                 f"to {checkpoint.size}", latest, checkpoint,
                                 kind="frozen_changed", **sizes)]
        reason = self.prove(tree_id, latest, checkpoint)
        if reason is not None:
            return [inconsistent(tree_id, f"consistency proof from size {latest.size} to "
                                 f"{checkpoint.size} of tree {tree_id} fails: {reason}",
                                 latest, checkpoint, kind="consistency", **sizes)]
        return []


def observe_heads(session: Session, client: RekorClient, keyring: LogKeyring,
                  log_for: Any) -> HeadReport:
    """Fetch `GET /log`, verify every shard head and check it against stored history.

    `log_for(log_key)` returns the Log row for the verifying key (created if needed).
    """
    info = client.log_info()
    report = HeadReport()
    heads: list[tuple[ShardHead, bool]] = [(info.active, False)] + [
        (head, True) for head in info.inactive]
    for head, frozen in heads:
        result = verified_checkpoint(head.checkpoint, keyring)
        if isinstance(result, str) or (result[0].size, result[0].root_hash) != (
                head.tree_size, head.root_hash):
            reason = result if isinstance(result, str) else (
                f"the signed checkpoint says size {result[0].size}, the response "
                f"{head.tree_size}")
            report.findings.append(Finding(
                "CHECKPOINT_INVALID", None, f"log head of tree {head.tree_id}: {reason}",
                {"tree_id": head.tree_id, "tree_size": head.tree_size,
                 "root_hash": head.root_hash.hex(), "checkpoint": head.checkpoint},
                identity=("tree_id", "tree_size", "root_hash")))
            continue
        checkpoint, key = result
        if report.log is None:
            report.log, report.log_key = log_for(key), key
        assert report.log is not None
        history = History(session, client, report.log)
        report.findings.extend(history.observe(head.tree_id, checkpoint, frozen=frozen,
                                               head=True))
        report.heads[head.tree_id] = checkpoint
    if report.log is None:
        # No head verified: entries are still verified one by one, against the pinned key.
        report.log_key = keyring.keys[0]
        report.log = log_for(report.log_key)
    report.findings.extend(_rotations(session, report, info.active.tree_id))
    return report


def _rotations(session: Session, report: HeadReport, active: int) -> list[Finding]:
    """A previously active shard that is now frozen means the log rotated to a new tree."""
    assert report.log is not None
    known = list(session.scalars(select(models.Shard).where(
        models.Shard.log_pk == report.log.id)))
    findings = []
    for shard in known:
        if shard.tree_id == active:
            continue
        if not shard.frozen:
            shard.frozen = True
        findings.append(Finding(
            "SHARD_ROTATED", None, f"tree {shard.tree_id} is frozen; the active tree is {active}",
            {"frozen_tree_id": shard.tree_id, "active_tree_id": active},
            identity=("frozen_tree_id", "active_tree_id")))
    return findings
