"""Command-line interface: `audit`. `main(argv)` is the one entry point.

It parses, builds settings, calls the library, renders and picks the exit code; every failure
the audit anticipates is one line on stderr and a documented exit code, never a traceback.
"""

from __future__ import annotations

import atexit
import errno
import functools
import gc
import importlib
import io
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from auditor.errors import AuditorError, Interrupted
from auditor.exit_codes import ExitCode

if TYPE_CHECKING:
    import typer

_COMMAND_MODULES = (
    "crawl", "measure", "notify", "query", "reconcile", "store", "verify", "version_cmd",
)
#: The module that registers each command: `audit component ...` builds only its module's
#: commands (a test holds this table to what the modules register); `--help`, a typo or a
#: command missing here loads them all.
_MODULE_OF = {
    "crawl": "crawl", "measure": "measure", "notify": "notify", "component": "query",
    "findings": "query", "status": "query", "report": "query", "entries": "query",
    "reconcile": "reconcile", "run": "reconcile", "import": "store", "db": "store",
    "verify-entry": "verify", "version": "version_cmd",
}


def _register_commands(modules: Sequence[str] = _COMMAND_MODULES) -> None:
    from auditor.cli.app import app, use_audit_commands

    # Each module adds its commands to `app` when imported (they import little at load time).
    for name in modules:
        importlib.import_module(f"auditor.cli.{name}")
    use_audit_commands(app)


def _command_of(args: Sequence[str]) -> str | None:
    return next((arg for arg in args if not arg.startswith("-")), None)


def _modules_for(args: Sequence[str]) -> Sequence[str]:
    module = _MODULE_OF.get(_command_of(args) or "")
    return (module,) if module is not None else _COMMAND_MODULES


@functools.cache
def _skip_shutdown_collections() -> None:
    # At exit CPython runs the cyclic garbage collector over every object the imports made
    # (about 30 ms for SQLAlchemy and typer alone: more than a query itself takes), though
    # nothing then needs collecting. Frozen objects are left out of those passes. At exit, not
    # now: a program (or a test) that calls main() again keeps collecting normally until then.
    atexit.register(gc.freeze)


def _stop(signum: int, _frame: FrameType | None) -> None:
    from auditor.interrupts import interrupt  # raised now, or once the batch being stored is

    name = signal.Signals(signum).name
    interrupt(Interrupted(name, 128 + signum))


def _install_signal_handlers() -> None:
    # SIGTERM (systemd, a timeout) and SIGINT (Ctrl-C) unwind like an exception: transactions
    # roll back, the run lock is released, and the run is recorded as interrupted.
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(signum, _stop)
        except ValueError:  # not the main thread (an embedding program): leave it alone
            return


def main(argv: Sequence[str] | None = None) -> None:
    """Run `audit` with `argv` (default: the process arguments); always exits."""
    from auditor.cli.app import app, err_console, say_error, summaries_only

    _install_signal_handlers()
    _skip_shutdown_collections()
    if sys.stdout is None:  # started with its standard output closed (`audit report >&-`)
        sys.stdout = _ClosedOutput()
    args = list(argv) if argv is not None else sys.argv[1:]
    code: int
    try:
        _register_commands(_modules_for(args))
        # No command named: nothing can run but the root's help (or a usage error).
        application = app if _command_of(args) is not None else summaries_only(app)
        code = _invoke(application, args)
    except SystemExit as exited:
        code = exited.code if isinstance(exited.code, int) else (0 if exited.code is None else 1)
        if _pipe_closed():
            code = ExitCode.CLOSED_PIPE
    except AuditorError as error:
        say_error(error.diagnostics())
        code = error.exit_code
    except Interrupted as stop:
        err_console().print(f"interrupted ({stop.signal_name}): stopped; everything verified "
                            "so far is kept")
        code = stop.exit_code
    except KeyboardInterrupt:
        err_console().print("interrupted (SIGINT): stopped; everything verified so far is kept")
        code = ExitCode.INTERRUPTED
    except Exception as error:  # the contract says 70 (or 2), never a bare traceback
        code = _unexpected(error)
    sys.exit(code)


def _pipe_closed() -> bool:
    """Whether the command ended because the reader of its output went away (`audit report
    | head`): typer then quiets the standard streams and exits 1, which says "findings"."""
    from typer._click.utils import PacifyFlushWrapper

    return isinstance(sys.stdout, PacifyFlushWrapper)


