"""The log-source seam: every transparency log the crawl follows plugs in here.

A log source knows one protocol (Rekor v1's search index and retrieve API; a tiled log's
tiles) and brings the database in step with that log for every pinned component key: it
verifies the log's heads against the stored history, finds and fetches what the keys signed,
and stores each entry with its verification (`auditor.crawl.ingest`). It returns a typed
summary; findings about entries and the log are derived from what it stored.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from auditor.crawl.summary import CrawlSummary
    from auditor.keyset import KeySet
    from auditor.source.interface import StatementSource

#: (stage, done, total): what a progress display shows.
Progress = Callable[[str, int, int], None]


def _quiet(_stage: str, _done: int, _total: int) -> None:
    pass


@dataclass(frozen=True)
class CrawlRequest:
    """What the user asked for beyond the keys: listed entries and an index range."""

    uuids: tuple[str, ...] = ()
    log_indexes: tuple[int, ...] = ()
    from_index: int | None = None
    to_index: int | None = None


@dataclass
class CrawlJob:
    """What every log source gets: the store, the keys, the statements, the request."""

    sessions: sessionmaker[Session]
    keyset: KeySet
    statements: StatementSource
    request: CrawlRequest = field(default_factory=CrawlRequest)
    progress: Progress = _quiet


class LogSource(ABC):
    #: The log as summaries name it (its URL).
    name: str
    #: Several processes may crawl it at once (they split the work through the database), so
    #: a crawl of such sources only shares the run lock.
    concurrent: bool = False

    @abstractmethod
    def crawl(self, job: CrawlJob) -> CrawlSummary:
        """Bring the store in step with the log; never raises for the log's failures: an
        incomplete crawl says so in its summary."""

    def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release network resources."""
