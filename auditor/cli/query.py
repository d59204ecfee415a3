"""Queries over the store: `audit component`, `audit findings`, `audit status`, `audit report`,
`audit entries`. They read: a database that does not exist is an error, never an empty answer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditor.cli.app import ExitCode, app, err_console, print_json, say, terminal_safe
from auditor.cli.options import (
    INTEGER,
    ConfigOption,
    DbOption,
    JsonOption,
    settings_for,
    within,
)
from auditor.report.kinds import FORMAT_NAMES, OutputFormat
from auditor.wording import counted

if TYPE_CHECKING:
    from rich.table import Table
    from sqlalchemy.orm import Session, sessionmaker

    from auditor.store.deliveries import DeliveryRow
    from auditor.store.views import EndorsementView


def read_store(config: Path | None, db: str | None) -> sessionmaker[Session]:
    from auditor.store.database import open_database

    settings = settings_for(config, db=db, default_keys=False)
    return open_database(settings.database_url, create=False)


def parse_time(value: str | None, flag: str) -> datetime | None:
    from auditor.errors import InputError
    from auditor.source.fields import read_rfc3339

    if value is None:
        return None
    try:
        return read_rfc3339(value)
    except ValueError as why:
        raise InputError(f"{flag} {value!r} {why}") from None


def _unknown(what: str, value: str, known: set[str]) -> None:
    from auditor.errors import ConfigError

    listing = ", ".join(sorted(known)) or "none yet"
    raise ConfigError(f"unknown {what} {value!r}; known {what}s: {listing}")


def _check_component(session: Session, name: str | None) -> None:
    """Refuse a component no key or endorsement in the store names (None: no filter)."""
    from auditor.store.reads import known_components

    if name is not None and name not in (known := known_components(session)):
        _unknown("component", name, known)


@app.command("component")
def component_command(
    name: Annotated[str, typer.Argument(metavar="NAME",
                                        help="Component name (stage0, kernel, ...).")],
    limit: Annotated[int, typer.Option(metavar="N", click_type=INTEGER,
                                       help="Show the newest N endorsements (0: all).")] = 100,
    config_path: ConfigOption = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Every endorsement logged under a component's keys, newest first, with its checks."""
    from auditor.store.runs import latest_run, run_findings
    from auditor.store.views import endorsement_views

    within(limit, "--limit", low_means="all")
    sessions = read_store(config_path, db)
    with sessions() as session:
        _check_component(session, name)
        run = latest_run(session)
        matched: dict[str, list[str]] = run.summary.get("matched", {}) if run else {}
        open_findings = [f for f in (run_findings(session, run.id) if run else [])
                         if f.component == name and f.suppressed is None and f.rule != "MATCH"]
        views = list(endorsement_views(session, name, limit or None))
    if json_output:
        from auditor.report.build import endorsement_item

        print_json({"component": name,
                    "endorsements": [endorsement_item(value, matched) for value in views],
                    "open_findings": [_finding_json(f) for f in open_findings]})
        return
    err_console().print(_endorsement_table(name, views, matched))
    for finding in open_findings:
        say(f"open finding {finding.severity.upper()} {finding.rule}: {finding.detail}")


def _endorsement_table(name: str, views: list[EndorsementView],
                       matched: Mapping[str, list[str]]) -> Table:
    # Rendered from the views, not the report items: the table shows no measurements, and
    # decoding them would load protobuf and cryptography into every query.
    from rich.table import Table

    from auditor.verify.check_names import ALL_CHECKS

    title = f"{name}: {counted(len(views), 'endorsement')}, newest first"
    table = Table(title=terminal_safe(title), title_justify="left")
    for column in ("integrated (UTC)", "log index", "subject", "valid", "checks", "matches"):
        table.add_column(column, overflow="fold")
    for value in views:
        failed = [check for check in value.failed_checks if check in ALL_CHECKS]
        logged = f"by {value.logged_by}" if value.logged else "not logged"
        table.add_row(
            value.when.isoformat()[:19] if value.when else logged,
            "-" if value.log_index is None else str(value.log_index),  # a log starts at 0
            terminal_safe("-" if value.subject_name is None else value.subject_name) + "\n"
            + terminal_safe(value.subject_digests.get("sha256", "")),
            f"{_day(value.valid_from)} .. {_day(value.valid_until)}",
            "ok" if not failed else "FAILED: " + ", ".join(failed),
            terminal_safe(", ".join(matched.get(str(value.endorsement_id), [])) or "-"))
    return table


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment else ""


