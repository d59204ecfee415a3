"""`audit crawl` and `audit run` with the publisher's own index beside the local Rekor."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from testlog import Endorser, PublisherIndex, RekorLog, RunningIndexServer, RunningServer
from testlog.synthetic import Endorsement, add_endorsements
from tests.cli_runner import RunAudit


@dataclass
class World:
    """A local log and the publisher's index: every endorsement logged and published."""

    log: RekorLog
    server: RunningServer
    index: PublisherIndex
    store: RunningIndexServer
    endorsers: list[Endorser]
    endorsements: list[Endorsement]
    directory: Path
    extra: list[str] = field(default_factory=list)

    def flags(self, endorsers: list[Endorser] | None = None) -> list[str]:
        log_key = self.directory / "log.pem"
        log_key.write_bytes(self.log.signer.public_pem)
        flags = ["--rekor-url", self.server.url, "--rekor-key", str(log_key), "--rate", "1000",
                 "--index-files", self.store.files_url, "--index-links", self.store.links_url]
        for endorser in endorsers or self.endorsers:
            path = self.directory / f"{endorser.name}.pem"
            path.write_bytes(endorser.public_pem)
            flags += ["--key", f"{endorser.name}={path}"]
        return flags + self.extra


@pytest.fixture
def world(rekor_log: RekorLog, rekor_server: RunningServer, endorsers: list[Endorser],
          publisher_index: PublisherIndex, index_server: RunningIndexServer,
          tmp_path: Path) -> World:
    endorsements = add_endorsements(rekor_log, endorsers, 9)
    for endorsement in endorsements:
        publisher_index.publish(endorsement, log=rekor_log)
    return World(rekor_log, rekor_server, publisher_index, index_server, endorsers,
                 endorsements, tmp_path)


def crawl(audit: RunAudit, world: World, *extra: str) -> tuple[int, dict[str, Any]]:
    result = audit("crawl", *world.flags(), *extra, "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}


def index_part(summary: dict[str, Any], world: World) -> dict[str, Any]:
    part: dict[str, Any] = next(s for s in summary["sources"]
                                if s["source"] == world.store.links_url)
    return part


def rules(summary: dict[str, Any]) -> list[str]:
    return sorted(f["rule"] for f in summary["findings"])


def test_first_crawl_verifies_every_published_package(audit: RunAudit, world: World,
                                                      db_url: str) -> None:
    code, summary = crawl(audit, world)
    assert code == 0, summary
    assert summary["complete"] is True and summary["findings"] == []
    index = index_part(summary, world)
    assert index["discovered"] == index["new"] == index["verified"] == 9
    assert index["failed"] == 0

