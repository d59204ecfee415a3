"""`audit reconcile` (one release, one-off) and `audit run` (the scheduled job)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditor.cli.app import EXIT_CODES_HELP, ExitCode, app, print_json, say
from auditor.cli.options import (
    ConfigOption,
    DbOption,
    DeadlineOption,
    IndexFilesOption,
    IndexKeysetOption,
    IndexLinksOption,
    JsonOption,
    KeyOption,
    RateOption,
    RekorKeyOption,
    RekorUrlOption,
    StatementsOption,
    TrustedRootOption,
    settings_for,
)
from auditor.findings import Severity
from auditor.report.kinds import OutputFormat

if TYPE_CHECKING:
    from auditor.findings import Finding
    from auditor.reconcile.manifest import Release
    from auditor.service import AuditResult

#: Findings listed one per line after a run; the rest are counted (the reports hold them all).
SHOWN_FINDINGS = 50
SEVERITIES = ("info", "low", "medium", "high", "critical")


def one_off_release(manifest: Path | None, flags: dict[str, Any],
                    evidence: Path | None) -> Release:
    from auditor.errors import ConfigError
    from auditor.reconcile.manifest import ComponentInput, Release, load_manifest

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


def print_findings(findings: list[Finding], limit: int | None = None) -> None:
    order = sorted(findings, key=lambda f: (-f.severity.rank, f.component or "", f.rule))
    for finding in order[:limit]:
        mark = " (suppressed)" if finding.suppressed_by else ""
        say(f"{finding.severity.value.upper():8} {finding.rule} {finding.component or '-'}"
            f"{' [' + finding.release + ']' if finding.release else ''}: "
            f"{finding.detail}{mark}")
    if limit is not None and len(order) > limit:
        say(f"… and {len(order) - limit} more finding(s): see the reports or `audit findings`")


def _contract(finding: Finding) -> dict[str, Any]:
    document = finding.to_json()
    return {"rule": document.pop("rule"), "component": document.pop("component"),
            "severity": document.pop("severity"), "detail": document.pop("detail"),
            "evidence": document.pop("evidence"), **document}


@app.command("reconcile")
def reconcile_command(
    manifest: Annotated[Path | None, typer.Argument(metavar="[MANIFEST]",
                                                    help="Release manifest (TOML).")] = None,
    stage0: Annotated[Path | None, typer.Option(metavar="ROM",
                                                help="stage0 firmware ROM.")] = None,
    kernel: Annotated[Path | None, typer.Option(metavar="BZIMAGE",
                                                help="Kernel bzImage.")] = None,
    initrd: Annotated[Path | None, typer.Option(metavar="FILE",
                                                help="initrd (init_ram_fs).")] = None,
    cmdline: Annotated[str | None, typer.Option(metavar="TEXT",
                                                help="Kernel command line text.")] = None,
    system_image: Annotated[Path | None, typer.Option(metavar="FILE",
                                                      help="System image.")] = None,
    evidence: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Oak Evidence message (observed values).")] = None,
    config_path: ConfigOption = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Reconcile local artifacts and/or evidence with the verified endorsements in the store.

    Exit 0 when only MATCH and informational findings, 1 otherwise.
    """
    from auditor.service import Auditor

    settings = settings_for(config_path, db=db)
    release = one_off_release(manifest, {"stage0": stage0, "kernel": kernel,
                                         "init_ram_fs": initrd, "kernel_cmd_line": cmdline,
                                         "system_image": system_image}, evidence)
    with Auditor(settings) as auditor:
        result = auditor.reconcile(release)
    if json_output:
        print_json({"findings": [_contract(f) for f in result.findings],
                    "releases": result.summary()["releases"]})
    print_findings(result.findings)
    raise typer.Exit(result.exit_code)


@app.command("run", help="The scheduled job: import configured snapshots, crawl (unless "
             "--offline), verify, reconcile every configured release, judge the whole store, "
             "write the configured reports, print a summary.\n\n" + EXIT_CODES_HELP)
def run_command(
    config_path: ConfigOption = None,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Do not contact any log. [env: AUDITOR_OFFLINE]")] = False,
    fail_on: Annotated[Severity | None, typer.Option(
        "--fail-on", metavar="SEVERITY",
        help="Exit 1 for findings at or above this severity (default low). "
        "[env: AUDITOR_FAIL_ON]")] = None,
    report_dir: Annotated[Path | None, typer.Option(
        "--report-dir", metavar="DIR", help="Write reports here (default formats: json, md, "
        "html, sarif). [env: AUDITOR_REPORT_DIR]")] = None,
    report_format: Annotated[list[OutputFormat] | None, typer.Option(
        "--format", metavar="FORMAT",
        help="Report format to write with --report-dir (repeatable).")] = None,
    rekor_url: RekorUrlOption = None,
    rekor_key: RekorKeyOption = None,
    trusted_root: TrustedRootOption = None,
    key: KeyOption = None,
    statements: StatementsOption = None,
    index_files: IndexFilesOption = None,
    index_links: IndexLinksOption = None,
    index_keyset: IndexKeysetOption = None,
    rate: RateOption = None,
    deadline: DeadlineOption = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    from auditor.cli.crawl import progress_display
    from auditor.errors import AuditorError
    from auditor.service import Auditor, write_reports

    settings = settings_for(config_path, db=db, rekor_url=rekor_url, rekor_keys=rekor_key,
                            trusted_root=trusted_root, keys=key, statements=statements,
                            rate=rate, deadline=deadline, index_files=index_files,
                            index_links=index_links, index_keysets=index_keyset,
                            offline=offline or None,
                            fail_on=fail_on.value if fail_on else None, report_dir=report_dir,
                            formats=tuple(f.value for f in report_format or ()))
    with progress_display() as progress, Auditor(settings, progress=progress) as auditor:
        result = auditor.run()
        reports: list[Path] = []
        failure = None
        if settings.reports.directory is not None:
            try:
                reports = write_reports(auditor.sessions, result, settings.reports.directory,
                                        settings.reports.formats_to_write())
            except AuditorError as error:
                failure = error.diagnostics()
    _print_run_summary(result, reports, json_output)
    if failure is not None:
        # A report that could not be written never hides what the run found.
        say(f"error: {failure}")
        raise typer.Exit(result.exit_code or ExitCode.USAGE)
    raise typer.Exit(result.exit_code)


def _print_run_summary(result: AuditResult, reports: list[Path], json_output: bool) -> None:
    from auditor.cli.crawl import summary_line

    findings = result.findings
    counts = result.by_severity()
    if json_output:
        print_json({"exit_code": int(result.exit_code), "complete": result.complete,
                    "findings_by_severity": counts,
                    "suppressed": sum(1 for f in findings if f.suppressed_by),
                    "overrides": result.overrides,
                    "crawl": result.crawl.to_json() if result.crawl else None,
                    "releases": result.summary()["releases"],
                    "reports": [str(p) for p in reports],
                    "findings": [f.to_json() for f in findings]})
    print_findings([f for f in findings if f.rule != "MATCH"], SHOWN_FINDINGS)
    if result.crawl:
        say(summary_line(result.crawl))
    for name, origin in result.overrides.items():
        say(f"note: {name} set by {origin}, not by the config file")
    matches = sum(1 for f in findings if f.rule == "MATCH")
    by_severity = ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES) if counts.get(s))
    say(f"audit run: {len(result.releases)} release(s), {matches} MATCH"
        + (f", {by_severity}" if by_severity else "") + f"; exit {int(result.exit_code)}"
        + (f"; reports: {', '.join(str(p) for p in reports)}" if reports else ""))
