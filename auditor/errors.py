"""The one error base of the project.

Expected outcomes (a failed proof, a digest mismatch) are values, never exceptions. An
`AuditorError` means the audit itself could not run: unreadable input, bad configuration, a log
that stopped answering. The CLI catches it once and prints `diagnostics()` as one line.
"""

from __future__ import annotations


class AuditorError(Exception):
    """Base of every error the CLI reports without a traceback."""

    #: The process exit code the CLI uses for this error (see README, "Exit codes").
    exit_code: int = 2

    def diagnostics(self) -> str:
        return str(self)


class InputError(AuditorError):
    """Unreadable or malformed input: a file, a JSON document, a protobuf message."""


class ConfigError(AuditorError):
    """A configuration file or flag combination that cannot be used."""


class IncompleteError(AuditorError):
    """The audit could not finish: the log or a source stopped answering."""

    exit_code = 3


class LockedError(AuditorError):
    """Another run holds the lock."""

    exit_code = 75