def _finding_json(finding: Any) -> dict[str, Any]:
    return {"rule": finding.rule, "severity": finding.severity, "component": finding.component,
            "release": finding.release, "detail": finding.detail, "evidence": finding.evidence,
            "fingerprint": finding.fingerprint, "suppressed": finding.suppressed,
            "first_seen": finding.first_seen.isoformat(),
            "last_seen": finding.last_seen.isoformat()}


@app.command("findings")
def findings_command(
    rule: Annotated[str | None, typer.Option(metavar="RULE", help="Only this rule id.")] = None,
    component: Annotated[str | None, typer.Option(metavar="NAME",
                                                  help="Only this component.")] = None,
    since: Annotated[str | None, typer.Option(
        metavar="RFC3339", help="Seen at or after this time (e.g. 2026-11-30T00:00:00Z).")]
    = None,
    config_path: ConfigOption = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Stored findings (one per fingerprint, with first and last seen), most severe first."""
    from auditor.findings import RuleId
    from auditor.store.reads import FindingFilter, stored_findings

    if rule is not None and rule not in set(RuleId):
        _unknown("rule", rule, set(RuleId))
    moment = parse_time(since, "--since")
    sessions = read_store(config_path, db)
    with sessions() as session:
        _check_component(session, component)
        records = stored_findings(session, FindingFilter(rule, component, moment))
    rows = [_finding_json(f) for f in records]
    for row in rows:
        row.pop("suppressed")
    if json_output:
        print_json({"findings": rows})
        return
    from rich.table import Table

    table = Table()
    for column in ("severity", "rule", "component", "release", "last seen", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["severity"].upper(), row["rule"],
                      terminal_safe(row["component"] or "-"),
                      terminal_safe(row["release"] or "-"), row["last_seen"][:19],
                      terminal_safe(row["detail"]))
    err_console().print(table)


@app.command("status")
def status_command(config_path: ConfigOption = None, db: DbOption = None,
                   json_output: JsonOption = False) -> None:
    """The last run, the log heads per tree, tiled logs' scan positions, what the store holds,
    and the alerts each channel holds or still has to be sent."""
    from dataclasses import asdict

    from auditor.report.build import logs_section
    from auditor.store.deliveries import deliveries
    from auditor.store.reads import counts, scan_progress
    from auditor.store.runs import latest_run

    sessions = read_store(config_path, db)
    with sessions() as session:
        run = latest_run(session, None)
        scans = scan_progress(session)
        logs = [{**log, "scan": asdict(scans[log["log_id"]]) if log["log_id"] in scans else None}
                for log in logs_section(session)]
        document: dict[str, Any] = {
            "last_run": None if run is None else {
                "kind": run.kind, "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "complete": run.complete, "exit_code": run.exit_code,
                "interrupted": run.summary.get("interrupted")},
            "logs": logs,
            "counts": counts(session),
            "alerts": _alerts_by_channel(deliveries(session)),
        }
    if json_output:
        print_json(document)
        return
    last = document["last_run"]
    console = err_console()
    console.print("last run: " + ("none" if last is None else _run_line(last)))
    for log in document["logs"]:
        for head in log["heads"]:
            console.print(terminal_safe(
                f"log {log['name'] or log['log_id'][:16]} tree {head['tree_id']}: size "
                f"{head['tree_size']}, root {head['root_hash']}"
                f"{' (frozen)' if head['frozen'] else ''}"))
        if log["scan"] is not None:
            size = max([log["scan"]["planned"], *(head["tree_size"] for head in log["heads"])])
            console.print(terminal_safe(_scan_line(log["scan"], size)))
    console.print(", ".join(counted(v, _singular(k)) for k, v in document["counts"].items()))
    for channel, held in document["alerts"].items():
        console.print(terminal_safe(
            f"alerts on {channel}: {held['open']} open, {held['resolved']} resolved, "
            f"{held['unsent']} not yet delivered"
            + (f" (last error: {held['last_error']})" if held["last_error"] else "")))
        for claim in held["claimed"]:
            console.print(terminal_safe(
                f"  {claim['fingerprint']} ({claim['state']}) claimed by {claim['claimed_by']} "
                f"at {claim['claimed_at'][:19]}: a run is sending it, or died doing so; "
                f"if so, the first run after {claim['free_after'][:19]} sends it"))


def _run_line(run: dict[str, Any]) -> str:
    started = f"{run['kind']} at {run['started_at'][:19]}, "
    if run["finished_at"] is None:  # recorded, then stopped before its end (its alerts) was
        return started + "DID NOT FINISH (killed while sending its alerts, or sending them now)"
    return (started + f"{'complete' if run['complete'] else 'INCOMPLETE'}, "
            f"exit {run['exit_code']}"
            + (f" (interrupted by {run['interrupted']})" if run["interrupted"] else ""))


def _singular(key: str) -> str:
    """A count's key as the noun `counted` takes ("pending_entries" -> "pending entry")."""
    noun = key.replace("_", " ")
    return noun[:-3] + "y" if noun.endswith("ies") else noun.removesuffix("s")


def _alerts_by_channel(rows: list[DeliveryRow]) -> dict[str, dict[str, Any]]:
    """Per channel: alerts by delivery state, the latest error of one not yet delivered, and
    the claims held (a run sending the alert now, or one killed while it did: its claim is
    taken over only once the lease has passed, and nothing else would say why it waits)."""
    from auditor.store.deliveries import LEASE

    channels: dict[str, dict[str, Any]] = {}
    for row in rows:
        held = channels.setdefault(row.channel, {"open": 0, "resolved": 0, "unsent": 0,
                                                 "last_error": None, "claimed": []})
        held[row.state.value] += 1
        if row.state.value == "unsent" and row.last_error:
            held["last_error"] = row.last_error
        if row.claimed_by is not None and row.claimed_at is not None:
            held["claimed"].append({
                "fingerprint": row.fingerprint, "state": row.state.value,
                "claimed_by": row.claimed_by, "claimed_at": row.claimed_at.isoformat(),
                "free_after": (row.claimed_at + LEASE).isoformat()})
    return channels


def _scan_line(scan: dict[str, Any], size: int) -> str:
    """`size`: the log's latest size, which ranges are planned toward a few at a time."""
    line = (f"  scanned to {scan['position']} of {size} ({scan['url']}): "
            f"{scan['matches']} under pinned keys, {scan['unparsable']} unparsable")
    if scan["unparsable_sample"]:
        line += f" (first: {scan['unparsable_sample']})"
    if scan["open_ranges"]:
        line += f"; {counted(scan['open_ranges'], 'range')} still to scan"
    return line


@app.command("report")
def report_command(
    report_format: Annotated[OutputFormat, typer.Option(
        "--format", metavar="FORMAT",
        help=f"Output format: {', '.join(FORMAT_NAMES)}.")] = OutputFormat.JSON,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", metavar="FILE",
        help="Write to FILE (atomically) instead of stdout; - is stdout.")] = None,
    config_path: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Render the latest run as a report (JSON is the source of truth; the rest render it)."""
    import sys

    from auditor.errors import ConfigError
    from auditor.report.build import build_report
    from auditor.report.files import report_file
    from auditor.report.formats import write
    from auditor.store.runs import latest_run

    if output is not None and str(output) == "-":  # the convention, not a file named "-"
        output = None
    sessions = read_store(config_path, db)
    with sessions() as session:  # the report's rows stream from the store while written
        run = latest_run(session)
        if run is None:
            raise ConfigError("no run recorded yet: run `audit run` or `audit reconcile` first")
        document = build_report(session, run)
        if output is None:
            write(document, report_format, sys.stdout)
        else:
            with report_file(output) as out:
                write(document, report_format, out)
    if output is not None:
        say(f"wrote {output}")
    raise typer.Exit(ExitCode.CLEAN)


@app.command("entries")
def entries_command(
    component: Annotated[str | None, typer.Option(metavar="NAME",
                                                  help="Only this component.")] = None,
    limit: Annotated[int, typer.Option(metavar="N", click_type=INTEGER,
                                       help="The newest N (0: all).")] = 100,
    config_path: ConfigOption = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """List stored entries and endorsements with each check's outcome."""
    from auditor.store.queries import latest_records

    within(limit, "--limit", low_means="all")
    sessions = read_store(config_path, db)
    with sessions() as session:
        _check_component(session, component)
        records = latest_records(session, component, limit or None)
    if json_output:
        print_json({"entries": [r.to_json() for r in records]})
        return
    from rich.table import Table

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
            terminal_safe(record.component or "-"),
            "-" if record.log_index is None else
            f"{record.log_index}{' (unsigned)' if record.unsigned_index else ''}",
            (data["integrated_time_utc"] or "-")[:19],
            terminal_safe(record.subject_name or "-"),
            status,
            checks,
        )
    err_console().print(table)
