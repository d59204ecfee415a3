"""`audit db upgrade`, `audit import`, `audit entries`: the local store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from auditor.cli.app import ExitCode, app, err_console, out_console, print_json, terminal_safe
from auditor.cli.options import DbOption
from auditor.cli.verify import parse_at
from auditor.config import load_key_sources, shipped_reference_values
from auditor.ingest import import_paths
from auditor.store.database import open_database, resolve_url, upgrade
from auditor.store.queries import latest_records
from auditor.verify.trust import load_keyring

db_app = typer.Typer(help="Manage the auditor's database.", no_args_is_help=True)
app.add_typer(db_app, name="db")



@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create the database or migrate it to the current schema (SQLite is backed up first)."""
    url = resolve_url(db)
    before, after, backup = upgrade(url)
    if backup is not None:
        err_console.print(f"backed up {backup}")
    err_console.print(f"database at revision {after} (was {before or 'empty'})")


@app.command("import")
def import_command(
    paths: Annotated[list[Path], typer.Argument(help="Entries, bundles, component dirs, "
                                                "Oak Endorsements messages, or directories.")],
    keys: Annotated[
        list[Path] | None,
        typer.Option("--keys", help="Component keys: TOML or Oak reference values (default: "
                     "the shipped reference_values/)."),
    ] = None,
    rekor_key: Annotated[list[Path] | None, typer.Option("--rekor-key")] = None,
    trusted_root: Annotated[Path | None, typer.Option()] = None,
    at: Annotated[str | None, typer.Option(help="Judge validity at this RFC 3339 time.")] = None,
    db: DbOption = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Verify and store endorsements and log entries, idempotently.

    Exit 0 when everything imported verifies, 1 when a check failed or a file was unreadable.
    """
    keyset = load_key_sources(keys or shipped_reference_values())
    keyring = load_keyring(rekor_key or [], trusted_root)
    sessions = open_database(resolve_url(db))
    report = import_paths(sessions, paths, keyring, keyset, parse_at(at))
    failed = [i for i in report.imported if not i.verification.ok]
    if json_output:
        print_json({
            "imported": [{"source": i.source, "component": i.component, "new": i.new,
                          **i.verification.to_json()} for i in report.imported],
            "errors": [{"path": p, "reason": r} for p, r in report.errors],
            "new": report.new,
        })
    for _path, reason in report.errors:
        err_console.print(f"error: {terminal_safe(reason)}")
    for item in failed:
        names = ", ".join(c.name for c in item.verification.failures)
        err_console.print(f"failed checks in {terminal_safe(item.source)}: {names}")
    err_console.print(f"imported {len(report.imported)} item(s), {report.new} new, "
                      f"{len(failed)} with failed checks, {len(report.errors)} unreadable")
    raise typer.Exit(ExitCode.FINDINGS if failed or report.errors else ExitCode.CLEAN)


@app.command("entries")
def entries_command(
    component: Annotated[str | None, typer.Option(help="Only this component.")] = None,
    limit: Annotated[int, typer.Option(help="The newest N (0: all).")] = 100,
    db: DbOption = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List stored entries and endorsements with each check's outcome."""
    sessions = open_database(resolve_url(db))
    with sessions() as session:
        records = latest_records(session, component, limit or None)
    if json_output:
        print_json({"entries": [r.to_json() for r in records]})
        return
    table = Table()
    for column in ("component", "log index", "integrated (UTC)", "subject", "status", "checks"):
        table.add_column(column, overflow="fold")
    for record in records:
        data = record.to_json()
        outcomes = [ok for _, ok, _ in record.checks]
        failed = [name for name, ok, _ in record.checks if ok is False]
        checks = f"{outcomes.count(True)} pass, {outcomes.count(None)} n/a" + (
            f"; FAILED: {', '.join(failed)}" if failed else "")
        status = ("ok" if record.ok else "FAILED") + ("" if record.logged else ", not logged")
        table.add_row(
            terminal_safe(record.component or "?"),
            str(record.log_index) if record.log_index is not None else "-",
            (data["integrated_time_utc"] or "-")[:19],
            terminal_safe(record.subject_name or "-"),
            status,
            checks,
        )
    out_console.print(table)
