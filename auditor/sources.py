"""Building the configured sources: which logs to follow and where statements come from.

One place turns settings into source objects, all on the shared HTTP client (retries, rate
limit, deadlines), so a new kind of source is one more branch here and one more module under
`auditor/crawl/`, not edits across the CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.crawl.interface import CrawlJob, LogSource
from auditor.http_client import Deadline, HttpClient, RetryPolicy
from auditor.settings import RekorV2Settings, Settings
from auditor.source.interface import StatementSource
from auditor.verify.trust import LogKeyring, SigstoreInstance, TrustRefreshes

if TYPE_CHECKING:
    from auditor.crawl.summary import CrawlSummary
    from auditor.crawl.tiled import TiledLogSpec


def retry_policy(settings: Settings) -> RetryPolicy:
    return settings.log.retry_policy()


def run_deadline(settings: Settings) -> Deadline:
    return Deadline(settings.deadline)


def http_client(settings: Settings, service: str, deadline: Deadline,
                rate: float | None = None) -> HttpClient:
    """A client for `service` under the run's retry policy and deadline, at `rate` requests per
    second (default: the log's)."""
    rate = settings.log.requests_per_second if rate is None else rate
    return HttpClient(service, requests_per_second=rate, policy=retry_policy(settings),
                      deadline=deadline)


def log_sources(settings: Settings, keyring: LogKeyring | None, trust: TrustRefreshes,
                deadline: Deadline | None = None) -> list[LogSource]:
    """The followed logs: Rekor v1 (`keyring`: its log keys) unless turned off, tiled logs.
    `trust`: the crawl's TUF refreshes, whose failures the caller reports (a refresh failed
    where nobody looks is a crawl called complete on the cached shards)."""
    from auditor.crawl.rekor_v1 import RekorV1Source
    from auditor.source.rekor_client import RekorClient

    deadline = deadline or run_deadline(settings)
    sources: list[LogSource] = []
    if settings.rekor_v1:
        assert keyring is not None, "Rekor v1 is followed: its log keys are needed"
        client = RekorClient(settings.log.url, http=http_client(settings, "Rekor", deadline))
        sources.append(RekorV1Source(client, keyring))
    sources += tiled_log_sources(settings, deadline, trust)
    if settings.index.configured:
        assert keyring is not None, "the publisher's Rekor receipts need the log keys"
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
    http = http_client(settings, "publisher index", deadline, index.requests_per_second)
    rekor = RekorClient(settings.log.url, http=http_client(settings, "Rekor", deadline))
    return PublisherIndexSource(PublisherStore(index.files, index.links, http), rekor, keyring,
                                index.keysets, settings.expected_since)


def tiled_log_specs(settings: Settings) -> list[TiledLogSpec]:
    """The configured tiled logs, their keys parsed and witness policies read: a ConfigError
    naming the log for any that cannot be followed. Nothing is fetched, so that `--offline`
    refuses what every online run would."""
    if not settings.tiled_logs:
        return []  # and the tiled crawler is not imported: 10-25 ms of every crawl's start
    from auditor.crawl.tiled import DEFAULT_SCAN_RANGE, TiledLogSpec, log_key_of
    from auditor.errors import ConfigError, InputError
    from auditor.verify.note_keys import parse_vkey
    from auditor.verify.policy import parse_policy

    specs = []
    for log in settings.tiled_logs:
        try:
            key = log_key_of(parse_vkey(log.verifier))
            policy = parse_policy(_read_text(log.policy)) if log.policy else None
        except InputError as error:
            raise ConfigError(f"tiled log {log.url}: {error}") from None
        specs.append(TiledLogSpec(log.url.rstrip("/"), key, policy,
                                  scan_range=DEFAULT_SCAN_RANGE if log.scan_range is None
                                  else log.scan_range))
    return specs


def tiled_log_sources(settings: Settings, deadline: Deadline,
                      trust: TrustRefreshes) -> list[LogSource]:
    """The configured tiled logs, then Sigstore's Rekor v2 shards (oldest first) if followed."""
    sources = [_tiled_source(settings, spec, log.requests_per_second, log.cache, deadline)
               for spec, log in zip(tiled_log_specs(settings), settings.tiled_logs,
                                    strict=True)]
    if settings.rekor_v2 is not None:
        sources.extend(_rekor_v2_sources(settings, settings.rekor_v2, deadline, trust))
    return sources


def _rekor_v2_sources(settings: Settings, rekor_v2: RekorV2Settings, deadline: Deadline,
                      trust: TrustRefreshes) -> list[LogSource]:
    """Sigstore's Rekor v2 shards from its signing config and trusted root, brought up to date
    from TUF first (unless `refresh = false`). A refresh that fails leaves the crawl
    incomplete (`trust` says why), and the shards of the cached copy are still followed. A
    shard whose key's validity ended is retired."""
    from auditor.crawl.tiled import TiledLogSpec
    from auditor.errors import InputError
    from auditor.verify.trust import rekor_v2_shards, sigstore_trust_config

    instance: SigstoreInstance = "staging" if rekor_v2.instance == "staging" else "production"
    sources: list[LogSource] = []
    config = None
    if rekor_v2.refresh:
        config = trust.config("Rekor v2 trust config", "the shards of the cached copy are "
                              "followed", instance, rekor_v2.tuf_url, rekor_v2.tuf_root)
    if config is None:
        try:
            config = sigstore_trust_config(instance, rekor_v2.tuf_url)
        except InputError as error:  # a repository never refreshed has no cached copy
            return [Unfollowable("Rekor v2 trust config", f"no cached copy to follow ({error})")]
    now = datetime.now(UTC)
    for shard in rekor_v2_shards(config.signing_config, config.trusted_root):
        until = shard.log_key.valid_until
        spec = TiledLogSpec(f"{shard.url}/api/v2", shard.log_key,
                            retired=until is not None and until < now)
        sources.append(_tiled_source(settings, spec, rekor_v2.requests_per_second,
                                     rekor_v2.cache, deadline))
    return sources


class Unfollowable(LogSource):
    """A log the crawl cannot follow as configured: its crawl is incomplete, saying why."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason

    def crawl(self, job: CrawlJob) -> CrawlSummary:
        from auditor.crawl.summary import CrawlSummary

        summary = CrawlSummary(source=self.name)
        summary.fail(self.reason)
        return summary


def _tiled_source(settings: Settings, spec: TiledLogSpec, rate: float, cache: Path | None,
                  deadline: Deadline) -> LogSource:
    from auditor.crawl.tiled import TiledLogSource
    from auditor.source.tiles import TileCache, TileClient

    http = http_client(settings, f"tiled log {spec.origin}", deadline, rate)
    tiles = TileCache.for_log(cache, spec.origin) if cache is not None else None
    return TiledLogSource(spec, TileClient(spec.url, http, cache=tiles), http)


def _read_text(path: Path) -> str:
    from auditor.errors import ConfigError

    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read ({error})") from None


def statement_source(settings: Settings, deadline: Deadline | None = None) -> StatementSource:
    from auditor.source.statements import DirectoryStore, EmptyStore, HttpStore

    # The publisher's files hold its statements and inline subjects too.
    source = settings.statements or settings.index.files
    if not source:
        return EmptyStore()
    if source.startswith(("http://", "https://")):
        # Static files, like the index's (often the same bucket): the index's rate.
        return HttpStore(source, http_client(settings, "statement store",
                                             deadline or run_deadline(settings),
                                             settings.index.requests_per_second))
    return DirectoryStore(Path(source))
