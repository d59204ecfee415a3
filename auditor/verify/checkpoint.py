"""Signed checkpoints: C2SP signed notes carrying a tlog checkpoint (tree size and root hash).

Formats: https://github.com/C2SP/C2SP/blob/main/signed-note.md and tlog-checkpoint.md, as
implemented by golang.org/x/mod/sumdb/note. Two key flavours:

- Rekor v1: ECDSA P-256; key hint = sha256(SPKI DER)[:4]; signature = DER ECDSA-SHA256.
- Rekor v2 and other C2SP logs: Ed25519; key id = sha256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4];
  signature = 64 raw bytes.

A checkpoint read from a log is hostile input. `parse_checkpoint` is strict and raises only
`CheckpointFormatError` (an `InputError`); a signature that does not verify is an expected
outcome, raised as `CheckpointSignatureError` for the caller to turn into a failed check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from auditor.errors import InputError
from auditor.source.fields import INT64_MAX
from auditor.wording import ORIGIN_CHARS, bounded, counted, quoted

# signed-note: a signature line starts with an em dash (U+2014) and a space.
SIGNATURE_PREFIX = "\u2014 "
# golang.org/x/mod/sumdb/note rejects notes with more than 100 signatures; so do we, which
# also bounds the work a hostile note can cause.
MAX_SIGNATURES = 100
# signed-note: "or, equivalently, to the overall size of a note". 100 ML-DSA-44 cosignature
# lines are ~330 KiB; a bigger note (a 30 MB origin line took 4.5 s to check, character by
# character) is refused before it is looked at.
MAX_NOTE_SIZE = 1 << 20
KEY_HINT_SIZE = 4
# The signature lines of unknown keys a rejection names.
_NAMED_LINES = 5
ROOT_HASH_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
# tlog-checkpoint: the size is a uint64 in ASCII decimal, without leading zeros. The auditor
# holds a log's sizes and indexes as int64 (Rekor's type, and the database's BIGINT), so a size
# above INT64_MAX is refused: stored, it ended the run. No log comes near either bound.
_MAX_TREE_SIZE = INT64_MAX
CANONICAL_DECIMAL = re.compile(r"0|[1-9][0-9]*")
#: A Rekor v1 origin `<log name> - <treeID>`; Trillian tree ids are positive int64s, the
#: origin spells one in canonical decimal.
_TREE_ID_DIGITS = len(str(INT64_MAX))
# signed-note: the algorithm byte of Ed25519 keys in the key id.
_ED25519_ALGORITHM = 0x01


def origin_tree_id(origin: str, name: str | None = None) -> int | None:
    """The tree id a Rekor v1 checkpoint origin names (`<name> - <treeID>`, in canonical
    decimal, under `name` when given); None if it names none. One spelling per tree: an id
    with a leading zero or in other digits (`０１`) would be a second name for it, and an
    origin naming no tree id puts its checkpoint beyond any tree's history."""
    head, sep, tree = origin.rpartition(" - ")
    if not sep or (name is not None and head != name) or len(tree) > _TREE_ID_DIGITS \
            or not CANONICAL_DECIMAL.fullmatch(tree) or int(tree) > INT64_MAX:
        return None
    return int(tree)


class CheckpointFormatError(InputError):
    """A checkpoint that is not a well-formed signed note with a tlog checkpoint body."""


class CheckpointSignatureError(Exception):
    """No signature line of a trusted key verifies; the message says why."""


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: `— <name> base64(key_hint ‖ signature)`."""

    name: str
    key_hint: bytes
    signature: bytes


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    #: Lines after the root hash (tlog-checkpoint "extension lines"), without newlines.
    extensions: tuple[str, ...]
    #: The bytes every signature covers: the note text up to and including its final newline.
    signed_text: bytes
    signatures: tuple[NoteSignature, ...]
    raw: str


class NoteVerifier(Protocol):
    """A trusted key for signature lines named `name` with key hint `key_hint`."""

    @property
    def name(self) -> str: ...

    @property
    def key_hint(self) -> bytes: ...

    def verify(self, signed_text: bytes, signature: bytes) -> bool: ...


# --- parsing ---------------------------------------------------------------------------------


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a signed checkpoint strictly; raise `CheckpointFormatError` naming the defect."""
    if not isinstance(text, str):
        raise CheckpointFormatError(f"checkpoint must be text, not {type(text).__name__}")
    if len(text) > MAX_NOTE_SIZE:
        raise CheckpointFormatError(f"checkpoint is {len(text)} characters, more than 1 MiB")
    _check_characters(text)
    # signed-note: text ending in a newline, a blank line, then the signature lines. Checkpoint
    # text has no empty lines, so the first blank line is the separator.
    split = text.find("\n\n")
    if split < 0:
        raise CheckpointFormatError("checkpoint has no blank line before its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    origin, size, root_hash, extensions = _parse_body(body)
    return Checkpoint(
        origin=origin,
        size=size,
        root_hash=root_hash,
        extensions=extensions,
        signed_text=body.encode("utf-8"),
        signatures=_parse_signature_block(block),
        raw=text,
    )


def _check_characters(text: str) -> None:
    # signed-note: valid UTF-8 and no ASCII control characters other than newline.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise CheckpointFormatError(
            f"checkpoint is not valid UTF-8 text (character {error.start})"
        ) from None
    for position, char in enumerate(text):
        if char < " " and char != "\n":
            raise CheckpointFormatError(
                f"checkpoint has control character {char!r} at position {position}"
            )


