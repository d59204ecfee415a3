"""`audit db upgrade` and `audit import`: the local store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auditor.cli.app import ExitCode, JsonStream, app, say, say_error
from auditor.cli.options import (
    ConfigOption,
    DbOption,
    JsonOption,
    KeyOption,
    RekorKeyOption,
    TrustedRootOption,
    settings_for,
)
from auditor.wording import counted

if TYPE_CHECKING:
    from auditor.importer import ImportedItem

db_app = typer.Typer(help="Manage the auditor's database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(config_path: ConfigOption = None, db: DbOption = None) -> None:
    """Create the database or migrate it to the current schema (SQLite is backed up first)."""
    from auditor.store.database import upgrade

    settings = settings_for(config_path, db=db, default_keys=False)
    before, after, backup = upgrade(settings.database_url)
    if backup is not None:
        say(f"backed up {backup}")
    say(f"database at revision {after} (was {before or 'empty'})")


@app.command("import")
def import_command(
    paths: Annotated[list[Path], typer.Argument(
        metavar="PATH...", help="Entries, bundles, component directories, Oak Endorsements "
        "messages, or directories holding them.")],
    key_sources: Annotated[list[Path] | None, typer.Option(
        "--key-source", "--keys", metavar="FILE",
        help="Component keys from a TOML key file or Oak reference values (repeatable; "
        "default: the config's, else the shipped Oak Containers release keys).")] = None,
    key: KeyOption = None,
    rekor_key: RekorKeyOption = None,
    trusted_root: TrustedRootOption = None,
    at: Annotated[str | None, typer.Option(
        metavar="RFC3339", help="Judge validity at this time instead of integratedTime.")]
    = None,
    config_path: ConfigOption = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Verify and store endorsements and log entries, idempotently.

    Exit 0 when everything imported verifies, 1 when a check failed or a file was unreadable,
    2 when a path does not exist or holds nothing importable.
    """
    from auditor.cli.query import parse_time
    from auditor.keyset import add_key_source
    from auditor.service import Auditor

    settings = settings_for(config_path, db=db, rekor_keys=rekor_key, trusted_root=trusted_root,
                            keys=key, default_keys=not key_sources)
    for source in key_sources or []:
        add_key_source(settings.keyset, source)
    moment = parse_time(at, "--at")
    # Each item is written out as it is stored (with --json) and dropped: a directory of any
    # size is imported holding one batch.
    stream = JsonStream({}, "imported") if json_output else None

    def written(item: ImportedItem) -> None:
        if stream is not None:
            stream.add({"source": item.source, "component": item.component, "new": item.new,
                        **item.verification.to_json()})

    with Auditor(settings) as auditor:
        report = auditor.import_paths(paths, at=moment, each=written)
    if stream is not None:
        stream.close({"errors": [{"path": p, "reason": r} for p, r in report.errors],
                      "new": report.new})
    for _path, reason in report.errors:
        say_error(reason)
    for failed_source, names in report.failed:
        say(f"failed checks in {failed_source}: {', '.join(names)}")
    say(f"imported {counted(report.count, 'item')}, {report.new} new, {len(report.failed)} "
        f"with failed checks, {len(report.errors)} unreadable")
    raise typer.Exit(ExitCode.FINDINGS if report.failed or report.errors else ExitCode.CLEAN)
