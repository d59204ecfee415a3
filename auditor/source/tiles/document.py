"""A tiled-log entry as the auditor stores it: the entry's bytes and the proof built for it.

A tiled log serves no per-entry document (Rekor v2 has no get-by-index). What the auditor keeps,
as raw format `rekor-v2-tile`, is the entry exactly as logged, its index, and the RFC 9162
inclusion proof computed from verified tiles with the signed checkpoint it leads to: every
check can be run again later without the log. The entry is named by its leaf hash, as a
64-hex Rekor v1 UUID is, so that findings about it are told apart.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from auditor.errors import InputError
from auditor.source.entry import InclusionProof, LogEntry
from auditor.source.tiles.scanner import MatchedEntry
from auditor.verify.merkle import HASH_SIZE, leaf_hash

RAW_FORMAT = "rekor-v2-tile"


def log_entry(index: int, entry: bytes, proof: InclusionProof, log_id: bytes) -> LogEntry:
    """The entry as `verify_entry` takes it, like a Rekor v2 bundle's, named by its leaf hash."""
    return LogEntry(
        rekor_version=2,
        uuid=leaf_hash(entry).hex(),
        body=entry,
        body_text=base64.b64encode(entry).decode("ascii"),
        integrated_time=None,
        log_id=log_id,
        log_index=index,
        proof=proof,
        signed_entry_timestamp=None,
    )


def entry_document(match: MatchedEntry, origin: str) -> bytes:
    """The stored document of a matched entry (canonical JSON)."""
    proof = match.proof
    document = {
        "origin": origin,
        "log_index": match.index,
        "entry": base64.b64encode(match.entry).decode("ascii"),
        "inclusion_proof": {
            "tree_size": proof.tree_size,
            "root_hash": proof.root_hash.hex(),
            "hashes": [h.hex() for h in proof.hashes],
            "checkpoint": proof.checkpoint,
        },
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def parse_entry_document(raw: bytes, log_id: bytes, where: str) -> LogEntry:
    """The `LogEntry` of a stored document; `InputError` naming `where` if it is malformed."""
    try:
        document = json.loads(raw)
        proof = document["inclusion_proof"]
        index, size = _count(document["log_index"]), _count(proof["tree_size"])
        entry = base64.b64decode(document["entry"], validate=True)
        hashes = tuple(_hash(h) for h in proof["hashes"])
        checkpoint = proof["checkpoint"]
        if not isinstance(checkpoint, str):
            raise TypeError("checkpoint is not text")
        inclusion = InclusionProof(index, size, _hash(proof["root_hash"]), hashes, checkpoint)
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise InputError(f"{where}: not a stored {RAW_FORMAT} document ({error})") from None
    return log_entry(index, entry, inclusion, log_id)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 63:
        raise ValueError(f"{value!r} is not an index or size")
    return value


def _hash(value: Any) -> bytes:
    digest = bytes.fromhex(value) if isinstance(value, str) else b""
    if len(digest) != HASH_SIZE:
        raise ValueError(f"{value!r} is not a hex SHA-256 hash")
    return digest