def parse_checkpoint_body(signed_text: bytes) -> tuple[str, int, bytes, tuple[str, ...]]:
    """(origin, size, root hash, extension lines) of a checkpoint's signed note text."""
    try:
        body = signed_text.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointFormatError("checkpoint text is not valid UTF-8") from None
    if not body.endswith("\n") or "\n\n" in body:
        raise CheckpointFormatError("checkpoint text has an empty line or no final newline")
    _check_characters(body)
    return _parse_body(body)


def _parse_body(body: str) -> tuple[str, int, bytes, tuple[str, ...]]:
    """tlog-checkpoint: origin, decimal size, base64 root hash, then extension lines."""
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointFormatError(
            f"checkpoint text has {counted(len(lines), 'line')}; it needs origin, tree size and "
            "root hash"
        )
    origin, size_line, root_line, *extensions = lines
    if not origin:
        raise CheckpointFormatError("checkpoint origin line is empty")
    if not CANONICAL_DECIMAL.fullmatch(size_line):
        raise CheckpointFormatError(
            f"checkpoint tree size {excerpt(size_line)} is not a canonical decimal number"
        )
    # The length first: int() refuses numbers of more than 4300 digits with a ValueError.
    if len(size_line) > len(str(_MAX_TREE_SIZE)) or int(size_line) > _MAX_TREE_SIZE:
        raise CheckpointFormatError(
            f"checkpoint tree size {excerpt(size_line)} is more than {_MAX_TREE_SIZE} (2^63 - 1), "
            "the largest log size the auditor holds"
        )
    size = int(size_line)
    root_hash = strict_b64decode(root_line, "checkpoint root hash")
    if len(root_hash) != ROOT_HASH_SIZE:
        raise CheckpointFormatError(
            f"checkpoint root hash is {len(root_hash)} bytes, expected {ROOT_HASH_SIZE}"
        )
    return origin, size, root_hash, tuple(extensions)


def _parse_signature_block(block: str) -> tuple[NoteSignature, ...]:
    if not block:
        raise CheckpointFormatError("checkpoint has no signature lines")
    if not block.endswith("\n"):
        raise CheckpointFormatError("checkpoint's last signature line does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointFormatError(
            f"checkpoint has {len(lines)} signature lines, more than {MAX_SIGNATURES}"
        )
    return tuple(_parse_signature_line(i, line) for i, line in enumerate(lines, 1))


def _parse_signature_line(number: int, line: str) -> NoteSignature:
    where = f"checkpoint signature line {number}"
    if not line.startswith(SIGNATURE_PREFIX):
        raise CheckpointFormatError(f"{where} does not start with an em dash and a space")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not valid_key_name(name):
        raise CheckpointFormatError(f"{where} has an invalid key name {excerpt(name)}")
    blob = strict_b64decode(encoded, where)
    if len(blob) <= KEY_HINT_SIZE:
        raise CheckpointFormatError(f"{where} holds {len(blob)} bytes, too short for a signature")
    return NoteSignature(name=name, key_hint=blob[:KEY_HINT_SIZE], signature=blob[KEY_HINT_SIZE:])


def valid_key_name(name: str) -> bool:
    # signed-note: key names are non-empty and contain no Unicode spaces and no "+".
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def strict_b64decode(
    encoded: str, what: str, error: type[InputError] = CheckpointFormatError
) -> bytes:
    """Standard padded base64 (RFC 4648 §4) in its one canonical spelling; else `error`."""
    try:
        decoded = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise error(f"{what} is not valid base64") from None
    # Rejects non-zero padding bits, so that one checkpoint has exactly one spelling.
    if base64.b64encode(decoded).decode("ascii") != encoded:
        raise error(f"{what} is not canonical base64")
    return decoded


def excerpt(value: str) -> str:
    """A hostile note's text as a message quotes it: its first 40 characters."""
    return quoted(value, 40)


