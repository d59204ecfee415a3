"""What can go wrong reading a tiled log, each error naming the tile or bundle at fault.

A log that serves malformed bytes, or bytes that do not hash to the checkpoint it signed, is
hostile input (`InputError`): nothing read from such a tile is reported as verified. A tile the
checkpoint requires but the log does not serve leaves the audit incomplete (`IncompleteError`).
"""

from __future__ import annotations

from auditor.errors import IncompleteError, InputError


class TileFormatError(InputError):
    """A tile, entry bundle or tile path that is not well-formed (C2SP tlog-tiles)."""


class TileMismatchError(InputError):
    """A tile or entry bundle whose hashes do not lead to the signed checkpoint root."""


class TileMissingError(IncompleteError):
    """The log does not serve a tile or bundle that its checkpoint requires."""


class CheckpointRejectedError(InputError):
    """A checkpoint that the verifier (log key, witness policy) does not accept."""
