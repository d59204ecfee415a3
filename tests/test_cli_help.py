"""`audit ... --help` for every command: what a user reads must tell them what to type.

Walks the command tree the CLI builds (so a command added later is checked too) and reads each
help page through the real entry point.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main

from auditor.cli import _register_commands
from auditor.cli.app import app
from auditor.findings import Severity
from auditor.report.kinds import FORMAT_NAMES
from tests.cli_runner import RunAudit

#: What typer prints for a parameter without a metavar: a Python type, not a word a user knows.
TYPE_PLACEHOLDER = re.compile(
    r"<(?:str|int|float|bool|path|file|directory|text|datetime|uuid|Path|list\[[^\]]*\])>")
#: A metavar says what to type: PEM, URL, FILE, N, COMPONENT=PEM, [MANIFEST], oak|qemu|both...
METAVAR = re.compile(r"[][A-Za-z0-9_=|:.,-]+")
WORD = re.compile(r"\b[A-Z][A-Z0-9_]*\b|\w\|\w")


def commands() -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, click command) for every command and group of `audit`."""
    _register_commands()
    root = typer.main.get_command(app)

    def walk(path: tuple[str, ...], command: Any) -> Iterator[tuple[tuple[str, ...], Any]]:
        yield path, command
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            if not sub.hidden:
                yield from walk((*path, name), sub)

    yield from walk((), root)


COMMANDS = list(commands())


def test_the_walk_reaches_every_command() -> None:
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"crawl", "run", "import", "verify-entry", "component", "measure stage0",
            "db upgrade", "notify test"} <= paths
    assert len(paths) >= 20


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "audit"
                                                            for p, _ in COMMANDS])
def test_help_names_values_in_words_and_describes_every_option(
        audit: RunAudit, path: tuple[str, ...], command: Any) -> None:
    result = audit(*path, "--help")
    assert result.exit_code == 0, result.stderr
    page = result.stdout
    assert not TYPE_PLACEHOLDER.search(page), TYPE_PLACEHOLDER.findall(page)
    usage = page.splitlines()[0]
    assert usage.startswith("Usage: audit") and "{" not in usage, usage
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        assert (getattr(param, "help", None) or "").strip(), f"{param.name} has no help"
        takes_value = param.param_type_name == "argument" or not param.is_flag
        if takes_value:
            metavar = param.metavar or ""
            assert METAVAR.fullmatch(metavar) and WORD.search(metavar), (param.name, metavar)


def test_component_keys_have_one_spelling_everywhere() -> None:
    """`--key COMPONENT=PEM` wherever a component key is pinned; the older spelling of
    verify-entry still works, hidden."""
    seen = 0
    for path, command in COMMANDS:
        for param in command.params:
            names = getattr(param, "opts", [])
            if "--key" in names:
                seen += 1
                assert names == ["--key"] and param.metavar == "COMPONENT=PEM", (path, names)
            if "--endorser-key" in names:
                assert param.hidden, path
    assert seen >= 4  # crawl, run, import, verify-entry


def test_choices_are_listed(audit: RunAudit) -> None:
    stage0 = audit("measure", "stage0", "--help").stdout
    assert re.search(r"--mode oak\|qemu\|both\b", stage0), stage0
    launch = audit("measure", "launch", "--help").stdout
    assert re.search(r"--vmm-type qemu\|gce\|ec2\b", launch), launch
    run = audit("run", "--help").stdout
    assert "--fail-on SEVERITY" in run and ", ".join(Severity) in " ".join(run.split())
    assert ", ".join(FORMAT_NAMES) in " ".join(run.split())


def test_the_old_spelling_of_an_endorser_key_still_works(audit: RunAudit) -> None:
    from tests.oakdata import SINGLE

    for flag in ("--key", "--endorser-key"):
        result = audit("verify-entry", str(SINGLE / "logentry.json"), flag,
                       str(SINGLE / "endorser_public_key.pem"), "--artifact",
                       str(SINGLE / "endorsement.json"), "--rekor-key",
                       str(SINGLE.parent / "rekor_public_key.pem"))
        assert result.exit_code == 0, (flag, result.stderr)
        assert "verified: all applicable checks pass" in result.stderr


def test_each_command_is_registered_by_the_module_main_loads_for_it() -> None:
    """`audit NAME ...` imports only `_MODULE_OF[NAME]`: the table must name the module that
    really registers NAME, for every command (a command it misses still works, slower)."""
    from auditor.cli import _MODULE_OF

    _register_commands()
    registered = {}
    for command in app.registered_commands:
        assert command.callback is not None
        name = command.name or command.callback.__name__.replace("_", "-")
        registered[name] = command.callback.__module__
    for group in app.registered_groups:
        assert group.typer_instance is not None and group.name is not None
        (module,) = {c.callback.__module__ for c in group.typer_instance.registered_commands
                     if c.callback is not None}
        registered[group.name] = module
    assert {name: f"auditor.cli.{module}" for name, module in _MODULE_OF.items()} == registered


def test_the_root_help_page_is_the_full_apps(audit: RunAudit) -> None:
    """`audit --help` is built from summaries only (no parameters inspected): it must read
    exactly as the page of the full command tree, listing every command."""
    _register_commands()
    full = typer.main.get_command(app)
    with full.make_context("audit", ["--help"], resilient_parsing=True) as context:
        expected = full.get_help(context)
    result = audit("--help")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.rstrip("\n") == expected.rstrip("\n")
    assert all(f"  {name} " in expected for name in ("component", "db", "verify-entry"))
