"""Building the configured sources: which logs to follow and where statements come from.

One place turns settings into source objects, all on the shared HTTP client (retries, rate
limit, deadlines), so a new kind of source is one more branch here and one more module under
`auditor/crawl/`, not edits across the CLI.
"""

from __future__ import annotations

from pathlib import Path

from auditor.crawl.interface import LogSource
from auditor.http_client import Deadline, HttpClient, RetryPolicy
from auditor.settings import Settings
from auditor.source.interface import StatementSource
from auditor.verify.trust import LogKeyring


def retry_policy(settings: Settings) -> RetryPolicy:
    log = settings.log
    return RetryPolicy(max_retries=log.max_retries, backoff_base=log.backoff_base,
                       request_deadline=log.request_deadline)


def run_deadline(settings: Settings) -> Deadline:
    return Deadline(settings.deadline)


def http_client(settings: Settings, service: str, deadline: Deadline) -> HttpClient:
    return HttpClient(service, requests_per_second=settings.log.requests_per_second,
                      policy=retry_policy(settings), deadline=deadline)


def log_sources(settings: Settings, keyring: LogKeyring,
                deadline: Deadline | None = None) -> list[LogSource]:
    from auditor.crawl.rekor_v1 import RekorV1Source
    from auditor.source.rekor_client import RekorClient

    deadline = deadline or run_deadline(settings)
    client = RekorClient(settings.log.url, http=http_client(settings, "Rekor", deadline))
    sources: list[LogSource] = [RekorV1Source(client, keyring)]
    if settings.index.configured:
        sources.append(publisher_index(settings, keyring, deadline))
    return sources


def publisher_index(settings: Settings, keyring: LogKeyring, deadline: Deadline) -> LogSource:
    """The publisher's own index, crawled after the logs it is compared with; it asks the log
    for the entries its Rekor receipts name."""
    from auditor.crawl.index import PublisherIndexSource
    from auditor.source.publisher_store import PublisherStore
    from auditor.source.rekor_client import RekorClient

    index = settings.index
    assert index.files is not None and index.links is not None
    http = HttpClient("publisher index", requests_per_second=index.requests_per_second,
                      policy=retry_policy(settings), deadline=deadline)
    rekor = RekorClient(settings.log.url, http=http_client(settings, "Rekor", deadline))
    return PublisherIndexSource(PublisherStore(index.files, index.links, http), rekor, keyring,
                                index.keysets, settings.expected_since)


def statement_source(settings: Settings, deadline: Deadline | None = None) -> StatementSource:
    from auditor.source.statements import DirectoryStore, EmptyStore, HttpStore

    # The publisher's files hold its statements and inline subjects too.
    source = settings.statements or settings.index.files
    if not source:
        return EmptyStore()
    if source.startswith(("http://", "https://")):
        return HttpStore(source, http_client(settings, "statement store",
                                             deadline or run_deadline(settings)))
    return DirectoryStore(Path(source))
