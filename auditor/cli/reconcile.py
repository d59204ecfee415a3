"""`audit reconcile` (one release, one-off) and `audit run` (the scheduled job)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditor.cli.app import EXIT_CODES_HELP, app, print_json_stream, say, say_error
from auditor.cli.options import (
    ConfigOption,
    DbOption,
    DeadlineOption,
    IndexFilesOption,
    IndexKeysetOption,
    IndexLinksOption,
    JsonOption,
    KeyOption,
    NotifyMinSeverityOption,
    NotifyWebhookOption,
    RateOption,
    RekorKeyOption,
    RekorUrlOption,
    StatementsOption,
    TrustedRootOption,
    settings_for,
)
from auditor.report.kinds import FORMAT_NAMES, OutputFormat
from auditor.wording import counted

if TYPE_CHECKING:
    from auditor.notify.dispatch import DeliveryReport
    from auditor.reconcile.manifest import Release
    from auditor.service import Auditor, AuditResult

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


def print_findings(result: AuditResult) -> None:
    """The most severe findings (not MATCH), one line each; the rest counted."""
    tally = result.tally
    shown = [f for f in tally.shown() if f.rule != "MATCH"]
    for finding in shown:
        mark = " (suppressed)" if finding.suppressed_by else ""
        say(f"{finding.severity.value.upper():8} {finding.rule} {finding.component or '-'}"
            f"{' [' + finding.release + ']' if finding.release else ''}: "
            f"{finding.detail}{mark}")
    rest = tally.total - tally.matches - len(shown)
    if rest > 0:
        say(f"… and {counted(rest, 'more finding')}: see the reports or `audit findings`")


_CONTRACT_FIRST = ("rule", "component", "severity", "detail", "evidence")


def _contract(item: Mapping[str, Any]) -> dict[str, Any]:
    """`audit reconcile --json`'s findings: the contract's keys first, then the rest."""
    return {**{key: item[key] for key in _CONTRACT_FIRST},
            **{key: value for key, value in item.items() if key not in _CONTRACT_FIRST}}


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

    release = one_off_release(manifest, {"stage0": stage0, "kernel": kernel,
                                         "init_ram_fs": initrd, "kernel_cmd_line": cmdline,
                                         "system_image": system_image}, evidence)
    settings = settings_for(config_path, db=db, release_components=tuple(release.components))
    from auditor.report.build import finding_item

    with Auditor(settings) as auditor:
        result = auditor.reconcile(release)
        if json_output:
            print_json_stream({"releases": result.summary()["releases"]}, "findings",
                              (_contract(finding_item(f)) for f in auditor.findings(result)))
    print_findings(result)
    raise typer.Exit(result.exit_code)


@app.command("run", help="The scheduled job: import configured snapshots, crawl (unless "
             "--offline), verify, reconcile every configured release, judge the whole store, "
             "write the configured reports, print a summary.\n\n" + EXIT_CODES_HELP)
def run_command(
    config_path: ConfigOption = None,
    offline: Annotated[bool | None, typer.Option(
        "--offline/--online", help="Do not contact any log (--online: do, whatever "
        "AUDITOR_OFFLINE says). [env: AUDITOR_OFFLINE]")] = None,
    fail_on: Annotated[str | None, typer.Option(
        "--fail-on", metavar="SEVERITY",
        help="Exit 1 for findings at or above this severity: info, low, medium, high, "
        "critical (default low). [env: AUDITOR_FAIL_ON]")] = None,
    report_dir: Annotated[Path | None, typer.Option(
        "--report-dir", metavar="DIR", help="Write reports here (default formats: json, md, "
        "html, sarif). [env: AUDITOR_REPORT_DIR]")] = None,
    report_format: Annotated[list[OutputFormat] | None, typer.Option(
        "--format", metavar="FORMAT",
        help="Report format to write with --report-dir (repeatable): "
        f"{', '.join(FORMAT_NAMES)}.")] = None,
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
    notify_webhook: NotifyWebhookOption = None,
    notify_min_severity: NotifyMinSeverityOption = None,
    metrics_file: Annotated[Path | None, typer.Option(
        "--metrics-file", metavar="PATH", help="Write Prometheus metrics of the run here "
        "(atomically; node_exporter's textfile collector). [env: AUDITOR_METRICS_FILE]")]
    = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    from auditor.cli.crawl import progress_display
    from auditor.service import Auditor

    settings = settings_for(config_path, db=db, rekor_url=rekor_url, rekor_keys=rekor_key,
                            trusted_root=trusted_root, keys=key, statements=statements,
                            rate=rate, deadline=deadline, index_files=index_files,
                            index_links=index_links, index_keysets=index_keyset,
                            offline=offline,
                            fail_on=fail_on, report_dir=report_dir,
                            formats=tuple(f.value for f in report_format or ()),
                            notify_webhook=notify_webhook,
                            notify_min_severity=notify_min_severity, metrics_file=metrics_file)
    with progress_display() as progress, Auditor(settings, progress=progress) as auditor:
        result = auditor.run()
        if json_output:
            _print_run_json(auditor, result)
    _print_run_summary(result)
    for problem in result.problems:
        say_error(problem)
    raise typer.Exit(result.process_exit_code)


def alerts_line(report: DeliveryReport) -> str:
    """What the run's alerts did on each channel, and why the first failure failed."""
    summary = report.to_json()
    channels = []
    for channel, delivered in summary["delivered"].items():
        failed, skipped = summary["failed"][channel], summary["skipped"][channel]
        channels.append(f"{channel} {delivered} delivered"
                        + (f", {failed} FAILED" if failed else "")
                        + (f", {skipped} held by another run" if skipped else ""))
    line = "alerts: " + ("; ".join(channels) or "nothing new to send")
    if report.notes:
        first, more = report.notes[0], len(report.notes) - 1
        line += (f" (note: {first.channel}: {first.reason}"
                 + (f"; {more} more in --json" if more else "") + ")")
    if report.failures:
        first = report.failures[0]
        line += (" (failed alerts are sent again by the next run; first failure: "
                 f"{first.channel}: {first.reason})")
    if report.held:
        first, more = report.held[0], len(report.held) - 1
        line += (f" ({len(report.held)} held by another run not delivered: {first.channel}: "
                 f"{first.reason}" + (f"; {more} more in --json" if more else "") + ")")
    return line


