"""`audit reconcile` (one release, one-off) and `audit run` (the scheduled job)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session, sessionmaker

from auditor.audit import AuditResult, audit_releases, store_audit
from auditor.cli.app import EXIT_CODES_HELP, ExitCode, app, err_console, print_json, terminal_safe
from auditor.cli.crawl import run_crawl, summary_line
from auditor.cli.options import (
    ConfigOption,
    DbOption,
    JsonOption,
    KeyOption,
    RekorKeyOption,
    RekorUrlOption,
    StatementsOption,
    TrustedRootOption,
    keyring_for,
    settings,
)
from auditor.config import AuditConfig
from auditor.crawl.crawler import CrawlRequest
from auditor.crawl.lock import RunLock
from auditor.errors import ConfigError
from auditor.findings import Finding, Severity
from auditor.ingest import import_paths, record_keys
from auditor.reconcile.manifest import ComponentInput, Release, load_manifest
from auditor.report.build import build_report
from auditor.report.formats import OutputFormat, render
from auditor.store import models
from auditor.store.database import engine_of, open_database


def one_off_release(manifest: Path | None, flags: dict[str, Any],
                    evidence: Path | None) -> Release:
    release = load_manifest(manifest) if manifest else Release(name="one-off")
    for component, value in flags.items():
        if value is None:
            continue
        if component == "kernel_cmd_line":
            release.components[component] = ComponentInput(component, cmdline=value)
        else:
            release.components[component] = ComponentInput(component, artifact=value)
    if evidence is not None:
        release.evidence = evidence
    if not release.components and release.evidence is None:
        raise ConfigError("nothing to reconcile: give a MANIFEST, an artifact flag or --evidence")
    return release


def print_findings(findings: list[Finding]) -> None:
    order = sorted(findings, key=lambda f: (-f.severity.rank, f.component or "", f.rule))
    for finding in order:
        mark = " (suppressed)" if finding.suppressed_by else ""
        err_console.print(terminal_safe(
            f"{finding.severity.value.upper():8} {finding.rule} {finding.component or '-'}"
            f"{' [' + finding.release + ']' if finding.release else ''}: {finding.detail}{mark}"))


@app.command("reconcile")
def reconcile_command(
    manifest: Annotated[Path | None, typer.Argument(help="Release manifest (TOML).")] = None,
    stage0: Annotated[Path | None, typer.Option(help="stage0 firmware ROM.")] = None,
    kernel: Annotated[Path | None, typer.Option(help="Kernel bzImage.")] = None,
    initrd: Annotated[Path | None, typer.Option(help="initrd (init_ram_fs).")] = None,
    cmdline: Annotated[str | None, typer.Option(help="Kernel command line text.")] = None,
    system_image: Annotated[Path | None, typer.Option(help="System image.")] = None,
    evidence: Annotated[Path | None, typer.Option(help="Oak Evidence (observed values).")] = None,
    config_path: ConfigOption = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Reconcile local artifacts and/or evidence with the verified endorsements in the store.

    Exit 0 when only MATCH and informational findings, 1 otherwise.
    """
    config = settings(config_path, db=db)
    release = one_off_release(manifest, {"stage0": stage0, "kernel": kernel,
                                         "init_ram_fs": initrd, "kernel_cmd_line": cmdline,
                                         "system_image": system_image}, evidence)
    assert config.database_url is not None
    sessions = open_database(config.database_url)
    result = AuditResult("reconcile", datetime.now(UTC), config=_config_name(config))
    with sessions() as session:
        result.releases, result.findings = audit_releases(
            session, [release], whole_store=False, covered=list(config.keyset.components),
            suppressions=config.suppressions)
    failing = result.failing(Severity.LOW)
    code = ExitCode.FINDINGS if failing else ExitCode.CLEAN
    store_audit(sessions, result, code)
    if json_output:
        print_json({"findings": [_contract(f) for f in result.findings],
                    "releases": result.summary()["releases"]})
    print_findings(result.findings)
    raise typer.Exit(code)


def _contract(finding: Finding) -> dict[str, Any]:
    document = finding.to_json()
    return {"rule": document.pop("rule"), "component": document.pop("component"),
            "severity": document.pop("severity"), "detail": document.pop("detail"),
            "evidence": document.pop("evidence"), **document}


