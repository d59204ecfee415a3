"""`audit crawl`: bring the database in step with the log for every component key."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy.orm import Session, sessionmaker

from auditor.cli.app import ExitCode, app, err_console, print_json, terminal_safe
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
from auditor.crawl.crawler import Crawler, CrawlRequest, CrawlSummary
from auditor.crawl.lock import RunLock
from auditor.crawl.statements import open_store
from auditor.errors import ConfigError
from auditor.source.rekor_client import RekorClient
from auditor.store.database import engine_of, open_database
from auditor.store.runs import record_run


def crawl_exit_code(summary: CrawlSummary) -> ExitCode:
    if not summary.complete:
        return ExitCode.INCOMPLETE
    return ExitCode.FINDINGS if summary.integrity_findings else ExitCode.CLEAN


def run_crawl(config: AuditConfig, sessions: sessionmaker[Session], request: CrawlRequest, *,
              rate: float | None = None, show_progress: bool = True,
              record: bool = True) -> CrawlSummary:
    """Crawl (the caller holds the run lock); record it as a run of its own if `record`."""
    if not config.keyset.components and not request.uuids and not request.log_indexes:
        raise ConfigError("no component keys configured: give --key COMPONENT=PEM or --config")
    started = datetime.now(UTC)
    progress_bar = _progress() if show_progress and sys.stderr.isatty() else None
    with RekorClient(config.log.url,
                     requests_per_second=rate or config.log.requests_per_second,
                     max_retries=config.log.max_retries,
                     backoff_base=config.log.backoff_base) as client, \
            progress_bar or nullcontext():
        task = progress_bar.add_task("crawl", total=None) if progress_bar else None

        def progress(stage: str, done: int, total: int) -> None:
            if progress_bar is not None and task is not None:
                progress_bar.update(task, description=stage, completed=done, total=total)

        crawler = Crawler(sessions, client, keyring_for(config), config.keyset,
                          open_store(config.statements), progress)
        summary = crawler.run(request)
    if record:
        record_run(sessions, "crawl", started, summary.to_json(), summary.findings,
                   summary.complete, crawl_exit_code(summary))
    return summary


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    console=err_console, transient=True)


def summary_line(summary: CrawlSummary) -> str:
    state = "complete" if summary.complete else f"INCOMPLETE ({summary.incomplete_reason})"
    return (f"crawl {state}: {summary.new} new, {summary.verified} verified, {summary.failed} "
            f"failed, {summary.requests} requests, {summary.retries} retries; "
            f"{len(summary.findings)} finding(s). The log's search index is only a hint: "
            "--from-index/--to-index scans a range without trusting it.")


@app.command("crawl")
def crawl_command(
    config_path: ConfigOption = None,
    rekor_url: RekorUrlOption = None,
    rekor_key: RekorKeyOption = None,
    trusted_root: TrustedRootOption = None,
    key: KeyOption = None,
    statements: StatementsOption = None,
    uuid: Annotated[list[str] | None, typer.Option("--uuid", help="Also fetch this entry.")] = None,
    log_index: Annotated[
        list[int] | None, typer.Option("--log-index", help="Also fetch this virtual index.")
    ] = None,
    from_index: Annotated[
        int | None, typer.Option(help="Range scan: first virtual index (inclusive).")
    ] = None,
    to_index: Annotated[
        int | None, typer.Option(help="Range scan: last virtual index (inclusive).")
    ] = None,
    rate: Annotated[
        float | None, typer.Option(envvar="AUDITOR_RATE", help="Requests per second to the log.")
    ] = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Crawl the log for entries signed by every component key; verify and store them.

    Exit 0 complete with no integrity finding; 1 a log-integrity or entry finding;
    3 incomplete (the log gave up; everything verified is kept); 75 locked; 2 usage error.
    """
    if (from_index is None) != (to_index is None):
        raise ConfigError("--from-index and --to-index go together")
    if from_index is not None and to_index is not None and not 0 <= from_index <= to_index:
        raise ConfigError("the range scan needs 0 <= --from-index <= --to-index")
    config = settings(config_path, db=db, rekor_url=rekor_url, rekor_keys=rekor_key,
                      trusted_root=trusted_root, keys=key, statements=statements)
    request = CrawlRequest(
        uuids=tuple(uuid or config.uuids), log_indexes=tuple(log_index or config.log_indexes),
        from_index=from_index, to_index=to_index)
    assert config.database_url is not None
    sessions = open_database(config.database_url)
    with RunLock(engine_of(sessions)):
        summary = run_crawl(config, sessions, request, rate=rate)
    if json_output:
        print_json(summary.to_json())
    for finding in summary.findings:
        if finding.rule != "SHARD_ROTATED":
            err_console.print(terminal_safe(f"{finding.rule} {finding.component or '-'}: "
                                            f"{finding.detail}"))
    err_console.print(terminal_safe(summary_line(summary)))
    raise typer.Exit(crawl_exit_code(summary))
