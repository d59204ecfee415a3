"""`audit crawl`: bring the database in step with the log for every component key."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from auditor.cli.app import app, err_console, print_json, say
from auditor.cli.options import (
    INTEGER,
    ConfigOption,
    DbOption,
    DeadlineOption,
    IndexFilesOption,
    IndexKeysetOption,
    IndexLinksOption,
    JsonOption,
    KeyOption,
    LogVerifierOption,
    RateOption,
    RekorKeyOption,
    RekorUrlOption,
    StatementsOption,
    TiledLogOption,
    TlogPolicyOption,
    TrustedRootOption,
    settings_for,
    within,
)
from auditor.wording import counted

if TYPE_CHECKING:
    from auditor.crawl.interface import Progress
    from auditor.crawl.summary import CrawlSummary


@contextmanager
def progress_display() -> Iterator[Progress | None]:
    """A progress bar on stderr when it is a terminal (stage, done/total, requests sent so
    far, time); quiet under cron."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    from auditor.http_client import requests_sent

    before = requests_sent()

    class Requests(ProgressColumn):
        # Read at every refresh: requests go on between the sources' progress calls.
        def render(self, task: Task) -> Text:
            return Text(counted(requests_sent() - before, "request"))

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   Requests(), TimeElapsedColumn(), console=err_console(), transient=True)
    with bar:
        task = bar.add_task("starting", total=None)

        def update(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total or None)

        yield update


def summary_line(summary: CrawlSummary, *, index_hint: bool = True) -> str:
    state = "complete" if summary.complete else f"INCOMPLETE ({summary.incomplete_reason})"
    parts = [f"{summary.new} new", f"{summary.verified} verified",
             f"{summary.failed} failed"]
    if summary.rechecked:
        parts.append(f"{summary.rechecked} checked again")
    if summary.scanned:
        parts.append(f"{summary.scanned} scanned")
    if summary.unparsable:
        parts.append(f"{summary.unparsable} unparsable")
    line = (f"crawl {state}: {', '.join(parts)}, {counted(summary.requests, 'request')}, "
            f"{counted(summary.retries, 'retry')}; {counted(len(summary.findings), 'finding')}.")
    if not index_hint:
        return line  # tiled logs only: every entry was read, no index was trusted
    return (f"{line} The log's search index is only a hint: --from-index/--to-index scans a "
            "range without trusting it.")


@app.command("crawl")
def crawl_command(
    config_path: ConfigOption = None,
    rekor_url: RekorUrlOption = None,
    rekor_key: RekorKeyOption = None,
    trusted_root: TrustedRootOption = None,
    tiled_log: TiledLogOption = None,
    log_verifier: LogVerifierOption = None,
    tlog_policy: TlogPolicyOption = None,
    key: KeyOption = None,
    statements: StatementsOption = None,
    uuid: Annotated[list[str] | None, typer.Option(
        "--uuid", metavar="UUID", help="Also fetch this entry (repeatable).")] = None,
    log_index: Annotated[list[int] | None, typer.Option(
        "--log-index", metavar="N", click_type=INTEGER,
        help="Also fetch this virtual index (repeatable).")] = None,
    from_index: Annotated[int | None, typer.Option(
        metavar="N", click_type=INTEGER,
        help="Range scan: first virtual index (inclusive).")] = None,
    to_index: Annotated[int | None, typer.Option(
        metavar="N", click_type=INTEGER,
        help="Range scan: last virtual index (inclusive; clamped to the log's "
        "size).")] = None,
    index_files: IndexFilesOption = None,
    index_links: IndexLinksOption = None,
    index_keyset: IndexKeysetOption = None,
    rate: RateOption = None,
    deadline: DeadlineOption = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Crawl the log for entries signed by every component key; verify and store them.

    With --tiled-log, read every entry of that tiled log (Rekor v2 shard, Tessera log) instead:
    its checkpoint, tiles and bundles are verified and each entry under a component key is
    stored; a rescan reads only what is new.

    Exit 0 complete with no integrity finding; 1 a log-integrity or entry finding;
    3 incomplete (the log gave up or withheld entries; everything verified is kept);
    75 locked; 2 usage error.
    """
    from auditor.crawl.interface import CrawlRequest
    from auditor.errors import ConfigError, InputError
    from auditor.service import Auditor, crawl_exit_code

    for flag, value in (("--from-index", from_index), ("--to-index", to_index),
                        *(("--log-index", index) for index in log_index or ())):
        within(value, flag)
    if (from_index is None) != (to_index is None):
        raise ConfigError("--from-index and --to-index go together")
    if from_index is not None and to_index is not None and not 0 <= from_index <= to_index:
        raise ConfigError("the range scan needs 0 <= --from-index <= --to-index")
    settings = settings_for(config_path, db=db, rekor_url=rekor_url, rekor_keys=rekor_key,
                            trusted_root=trusted_root, keys=key, statements=statements,
                            rate=rate, deadline=deadline, index_files=index_files,
                            index_links=index_links, index_keysets=index_keyset,
                            tiled_log=tiled_log, log_verifier=log_verifier,
                            tlog_policy=tlog_policy)
    if not settings.rekor_v1 and (uuid or log_index or from_index is not None):
        raise ConfigError("--uuid, --log-index and --from-index/--to-index are Rekor v1's; a "
                          "tiled log is read whole")
    if uuid:
        # Checked now, as the config's are: a malformed one was sent to the log, and the crawl
        # ended incomplete (exit 3) for what is a usage error.
        from auditor.source.rekor_client import check_uuid

        for given in uuid:
            try:
                check_uuid(given)
            except InputError as error:
                raise ConfigError(f"--uuid: {error}") from None
    request = CrawlRequest(uuids=tuple(uuid or settings.uuids),
                           log_indexes=tuple(log_index or settings.log_indexes),
                           from_index=from_index, to_index=to_index)
    with progress_display() as progress, Auditor(settings, progress=progress) as auditor:
        result = auditor.crawl(request)
    assert result.crawl is not None
    summary = result.crawl
    if json_output:
        print_json(summary.to_json())
    for finding in summary.findings:
        if finding.rule != "SHARD_ROTATED":
            mark = " (suppressed)" if finding.suppressed_by else ""
            say(f"{finding.rule} {finding.component or '-'}: {finding.detail}{mark}")
    for name, origin in result.overrides.items():
        say(f"note: {name} set by {origin}")
    say(summary_line(summary, index_hint=settings.rekor_v1))
    raise typer.Exit(crawl_exit_code(summary))