class _ClosedOutput(io.TextIOBase):
    """Standard output a process was started without: Python leaves `sys.stdout` None, and
    the first report or JSON written to it was an internal error (AttributeError). A write
    fails as one to a closed descriptor does, one line and exit 2; a command that writes
    nothing there (`audit run`) runs as before."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "cannot write the output: standard output is closed")


def _invoke(application: typer.Typer, args: Sequence[str]) -> int:
    """Run the command; a usage error (an unknown option, `--limit abc`) is one line, as every
    error is: click's own is four (usage, hint, a blank line, the error), the error last."""
    # The click typer vendors: its exceptions are not re-exported (typer is pinned below 0.29).
    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    from auditor.cli.app import say_error

    try:
        # Not standalone: click raises its usage errors and returns a typer.Exit's code.
        code = application(args=args, prog_name="audit", standalone_mode=False)
    except NoArgsIsHelpError as bare:  # `audit db` alone: its help, as click gives it
        bare.show()
        return bare.exit_code
    except ClickException as refused:
        context = getattr(refused, "ctx", None)  # a UsageError's: the command refusing
        command = context.command_path if context is not None else "audit"
        say_error(f"{refused.format_message().rstrip('.')} (see '{command} --help')")
        return refused.exit_code
    return code if isinstance(code, int) else ExitCode.CLEAN


def _unexpected(error: Exception) -> int:
    from auditor.cli.app import say_error

    known = _environment_error(error) or _damaged_schema(error)
    if known is not None:
        say_error(known)
        return ExitCode.USAGE
    lost = _database_failure(error)
    if lost is not None:
        say_error(lost)
        return ExitCode.INCOMPLETE
    if os.environ.get("AUDITOR_DEBUG"):
        traceback.print_exc()
    say_error(f"{type(error).__name__}: {error} (set AUDITOR_DEBUG=1 for the traceback)",
              "internal error")
    return ExitCode.INTERNAL


def _environment_error(error: Exception) -> str | None:
    """A failure of the machine rather than of the auditor (a full disk, a read-only file)."""
    from auditor.store.database import sqlite_failure

    sqlite = sqlite_failure(error)  # by SQLite's result code, naming the file
    if sqlite is not None:
        return sqlite
    text = str(getattr(error, "orig", None) or error)
    for marker, meaning in (("No space left on device", "the disk is full"),
                            ("File too large", "a file reached the size limit"),
                            ("database or disk is full", "the disk is full"),
                            ("disk I/O error", "the operating system failed a read or write"),
                            ("readonly database", "the database is read-only"),
                            ("unable to open database file", "cannot open the database file")):
        if marker in text:
            return f"{meaning} ({text.splitlines()[0]})"
    if isinstance(error, OSError) and error.errno is not None:
        return f"{error.strerror}: {error.filename}" if error.filename else str(error)
    return None


#: SQLite's words, and PostgreSQL's SQLSTATEs (undefined table, undefined column), for a
#: schema that lacks what its recorded revision has.
_MISSING_IN_SCHEMA = ("no such table", "no such column", "has no column named")
_UNDEFINED = ("42P01", "42703")


def _damaged_schema(error: Exception) -> str | None:
    """A table or column the schema's revision has and the database lacks (dropped by hand,
    a restore of part of it): not the database failing mid-run (exit 3, "what was stored
    before is kept"), but a store to repair."""
    from sqlalchemy.exc import DBAPIError

    from auditor.store.database import first_line

    if not isinstance(error, DBAPIError):
        return None
    reason = first_line(error.orig)
    if not (any(m in reason for m in _MISSING_IN_SCHEMA)
            or getattr(error.orig, "sqlstate", None) in _UNDEFINED
            or getattr(error.orig, "pgcode", None) in _UNDEFINED):
        return None
    return (f"the database's schema lacks what its revision has ({reason}): it was changed "
            "outside the auditor; restore it from a backup (`audit db upgrade` keeps one of "
            "a SQLite file) or start a new one")


def _database_failure(error: Exception) -> str | None:
    """A database that stopped answering mid-run: the server gone (stopped, restarted, the
    session ended by an administrator or a timeout), a statement cancelled by its timeout,
    SQLite locked by another process past the busy timeout. The run could not finish, as
    when a log stops answering (exit 3); what it stored is whole, each batch one
    transaction. One line: it was an internal error quoting the SQL and its parameters."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from auditor.store.database import first_line, locked_too_long

    if not isinstance(error, DBAPIError):
        return None
    reason = first_line(error.orig)
    if "database is locked" in reason:
        return locked_too_long()
    if isinstance(error, OperationalError) or error.connection_invalidated:
        return f"the database failed mid-run ({reason}): what was stored before is kept"
    return None
