"""The typer application object and the helpers every command module shares.

Only the `auditor.cli` package prints or picks exit codes; everything it calls is a library.
Command modules import only typer and this package at load time and the rest inside the
command, so `audit --help` and a query start without the crawler, HTTP or Alembic.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

import typer

from auditor.exit_codes import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["EXIT_CODES_HELP", "ExitCode", "app", "err_console", "out_console", "print_json",
           "terminal_safe"]

EXIT_CODES_HELP = """\
Exit codes: 0 clean; 1 findings (a failed check, a finding at or above --fail-on);
2 usage, configuration or input error; 3 audit incomplete (a log or a source gave up, or
an alert could not be delivered);
75 another run holds the lock; 130/143 interrupted (SIGINT/SIGTERM); 70 internal error.
"""


app = typer.Typer(
    name="audit",
    help="Audit transparency-log endorsements of confidential-VM boot components.\n\n"
    + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@cache
def err_console() -> Console:
    """Humans read stderr; stdout carries only machine output (JSON, reports)."""
    from rich.console import Console

    # Not a terminal (a pipe, a log file): no width to fit, so nothing (a digest) is wrapped.
    width = None if sys.stderr.isatty() else 100_000
    return Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True,
                   width=width)


@cache
def out_console() -> Console:
    from rich.console import Console

    width = None if sys.stdout.isatty() else 100_000
    return Console(highlight=False, markup=False, emoji=False, soft_wrap=True, width=width)


def say(text: str) -> None:
    """One line for a human, on stderr, with log-borne text made harmless."""
    err_console().print(terminal_safe(text))


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")


def print_json_stream(head: dict[str, Any], key: str, items: Iterable[Any]) -> None:
    """`head` with `key` added last as a list of `items`, written as they come (the same text
    `print_json` writes for the whole document): a large store's findings never sit in memory.
    """
    out = sys.stdout
    text = json.dumps(head, indent=2)
    out.write(text[:-2] + ",\n" if head else "{\n")
    out.write(f"  {json.dumps(key)}: [")
    first = True
    for item in items:
        lines = json.dumps(item, indent=2).splitlines()
        out.write(("\n" if first else ",\n") + "\n".join("    " + line for line in lines))
        first = False
    out.write("]\n}\n" if first else "\n  ]\n}\n")


@app.callback()
def _root() -> None:
    # A callback makes `audit` a command group even while it has a single command.
    pass


def terminal_safe(text: str) -> str:
    """Escape control characters (ANSI sequences, bidi overrides) in text from a log entry.

    Everything read from a log is hostile; the consoles already ignore rich markup, and this
    keeps a terminal from interpreting escape sequences a hostile entry smuggles in.
    """
    out = []
    for char in text:
        code = ord(char)
        if char in "\n\t" or not (code < 0x20 or 0x7F <= code < 0xA0 or 0x202A <= code <= 0x202E
                                  or 0x2066 <= code <= 0x2069):
            out.append(char)
        else:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)