def _print_run_json(auditor: Auditor, result: AuditResult) -> None:
    from auditor.report.build import finding_item

    tally = result.tally
    print_json_stream({"exit_code": int(result.exit_code), "complete": result.complete,
                       "findings_by_severity": tally.by_severity,
                       "suppressed": tally.suppressed, "overrides": result.overrides,
                       "crawl": result.crawl.to_json() if result.crawl else None,
                       "releases": result.summary()["releases"],
                       "reports": [str(p) for p in result.reports],
                       "alerts": result.alerts.to_json() if result.alerts else None},
                      "findings", (finding_item(f) for f in auditor.findings(result)))


def _print_run_summary(result: AuditResult) -> None:
    from auditor.cli.crawl import summary_line

    counts = result.tally.by_severity
    reports = result.reports
    print_findings(result)
    if result.crawl:
        say(summary_line(result.crawl))
    if result.alerts:
        say(alerts_line(result.alerts))
    for name, origin in result.overrides.items():
        say(f"note: {name} set by {origin}, not by the config file")
    for suppression in result.expired:
        say(f"note: the suppression of {suppression.rule}"
            f"{' ' + suppression.component if suppression.component else ''} expired on "
            f"{suppression.expires.isoformat()}: what it suppressed is reported")
    # The same counts as the reports' headline (MATCH is an info finding there too).
    by_severity = ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES) if counts.get(s))
    matches = f" ({result.tally.matches} MATCH)" if result.tally.matches else ""
    say(f"audit run: {counted(len(result.releases), 'release')}"
        + (f", {by_severity}{matches}" if by_severity else ", no findings")
        + f"; exit {int(result.exit_code)}"
        + (f"; reports: {', '.join(str(p) for p in reports)}" if reports else ""))
