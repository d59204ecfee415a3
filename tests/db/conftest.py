"""Fixtures: a crawlable local log and a second database on the test's backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testlog import Endorser, RekorLog, RunningServer
from testlog.synthetic import add_endorsements
from tests.db.crawling import ENTRIES, CrawlSetup
from tests.postgres import Cluster


@pytest.fixture
def crawl_setup(rekor_log: RekorLog, rekor_server: RunningServer, endorsers: list[Endorser],
                tmp_path: Path) -> CrawlSetup:
    setup = CrawlSetup(rekor_log, rekor_server, endorsers,
                       add_endorsements(rekor_log, endorsers, ENTRIES), tmp_path)
    setup.statements.mkdir()
    for endorsement in setup.endorsements:
        name = f"sha2-256:{endorsement.statement_sha256}"
        (setup.statements / name).write_bytes(endorsement.statement)
    setup.log_key.write_bytes(rekor_log.signer.public_pem)
    for endorser in endorsers:
        (tmp_path / f"{endorser.name}.pem").write_bytes(endorser.public_pem)
    return setup


@pytest.fixture
def reference_url(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A second empty database on the same backend as `db_url`."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'reference.db'}"
        return
    cluster: Cluster = request.getfixturevalue("postgres")
    url = cluster.create_database()
    yield url
    cluster.drop_database(url)
