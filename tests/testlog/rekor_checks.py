"""Independent checks of Rekor v1 documents, for testing the local log.

Written from RFC 9162 and the signed-note format, not from ``testlog``'s code, and
validated against the genuine entries of the public log in ``tests/data/oak``
(``test_testlog_signing.py``): if these accept an entry the local log served, so would
a verifier of real Rekor entries.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

_SIGNATURE_LINE = re.compile(r"^\u2014 (\S+) ([A-Za-z0-9+/=]+)$")


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        raise ValueError("index outside the tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = _h(b"\x01" + p + r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _h(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r


def consistent(first: int, second: int, first_root: bytes, second_root: bytes,
               proof: list[bytes]) -> bool:  # fmt: skip
    """RFC 9162 §2.1.4.2."""
    if first == second:
        return not proof and first_root == second_root
    if not 0 < first < second or (not proof and first & (first - 1)):
        return False
    if first & (first - 1) == 0:
        proof = [first_root, *proof]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _h(b"\x01" + c + fr)
            sr = _h(b"\x01" + c + sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _h(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    signed: bytes  # the note text before the blank line, last newline included
    signatures: list[tuple[str, bytes, bytes]]  # (name, key hint, DER signature)


def parse_checkpoint(text: str) -> Checkpoint:
    note, sep, sigs = text.partition("\n\n")
    if not sep or not text.endswith("\n"):
        raise ValueError("not a signed note")
    lines = note.split("\n")
    if len(lines) < 3:
        raise ValueError("a checkpoint has origin, size and root")
    signatures = []
    for line in sigs.rstrip("\n").split("\n"):
        match = _SIGNATURE_LINE.match(line)
        if match is None:
            raise ValueError(f"bad signature line {line!r}")
        blob = base64.b64decode(match.group(2), validate=True)
        signatures.append((match.group(1), blob[:4], blob[4:]))
    return Checkpoint(lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True),
                      (note + "\n").encode(), signatures)  # fmt: skip


def spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def checkpoint_verifies(checkpoint: Checkpoint, key: ec.EllipticCurvePublicKey) -> bool:
    hint = _h(spki(key))[:4]
    for _name, key_hint, sig in checkpoint.signatures:
        if key_hint == hint:
            try:
                key.verify(sig, checkpoint.signed, ec.ECDSA(hashes.SHA256()))
                return True
            except Exception:
                return False
    return False


def set_verifies(entry: dict[str, Any], key: ec.EllipticCurvePublicKey) -> bool:
    payload = json.dumps(
        {k: entry[k] for k in ("body", "integratedTime", "logID", "logIndex")},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    sig = base64.b64decode(entry["verification"]["signedEntryTimestamp"])
    try:
        key.verify(sig, payload, ec.ECDSA(hashes.SHA256()))
        return True
    except Exception:
        return False


def entry_failures(document: dict[str, Any], key: ec.EllipticCurvePublicKey,
                   host: str = "rekor.sigstore.dev") -> list[str]:  # fmt: skip
    """Every check a Rekor v1 entry must pass (DOMAIN.md §5); the names of those failing."""
    ((uuid, entry),) = document.items()
    failures = []
    body = base64.b64decode(entry["body"])
    leaf = _h(b"\x00" + body)
    if uuid[-64:] != leaf.hex() or len(uuid) not in (64, 80):
        failures.append("uuid")
    if entry["logID"] != _h(spki(key)).hex():
        failures.append("log_id")
    proof = entry["verification"]["inclusionProof"]
    try:
        root = root_from_inclusion(proof["logIndex"], proof["treeSize"], leaf,
                                   [bytes.fromhex(h) for h in proof["hashes"]])  # fmt: skip
        if root.hex() != proof["rootHash"]:
            failures.append("inclusion")
    except ValueError:
        failures.append("inclusion")
    checkpoint = parse_checkpoint(proof["checkpoint"])
    if not checkpoint_verifies(checkpoint, key):
        failures.append("checkpoint_signature")
    if checkpoint.size != proof["treeSize"] or checkpoint.root.hex() != proof["rootHash"]:
        failures.append("checkpoint_mismatch")
    tree_hex = uuid[:16] if len(uuid) == 80 else None
    if tree_hex is not None and checkpoint.origin != f"{host} - {int(tree_hex, 16)}":
        failures.append("origin")
    if not set_verifies(entry, key):
        failures.append("set")
    return failures
