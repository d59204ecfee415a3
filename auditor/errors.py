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


class LockLostError(AuditorError):
    """The database ended the session holding the run's lock mid-run: the run stops (exit 3)."""

    exit_code = 3


class Interrupted(BaseException):
    """The process was asked to stop (SIGINT, SIGTERM).

    A BaseException like KeyboardInterrupt, so no `except Exception` swallows it: it unwinds
    every transaction and lock on its way to the CLI, which records the run as interrupted.
    """

    def __init__(self, signal_name: str, exit_code: int) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name
        self.exit_code = exit_code
