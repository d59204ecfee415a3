"""Build Sigstore bundles from Rekor v1 entry documents (field for field) and small Rekor v2
shards; turn bundle entries back into Rekor v1 entry documents."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from testlog import MerkleTree

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


def rekor_v1_entry(item: dict[str, Any]) -> dict[str, Any]:
    """The Rekor v1 API document (`GET /api/v1/log/entries/{uuid}`) a bundle entry came from.

    Field for field the inverse of `tlog_entry`; the UUID is the tree id (from the checkpoint
    origin `<host> - <treeID>`) and the leaf hash, as Rekor v1 prints it.
    """
    proof = item["inclusionProof"]
    tree_id = int(proof["checkpoint"]["envelope"].split("\n", 1)[0].rpartition(" - ")[2])
    body = base64.b64decode(item["canonicalizedBody"])
    uuid = f"{tree_id:016x}" + hashlib.sha256(b"\x00" + body).hexdigest()
    return {uuid: {
        "body": item["canonicalizedBody"],
        "integratedTime": int(item["integratedTime"]),
        "logID": base64.b64decode(item["logId"]["keyId"]).hex(),
        "logIndex": int(item["logIndex"]),
        "verification": {
            "inclusionProof": {
                "checkpoint": proof["checkpoint"]["envelope"],
                "hashes": [base64.b64decode(h).hex() for h in proof["hashes"]],
                "logIndex": int(proof["logIndex"]),
                "rootHash": base64.b64decode(proof["rootHash"]).hex(),
                "treeSize": int(proof["treeSize"]),
            },
            "signedEntryTimestamp": item["inclusionPromise"]["signedEntryTimestamp"],
        },
    }}


def spki(key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


class TiledLog:
    """A Rekor v2 shard in miniature: Ed25519 C2SP checkpoints over an RFC 9162 tree.

    Written from the specs (C2SP signed-note and tlog-checkpoint; rekor-v2 bodies) with the
    test log's own Merkle tree, independently of the auditor's verifier.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = ed25519.Ed25519PrivateKey.generate()
        self.tree = MerkleTree()
        self.bodies: list[bytes] = []

    @property
    def log_id(self) -> bytes:
        # C2SP signed-note key id: SHA-256(name ‖ 0x0A ‖ 0x01 (Ed25519) ‖ public key); its
        # first 4 bytes are the signature line's key hint. Sigstore uses all 32 as the logId.
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return hashlib.sha256(self.name.encode() + b"\n\x01" + raw).digest()

    def add(self, body: bytes) -> int:
        self.bodies.append(body)
        self.tree.append(body)
        return len(self.bodies) - 1

    def checkpoint(self) -> str:
        note = f"{self.name}\n{self.tree.size}\n{b64(self.tree.root())}\n"
        signature = self.key.sign(note.encode())
        return f"{note}\n\u2014 {self.name} {b64(self.log_id[:4] + signature)}\n"

    def tlog_entry(self, index: int, kind: str) -> dict[str, Any]:
        """A bundle `tlogEntries` item for leaf `index`: no integrated time, no promise."""
        return {
            "logIndex": str(index),
            "logId": {"keyId": b64(self.log_id)},
            "kindVersion": {"kind": kind, "version": "0.0.2"},
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": b64(self.tree.root()),
                "treeSize": str(self.tree.size),
                "hashes": [b64(h) for h in self.tree.inclusion_proof(index)],
                "checkpoint": {"envelope": self.checkpoint()},
            },
            "canonicalizedBody": b64(self.bodies[index]),
        }

    def trusted_root(self, base_url: str) -> dict[str, Any]:
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": base_url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(spki(self.key.public_key())),
                              "keyDetails": "PKIX_ED25519",
                              "validFor": {"start": "2025-01-01T00:00:00Z"}},
                "logId": {"keyId": b64(self.log_id)},
            }],
        }


def hashedrekord_v002(digest: bytes, signature: bytes,
                      key: ec.EllipticCurvePublicKey) -> bytes:
    """A Rekor v2 `hashedrekord` v0.0.2 body, as rekor-tiles canonicalises it."""
    body = {"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
        "data": {"algorithm": "SHA2_256", "digest": b64(digest)},
        "signature": {"content": b64(signature), "verifier": {
            "keyDetails": "PKIX_ECDSA_P256_SHA_256", "publicKey": {"rawBytes": b64(spki(key))}}},
    }}}
    return json.dumps(body, separators=(",", ":")).encode()