def _config_name(config: AuditConfig) -> str | None:
    if config.path is None:
        return None
    try:
        return str(config.path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(config.path)


def _write_reports(sessions: sessionmaker[Session], result: AuditResult, code: int,
                   directory: Path | None, formats: list[str]) -> list[Path]:
    if directory is None or not formats:
        return []
    assert result.run_id is not None
    with sessions() as session:
        run = session.get(models.Run, result.run_id)
        assert run is not None
        document = build_report(session, run, code)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in formats:
        fmt = OutputFormat(name)
        path = directory / f"audit-report.{fmt.value}"
        path.write_text(render(document, fmt))
        written.append(path)
    return written


def run_exit_code(result: AuditResult, fail_on: Severity) -> ExitCode:
    """Findings at or above the threshold beat an incomplete crawl: they are what pages."""
    if result.failing(fail_on):
        return ExitCode.FINDINGS
    return ExitCode.CLEAN if result.complete else ExitCode.INCOMPLETE


@app.command("run", help="The scheduled job: crawl (unless --offline), verify, reconcile every "
             "configured release, write the configured reports, print a summary.\n\n"
             + EXIT_CODES_HELP)
def run_command(
    config_path: ConfigOption = None,
    offline: Annotated[bool, typer.Option(envvar="AUDITOR_OFFLINE",
                                          help="Do not contact the log.")] = False,
    fail_on: Annotated[Severity, typer.Option(envvar="AUDITOR_FAIL_ON", help="Exit 1 for "
                                              "findings at or above this severity.")]
    = Severity.LOW,
    report_dir: Annotated[Path | None, typer.Option(envvar="AUDITOR_REPORT_DIR",
                                                    help="Write reports here.")] = None,
    report_format: Annotated[list[OutputFormat] | None, typer.Option(
        "--format", help="Report format(s) to write (with --report-dir).")] = None,
    rekor_url: RekorUrlOption = None,
    rekor_key: RekorKeyOption = None,
    trusted_root: TrustedRootOption = None,
    key: KeyOption = None,
    statements: StatementsOption = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    config = settings(config_path, db=db, rekor_url=rekor_url, rekor_keys=rekor_key,
                      trusted_root=trusted_root, keys=key, statements=statements)
    releases = [load_manifest(r.manifest, r.name) for r in config.releases]
    assert config.database_url is not None
    sessions = open_database(config.database_url)
    result = AuditResult("run", datetime.now(UTC), config=_config_name(config), offline=offline)
    with RunLock(engine_of(sessions)):
        record_keys(sessions, config.keyset)
        if config.imports:
            report = import_paths(sessions, config.imports, keyring_for(config), config.keyset)
            for path, reason in report.errors:
                raise ConfigError(f"import {path}: {reason}")
        if not offline:
            result.crawl = run_crawl(config, sessions, CrawlRequest(
                uuids=tuple(config.uuids), log_indexes=tuple(config.log_indexes)),
                record=False, show_progress=sys.stderr.isatty())
        with sessions() as session:
            result.releases, result.findings = audit_releases(
                session, releases, whole_store=True, covered=list(config.keyset.components),
                suppressions=config.suppressions, expected_since=config.expected_since)
        code = run_exit_code(result, fail_on)
        store_audit(sessions, result, code)
        reports = _write_reports(sessions, result, code, report_dir or config.reports.directory,
                                 [f.value for f in report_format or []]
                                 or config.reports.formats)
    _print_run_summary(result, code, reports, json_output)
    raise typer.Exit(code)


def _print_run_summary(result: AuditResult, code: int, reports: list[Path],
                       json_output: bool) -> None:
    findings = result.all_findings
    counts: dict[str, int] = {}
    for finding in findings:
        if finding.suppressed_by is None and finding.rule != "MATCH":
            counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
    if json_output:
        print_json({"exit_code": int(code), "complete": result.complete,
                    "findings_by_severity": counts,
                    "suppressed": sum(1 for f in findings if f.suppressed_by),
                    "crawl": result.crawl.to_json() if result.crawl else None,
                    "releases": result.summary()["releases"],
                    "reports": [str(p) for p in reports],
                    "findings": [f.to_json() for f in findings]})
    print_findings([f for f in findings if f.rule != "MATCH"])
    if result.crawl:
        err_console.print(terminal_safe(summary_line(result.crawl)))
    matches = sum(1 for f in findings if f.rule == "MATCH")
    err_console.print(terminal_safe(
        f"audit run: {len(result.releases)} release(s), {matches} MATCH, "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + f"; exit {int(code)}"
        + (f"; reports: {', '.join(str(p) for p in reports)}" if reports else "")))
