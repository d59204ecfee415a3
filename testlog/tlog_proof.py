"""C2SP signers and tlog-proofs for tests: log keys, witnesses, checkpoints and receipts.

Written from the specs (signed-note, tlog-checkpoint, tlog-cosignature, tlog-proof),
independently of the auditor's verifiers and without importing them, so that tests of one
against the other mean something. Each signer makes one kind of signature line:

- `LogSigner`: Ed25519 (type 0x01) over the note text, as Tessera and Rekor v2 logs sign.
- `Cosigner`: cosignature/v1 (type 0x04), Ed25519 over `cosignature/v1\\ntime T\\n` ‖ text.
- `SubtreeCosigner`: subtree/v1 (type 0x06), ML-DSA-44 over the binary `cosigned_message`;
  a log may sign its checkpoints this way too (then its name is the origin).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa

from testlog.merkle import MerkleTree

HEADER = "c2sp.org/tlog-proof@v1"
EM_DASH = "\u2014"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class NoteSigner:
    """A named signed-note key of one signature type."""

    type_byte: int

    def __init__(self, name: str, public_key: bytes) -> None:
        self.name = name
        self.public_key = public_key
        # signed-note: key ID = SHA-256(name || 0x0A || type || public key)[:4].
        self.key_id = hashlib.sha256(
            name.encode() + b"\n" + bytes([self.type_byte]) + public_key
        ).digest()[:4]

    @property
    def vkey(self) -> str:
        """signed-note verifier key: name+hex(key ID)+base64(type || key)."""
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([self.type_byte]) + self.public_key)}"

    def signature(self, note_text: bytes, timestamp: int) -> bytes:
        raise NotImplementedError

    def line(self, note_text: bytes, timestamp: int = 0) -> str:
        """`— name base64(key ID || signature)` with its newline."""
        blob = self.key_id + self.signature(note_text, timestamp)
        return f"{EM_DASH} {self.name} {b64(blob)}\n"


class LogSigner(NoteSigner):
    type_byte = 0x01

    def __init__(self, name: str, key: ed25519.Ed25519PrivateKey | None = None) -> None:
        self.private_key = key or ed25519.Ed25519PrivateKey.generate()
        super().__init__(name, self.private_key.public_key().public_bytes_raw())

    def signature(self, note_text: bytes, timestamp: int) -> bytes:
        return self.private_key.sign(note_text)


class Cosigner(LogSigner):
    """An Ed25519 key like a log's, under another type byte and message."""

    type_byte = 0x04

    def signature(self, note_text: bytes, timestamp: int) -> bytes:
        message = f"cosignature/v1\ntime {timestamp}\n".encode() + note_text
        return struct.pack(">Q", timestamp) + self.private_key.sign(message)


class SubtreeCosigner(NoteSigner):
    type_byte = 0x06

    def __init__(self, name: str, key: mldsa.MLDSA44PrivateKey | None = None) -> None:
        self.private_key = key or mldsa.MLDSA44PrivateKey.generate()
        super().__init__(name, self.private_key.public_key().public_bytes_raw())

    def signature(self, note_text: bytes, timestamp: int) -> bytes:
        origin, size, root = note_text.decode().split("\n")[:3]
        name, log = self.name.encode(), origin.encode()
        message = (
            b"subtree/v1\n\x00"
            + bytes([len(name)]) + name
            + struct.pack(">Q", timestamp)
            + bytes([len(log)]) + log
            + struct.pack(">QQ", 0, int(size))
            + base64.b64decode(root)
        )
        return struct.pack(">Q", timestamp) + self.private_key.sign(message)


def checkpoint_text(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> bytes:
    """The signed note text of a checkpoint (tlog-checkpoint "Note text")."""
    return "".join(f"{line}\n" for line in (origin, str(size), b64(root), *extensions)).encode()


def signed_checkpoint(
    text: bytes, signers: Sequence[tuple[NoteSigner, int]]
) -> str:
    """The note text, a blank line, and one signature line per (signer, timestamp)."""
    return text.decode() + "\n" + "".join(s.line(text, t) for s, t in signers)


def tlog_proof(
    tree: MerkleTree, index: int, checkpoint: str, *, size: int | None = None,
    extra: bytes | None = None,
) -> str:
    """A tlog-proof of leaf `index` in the first `size` leaves of `tree`, for `checkpoint`."""
    extra_line = f"extra {b64(extra)}\n" if extra is not None else ""
    path = "".join(f"{b64(h)}\n" for h in tree.inclusion_proof(index, size))
    return f"{HEADER}\n{extra_line}index {index}\n{path}\n{checkpoint}"


def logged_proof(
    entries: Sequence[bytes], index: int, log: NoteSigner,
    witnesses: Sequence[tuple[NoteSigner, int]] = (), *, extra: bool = False,
) -> str:
    """Log `entries`, sign the checkpoint by `log` and `witnesses`, prove entry `index`.

    With `extra`, the entry at `index` also travels as the proof's extra data (Oak's
    HashedRekord body).
    """
    tree = MerkleTree()
    for entry in entries:
        tree.append(entry)
    text = checkpoint_text(log.name, tree.size, tree.root())
    note = signed_checkpoint(text, [(log, 0), *witnesses])
    return tlog_proof(tree, index, note, extra=entries[index] if extra else None)
