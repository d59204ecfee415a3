"""Build Sigstore bundles from Rekor v1 entry documents, field for field."""

from __future__ import annotations

import base64
from typing import Any

MEDIA_TYPES = {
    "0.1": "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "0.2": "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "0.3": "application/vnd.dev.sigstore.bundle.v0.3+json",
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tlog_entry(entry: dict[str, Any], kind: str, version: str, *,
               with_proof: bool = True) -> dict[str, Any]:
    """A bundle `tlogEntries` item carrying the same data as a Rekor v1 entry."""
    verification = entry["verification"]
    result: dict[str, Any] = {
        "logIndex": str(entry["logIndex"]),
        "logId": {"keyId": b64(bytes.fromhex(entry["logID"]))},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": str(entry["integratedTime"]),
        "inclusionPromise": {"signedEntryTimestamp": verification["signedEntryTimestamp"]},
        "canonicalizedBody": entry["body"],
    }
    if with_proof:
        proof = verification["inclusionProof"]
        result["inclusionProof"] = {
            "logIndex": str(proof["logIndex"]),
            "rootHash": b64(bytes.fromhex(proof["rootHash"])),
            "treeSize": str(proof["treeSize"]),
            "hashes": [b64(bytes.fromhex(h)) for h in proof["hashes"]],
            "checkpoint": {"envelope": proof["checkpoint"]},
        }
    return result


def bundle(media_version: str, entries: list[dict[str, Any]], content_key: str,
           content: dict[str, Any]) -> dict[str, Any]:
    return {
        "mediaType": MEDIA_TYPES[media_version],
        "verificationMaterial": {"publicKey": {"hint": "test"}, "tlogEntries": entries},
        content_key: content,
    }
