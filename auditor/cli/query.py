"""Queries over the store: `audit component`, `audit findings`, `audit status`, `audit report`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import func, select

from auditor.audit import latest_run, run_summary
from auditor.cli.app import ExitCode, app, err_console, out_console, print_json, terminal_safe
from auditor.cli.options import DbOption, JsonOption
from auditor.cli.verify import parse_at
from auditor.errors import ConfigError
from auditor.reconcile.endorsed import load_endorsed
from auditor.report.build import build_report, endorsement_item, logs_section
from auditor.report.formats import OutputFormat, render
from auditor.store import models
from auditor.store.database import open_database, resolve_url


@app.command("component")
def component_command(
    name: Annotated[str, typer.Argument(help="Component name (stage0, kernel, ...).")],
    limit: Annotated[int, typer.Option(help="Show the newest N endorsements (0: all).")] = 100,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Every endorsement logged under a component's keys, newest first, with its checks."""
    sessions = open_database(resolve_url(db))
    with sessions() as session:
        run = latest_run(session)
        summary = run_summary(run) if run else {}
        matched: dict[str, list[str]] = summary.get("matched", {})
        open_findings = [f for f in summary.get("findings", [])
                         if f["component"] == name and f["suppressed"] is None
                         and f["rule"] != "MATCH"]
        rows = [endorsement_item(value, matched)
                for value in load_endorsed(session, name, limit or None)]
    if json_output:
        print_json({"component": name, "endorsements": rows, "open_findings": open_findings})
        return
    table = Table(title=terminal_safe(f"{name}: {len(rows)} endorsement(s), newest first"),
                  title_justify="left")
    for column in ("integrated (UTC)", "log index", "subject", "valid", "checks", "matches"):
        table.add_column(column, overflow="fold")
    for row in rows:
        failed = [c["name"] for c in row["checks"] if c["ok"] is False]
        table.add_row(
            (row["integrated_time"] or "not logged")[:19], str(row["log_index"] or "-"),
            terminal_safe(f"{row['subject_name']}\n{row['subject_digests'].get('sha256', '')}"),
            f"{(row['valid_from'] or '')[:10]} .. {(row['valid_until'] or '')[:10]}",
            "ok" if not failed else "FAILED: " + ", ".join(failed),
            terminal_safe(", ".join(row["matches"]) or "-"))
    out_console.print(table)
    for finding in open_findings:
        err_console.print(terminal_safe(f"open finding {finding['rule']}: {finding['detail']}"))


@app.command("findings")
def findings_command(
    rule: Annotated[str | None, typer.Option(help="Only this rule id.")] = None,
    component: Annotated[str | None, typer.Option(help="Only this component.")] = None,
    since: Annotated[str | None, typer.Option(help="Seen at or after this RFC 3339 time.")]
    = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Stored findings (one per fingerprint, with first and last seen), most recent first."""
    sessions = open_database(resolve_url(db))
    query = select(models.StoredFinding).order_by(models.StoredFinding.last_seen.desc(),
                                                  models.StoredFinding.id)
    if rule:
        query = query.where(models.StoredFinding.rule == rule)
    if component:
        query = query.where(models.StoredFinding.component == component)
    moment = parse_at(since)
    if moment is not None:
        query = query.where(models.StoredFinding.last_seen >= moment)
    with sessions() as session:
        rows = [{"rule": f.rule, "severity": f.severity, "component": f.component,
                 "release": f.release, "detail": f.detail, "evidence": json.loads(f.evidence),
                 "fingerprint": f.fingerprint, "first_seen": _iso(f.first_seen),
                 "last_seen": _iso(f.last_seen)} for f in session.scalars(query)]
    if json_output:
        print_json({"findings": rows})
        return
    table = Table()
    for column in ("last seen", "severity", "rule", "component", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["last_seen"][:19], row["severity"], row["rule"],
                      terminal_safe(row["component"] or "-"), terminal_safe(row["detail"]))
    out_console.print(table)


def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


@app.command("status")
def status_command(db: DbOption = None, json_output: JsonOption = False) -> None:
    """The last run, the log heads per tree, and what the store holds."""
    sessions = open_database(resolve_url(db))
    with sessions() as session:
        run = session.scalar(select(models.Run).order_by(models.Run.id.desc()).limit(1))

        def count(model: Any, *where: Any) -> int:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

        document: dict[str, Any] = {
            "last_run": None if run is None else {
                "kind": run.kind, "started_at": _iso(run.started_at),
                "finished_at": _iso(run.finished_at) if run.finished_at else None,
                "complete": run.complete, "exit_code": run.exit_code},
            "logs": logs_section(session),
            "counts": {
                "entries": count(models.Entry),
                "endorsements": count(models.Endorsement),
                "failed_verifications": count(models.Verification,
                                              models.Verification.ok.is_(False)),
                "findings": count(models.StoredFinding),
                "component_keys": count(models.ComponentKey),
            },
        }
    if json_output:
        print_json(document)
        return
    last = document["last_run"]
    out_console.print("last run: " + ("none" if last is None else
                      f"{last['kind']} at {last['started_at'][:19]}, "
                      f"{'complete' if last['complete'] else 'INCOMPLETE'}, "
                      f"exit {last['exit_code']}"))
    for log in document["logs"]:
        for head in log["heads"]:
            out_console.print(terminal_safe(
                f"log {log['name'] or log['log_id'][:16]} tree {head['tree_id']}: size "
                f"{head['tree_size']}, root {head['root_hash'][:16]}…"
                f"{' (frozen)' if head['frozen'] else ''}"))
    out_console.print(", ".join(f"{v} {k.replace('_', ' ')}"
                                for k, v in document["counts"].items()))


@app.command("report")
def report_command(
    report_format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")]
    = OutputFormat.JSON,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to FILE.")] = None,
    db: DbOption = None,
) -> None:
    """Render the latest run as a report (JSON is the source of truth; the rest render it)."""
    sessions = open_database(resolve_url(db))
    with sessions() as session:
        run = latest_run(session)
        if run is None:
            raise ConfigError("no run recorded yet: run `audit run` or `audit reconcile` first")
        document = build_report(session, run)
    text = render(document, report_format)
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text)
        err_console.print(terminal_safe(f"wrote {output}"))
    raise typer.Exit(ExitCode.CLEAN)