# --- verifying -------------------------------------------------------------------------------


def ecdsa_key_hint(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """Rekor v1 key hint: the first 4 bytes of sha256(SubjectPublicKeyInfo DER), i.e. logID[:4]."""
    spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()[:KEY_HINT_SIZE]


def note_key_id(name: str, signature_type: int, public_key: bytes) -> bytes:
    """C2SP signed-note: sha256(name ‖ 0x0A ‖ signature type ‖ public key), all 32 bytes.

    The key ID of signature lines and verifier keys is its first 4 bytes (the key hint).
    """
    algorithm = bytes([signature_type])
    return hashlib.sha256(name.encode("utf-8") + b"\n" + algorithm + public_key).digest()


def ed25519_key_id(name: str, public_key: ed25519.Ed25519PublicKey) -> bytes:
    """C2SP signed-note key id of an Ed25519 (type 0x01) key, all 32 bytes."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return note_key_id(name, _ED25519_ALGORITHM, raw)


def ed25519_key_hint(name: str, public_key: ed25519.Ed25519PublicKey) -> bytes:
    """The signature line's key hint: the first 4 bytes of the key id."""
    return ed25519_key_id(name, public_key)[:KEY_HINT_SIZE]


class EcdsaNoteVerifier:
    """A Rekor v1 log key: ASN.1 DER ECDSA with SHA-256 over the signed text."""

    def __init__(self, name: str, public_key: ec.EllipticCurvePublicKey) -> None:
        self.name = name
        self.public_key = public_key
        self.key_hint = ecdsa_key_hint(public_key)

    def verify(self, signed_text: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, signed_text, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True

    def __repr__(self) -> str:
        return f"EcdsaNoteVerifier({self.name!r}, key hint {self.key_hint.hex()})"


class Ed25519NoteVerifier:
    """A C2SP signed-note Ed25519 key (Rekor v2, witnesses)."""

    def __init__(self, name: str, public_key: ed25519.Ed25519PublicKey) -> None:
        self.name = name
        self.public_key = public_key
        self.key_hint = ed25519_key_hint(name, public_key)

    def verify(self, signed_text: bytes, signature: bytes) -> bool:
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            self.public_key.verify(signature, signed_text)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"Ed25519NoteVerifier({self.name!r}, key hint {self.key_hint.hex()})"


def note_verifier(
    name: str, public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
) -> NoteVerifier:
    """The verifier for `public_key`'s flavour of signed note."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return Ed25519NoteVerifier(name, public_key)
    return EcdsaNoteVerifier(name, public_key)


def verify_checkpoint(cp: Checkpoint, verifiers: Sequence[NoteVerifier]) -> NoteSignature:
    """Return the one signature line made by one of `verifiers` (the log's keys).

    Lines whose (name, key hint) match no verifier are ignored (witness cosignatures,
    signed-note §"Verifying"). Like golang.org/x/mod/sumdb/note, a line that does match a trusted
    key but does not verify rejects the whole checkpoint: the log's key never signs other bytes.
    Like Oak's `TLogProof::verify`, exactly one line may be the log's: a log signs a checkpoint
    once, and a second line (even the first repeated) is a note no honest log serves. Every
    checkpoint the auditor reads (Rekor v1, tiled logs, tlog-proofs) is held to this one rule.
    Only the signature is checked here; comparing origin, size and root with what the caller
    expects is the caller's job.
    """
    verified: list[NoteSignature] = []
    for line in cp.signatures:
        keys = [v for v in verifiers if v.name == line.name and v.key_hint == line.key_hint]
        if not keys:
            continue
        if not any(key.verify(cp.signed_text, line.signature) for key in keys):
            raise CheckpointSignatureError(
                # The name is the line's: a key pinned without one (ECDSA) is tried under any.
                f"signature by {bounded(line.name, ORIGIN_CHARS)} (key hint "
                f"{line.key_hint.hex()}) does not verify"
            )
        verified.append(line)
    if not verified:
        # The names are the note's: up to 100 lines of any length (892 kB quoted whole).
        seen = ", ".join(f"{excerpt(s.name)}+{s.key_hint.hex()}"
                         for s in cp.signatures[:_NAMED_LINES])
        more = len(cp.signatures) - _NAMED_LINES
        raise CheckpointSignatureError(f"no signature line from a known key (lines from {seen}"
                                       f"{f' and {more} more' if more > 0 else ''})")
    if len(verified) > 1:
        raise CheckpointSignatureError(f"{len(verified)} signature lines by the log's keys; "
                                       "exactly one is expected (a log signs a checkpoint once)")
    return verified[0]
