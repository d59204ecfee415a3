"""Which checkpoints of a tiled log to believe: a pluggable verifier, and the log's own key.

A `CheckpointVerifier` takes the checkpoint text as served and returns the parsed checkpoint
if it accepts it, or raises an `InputError` (`CheckpointFormatError` for a malformed note,
`CheckpointRejectedError` otherwise). The scanner only ever sees accepted checkpoints, so a
witness policy (C2SP tlog-policy) plugs in as another verifier of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ed25519

from auditor.source.tiles.errors import CheckpointRejectedError
from auditor.verify.checkpoint import (
    Checkpoint,
    CheckpointSignatureError,
    Ed25519NoteVerifier,
    excerpt,
    parse_checkpoint,
    verify_checkpoint,
)

CheckpointVerifier = Callable[[str], Checkpoint]


class LogKeyVerifier:
    """Accept checkpoints signed by the log's Ed25519 key whose origin is the log's name.

    C2SP tlog-checkpoint: the origin must be the one the verifier expects, extension lines are
    allowed, and signature lines of other keys (witnesses) are ignored; C2SP signed-note: the
    key id is sha256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4].
    """

    def __init__(self, name: str, public_key: ed25519.Ed25519PublicKey) -> None:
        self.name = name
        self._note_verifier = Ed25519NoteVerifier(name, public_key)

    def __call__(self, text: str) -> Checkpoint:
        checkpoint = parse_checkpoint(text)
        if checkpoint.origin != self.name:
            raise CheckpointRejectedError(
                f"checkpoint origin {excerpt(checkpoint.origin)} is not the log's name "
                f"{self.name!r}"
            )
        try:
            verify_checkpoint(checkpoint, [self._note_verifier])
        except CheckpointSignatureError as error:
            raise CheckpointRejectedError(f"checkpoint of {self.name}: {error}") from None
        return checkpoint
