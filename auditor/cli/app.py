"""The typer application object and the helpers every command module shares.

Only the `auditor.cli` package prints or picks exit codes; everything it calls is a library.
Command modules import only typer and this package at load time and the rest inside the
command, so `audit --help` and a query start without the crawler, HTTP or Alembic.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

import typer
import typer.core

from auditor.exit_codes import ExitCode
from auditor.report.text import visible

if TYPE_CHECKING:
    from rich.console import Console

    # The click typer is built on (vendored since typer 0.26): for annotations only.
    from typer._click import Context, HelpFormatter, Parameter
    from typer.models import CommandInfo

__all__ = ["EXIT_CODES_HELP", "ExitCode", "app", "err_console", "print_json",
           "say_error", "terminal_safe"]

EXIT_CODES_HELP = """\
Exit codes: 0 clean; 1 findings (a failed check, a finding at or above --fail-on);
2 usage, configuration or input error; 3 audit incomplete (a log or a source gave up, or
an alert could not be delivered);
75 another run holds the lock; 130/143 interrupted (SIGINT/SIGTERM); 141 the reader of
its output went away (a closed pipe); 70 internal error.
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


def _lines_joined(text: str) -> str:
    """`text` on one line: its lines stripped and joined with "; " (a driver's message, such as
    libpq's "Connection refused" and its "Is the server running ..." hint, spans several).
    Unlike `terminal_safe`, which shows a hostile value's newline as an escape,
    this reads as prose: for the auditor's own messages."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def say_error(text: str, prefix: str = "error") -> None:
    """An error, as every error is shown: `prefix: text` on ONE line of stderr."""
    err_console().print(terminal_safe(f"{prefix}: {_lines_joined(text)}"))


def say(text: str) -> None:
    """One line for a human, on stderr, with log-borne text made harmless."""
    err_console().print(terminal_safe(text))


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")


def print_json_stream(head: dict[str, Any], key: str, items: Iterable[Any]) -> None:
    """`head` with `key` added last as a list of `items`, written as they come (the same text
    `print_json` writes for the whole document): a large store's findings never sit in memory.
    """
    stream = JsonStream(head, key)
    for item in items:
        stream.add(item)
    stream.close()


class JsonStream:
    """A JSON document written as it is made: `head`'s members, a list under `key` item by
    item, then `close`'s members (the same text `print_json` writes for the whole document)."""

    def __init__(self, head: dict[str, Any], key: str) -> None:
        self.out = sys.stdout
        text = json.dumps(head, indent=2)
        self.out.write(text[:-2] + ",\n" if head else "{\n")
        self.out.write(f"  {json.dumps(key)}: [")
        self.first = True

    def add(self, item: Any) -> None:
        lines = json.dumps(item, indent=2).splitlines()
        self.out.write(("\n" if self.first else ",\n") + "\n".join("    " + line for line in lines))
        self.first = False

    def close(self, tail: dict[str, Any] | None = None) -> None:
        self.out.write("]" if self.first else "\n  ]")
        if tail:
            self.out.write(",\n" + json.dumps(tail, indent=2)[2:-2])
        self.out.write("\n}\n")


class AuditCommand(typer.core.TyperCommand):
    """A command whose help names arguments by their metavar alone (`NAME`, `[MANIFEST]`,
    `PATH...`): typer adds the Python type (`<str>`, `<list[Path]>`) and braces (`{NAME}`),
    which tell a user nothing they can act on."""

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            pieces += [_argument_name(param)] if param.param_type_name == "argument" \
                else param.get_usage_pieces(ctx)
        return pieces

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        params = [p for p in self.get_params(ctx) if not getattr(p, "hidden", False)]
        arguments = [(_argument_name(p), _argument_help(p)) for p in params
                     if p.param_type_name == "argument"]
        options = [record for p in params if p.param_type_name == "option"
                   and (record := p.get_help_record(ctx)) is not None]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _argument_name(param: Parameter) -> str:
    name = param.metavar or (param.name or "").upper()
    if param.metavar is None and param.nargs != 1:
        name += "..."
    return name if param.required or name.startswith("[") else f"[{name}]"


def _argument_help(param: Parameter) -> str:
    text = getattr(param, "help", None) or ""
    return f"{text}  [required]" if param.required else text


def use_audit_commands(application: typer.Typer) -> None:
    """Every command of `application` and its groups, registered so far, is an AuditCommand
    (called once all command modules have registered theirs)."""
    for command in application.registered_commands:
        if command.cls in (None, typer.core.TyperCommand):
            command.cls = AuditCommand
    for group in application.registered_groups:
        if group.typer_instance is not None:
            use_audit_commands(group.typer_instance)


def summaries_only(application: typer.Typer) -> typer.Typer:
    """A copy of `application` whose commands keep their names and help but take no
    parameters: what its own help page shows. typer inspects every parameter of every command
    to build a group (a third of `audit --help`'s own time); that page lists only summaries."""
    listing = copy.copy(application)
    listing.registered_commands = [_summary(info) for info in application.registered_commands]
    listing.registered_groups = []
    for group in application.registered_groups:
        group = copy.copy(group)
        if group.typer_instance is not None:
            group.typer_instance = summaries_only(group.typer_instance)
        listing.registered_groups.append(group)
    return listing


def _summary(info: CommandInfo) -> CommandInfo:
    original = info.callback
    assert original is not None  # typer's decorator always sets it

    def command() -> None:  # never called: listed, not run
        raise AssertionError(f"{original.__name__} is a help-page placeholder")

    command.__name__, command.__doc__ = original.__name__, original.__doc__
    summary = copy.copy(info)
    summary.callback = command
    return summary


@app.callback()
def _root() -> None:
    # A callback makes `audit` a command group even while it has a single command.
    pass


def terminal_safe(text: str) -> str:
    """`text` as one line a terminal shows as it is: ANSI sequences, bidi overrides and marks,
    zero-width and other invisible characters, line separators, and newlines and tabs too,
    escaped (`auditor.report.text.visible`, as every report escapes them).

    Everything read from a log is hostile; the consoles already ignore rich markup, and this
    keeps a terminal from interpreting escape sequences a hostile entry smuggles in. Every line
    the auditor prints is one item (a finding, a verdict, a table's title or cell): a newline a
    hostile value holds would start a line of the attacker's, such as a forged verdict, so it
    shows as an escape wherever the value is printed.
    """
    return visible(text, keep="")
