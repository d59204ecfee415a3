"""A transparency-log entry as received, from any source (Rekor v1 API, Sigstore bundle).

Nothing here is trusted: these are the fields the verifier will check, kept exactly as they
arrived (the base64 body text is kept verbatim because the SET signs it as received).
"""

from __future__ import annotations

from dataclasses import dataclass

#: A Rekor v2 shard, like any tiled log, is one tree under its own key: its log id names it,
#: and its one tree is stored as tree 0.
TILED_TREE_ID = 0


@dataclass(frozen=True)
class InclusionProof:
    #: Shard-local leaf index (Rekor v1's inclusionProof.logIndex), not the virtual index.
    log_index: int
    tree_size: int
    root_hash: bytes
    hashes: tuple[bytes, ...]
    #: The signed note binding root_hash and tree_size to the log key; None when absent.
    checkpoint: str | None


@dataclass(frozen=True)
class LogEntry:
    rekor_version: int
    #: 64-hex (leaf hash) or 80-hex (tree id ‖ leaf hash); None when the source carries none.
    uuid: str | None
    body: bytes
    #: The base64 body text exactly as received (signed by the SET).
    body_text: str
    #: Seconds since the epoch; None for Rekor v2, which records no integration time.
    integrated_time: int | None
    log_id: bytes
    #: Virtual index across shards (Rekor v1) or the shard index (Rekor v2).
    log_index: int
    proof: InclusionProof | None
    signed_entry_timestamp: bytes | None
    #: (kind, version) as declared by a bundle; the body is authoritative.
    declared_kind: tuple[str, str] | None = None
    #: The logID text exactly as received, where the source sends it as text (Rekor v1's
    #: API): the SET signs that text, not any other spelling of the same bytes.
    log_id_text: str | None = None

    @property
    def tree_id(self) -> int | None:
        """The shard (tree id) from an 80-hex UUID, else from the checkpoint origin; a Rekor v2
        entry is in its log's one tree."""
        if self.rekor_version == 2:
            return TILED_TREE_ID
        if self.uuid is not None and len(self.uuid) == 80:
            return int(self.uuid[:16], 16)
        if self.proof is not None and self.proof.checkpoint is not None:
            origin = self.proof.checkpoint.split("\n", 1)[0]
            _, sep, tree = origin.rpartition(" - ")
            if sep and tree.isdigit():
                return int(tree)
        return None
