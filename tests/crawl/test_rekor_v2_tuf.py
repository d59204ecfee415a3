"""Rekor v2 shards followed as a TUF repository names them (`[rekor_v2] tuf_url`, as Sigstore's
own `tuf-repo-cdn` by default): a shard added there is crawled by the next run; a repository
that cannot be refreshed (down, a target altered, metadata signed by a stranger) leaves the crawl
incomplete, naming why, while the shards already known are still followed; `refresh = false`
asks nothing of it. Before, the shards were those the installed `sigstore` package embeds: a
shard opened after its release was never read, and nothing said so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testlog import Endorser, TiledLog, serve_tiles
from testlog.tuf import RunningTufServer, TufRepository, serve_tuf, trust_config
from tests.cli_runner import RunAudit
from tests.crawl.tiled_world import TiledWorld, stored_entries
from tests.notify.servers import unused_port

pytestmark = pytest.mark.usefixtures("own_tuf_directories")


class Shards:
    """Rekor v2 shards (tiled logs named by their host:port, served under /api/v2: a shard's
    URL is its server's but those 7 characters), their
    endorsements under pinned keys, and the TUF repository that lists them."""

    def __init__(self, endorsers: list[Endorser], directory: Path) -> None:
        self.endorsers, self.directory = endorsers, directory
        self.worlds: list[TiledWorld] = []
        self.repository = TufRepository()
        (directory / "root.json").write_bytes(self.repository.root_json())

    def open(self, entries: int) -> TiledWorld:
        """A new shard of `entries` entries; the repository lists it beside the others."""
        port = unused_port()
        server = serve_tiles(TiledLog(f"127.0.0.1:{port}", clock=lambda: 1_767_225_600),
                             port=port)
        world = TiledWorld(server, self.endorsers, self.directory)
        world.grow(entries)
        self.worlds.append(world)
        self.repository.publish(trust_config([(w.log, w.server.url[:-7]) for w in self.worlds]))
        return world

    def config(self, tuf: RunningTufServer, extra: str = "") -> Path:
        components = "".join(f'[components.{e.name}]\nkeys = ["""{e.public_pem.decode()}"""]\n'
                             for e in self.endorsers)
        path = self.directory / "auditor.toml"
        path.write_text(f'[statements]\nsource = "{self.directory / "statements"}"\n{components}'
                        "[log]\nfollow = false\nbackoff_base = 0.01\n"
                        f'[rekor_v2]\ntuf_url = "{tuf.url}"\ntuf_root = "root.json"\n'
                        f"requests_per_second = 1000\n{extra}")
        return path

    def expected(self) -> set[tuple[int, str]]:
        return {entry for world in self.worlds for entry in world.expected()}

    def close(self) -> None:
        for world in self.worlds:
            world.server.close()


@pytest.fixture
def shards(endorsers: list[Endorser], tmp_path: Path) -> Iterator[Shards]:
    made = Shards(endorsers, tmp_path)
    yield made
    made.close()


def crawl(audit: RunAudit, config: Path) -> tuple[int, dict[str, Any]]:
    result = audit("crawl", "--config", str(config), "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code, json.loads(result.stdout)


def test_a_shard_the_repository_adds_is_followed_and_a_failed_refresh_is_incomplete(
        audit: RunAudit, shards: Shards, db_url: str) -> None:
    shards.open(60)
    with serve_tuf(shards.repository) as tuf:
        config = shards.config(tuf)
        code, summary = crawl(audit, config)
        assert (code, summary["complete"]) == (0, True), summary
        assert stored_entries(db_url) == shards.expected() != set()

        second = shards.open(30)  # opened after the first run: only TUF says so
        code, summary = crawl(audit, config)
        assert (code, summary["complete"]) == (0, True), summary
        assert stored_entries(db_url) == shards.expected()
        assert any(index for index, _ in second.expected())

        # A third shard, which no failed refresh brings: each way the refresh fails leaves
        # the crawl incomplete, named, and the shards of the cached copy still read.
        third = shards.open(25)
        for fault, reason in ((lambda: tuf.faults.server_errors(20), "status 503"),
                              (lambda: tuf.faults.tamper("trusted_root.json"),
                               "does not match expected hash"),
                              (lambda: setattr(tuf.faults, "forge_timestamp", True),
                               "timestamp was signed by 0/1 keys")):
            fault()
            second.grow(15)
            code, summary = crawl(audit, config)
            tuf.faults.clear()
            assert (code, summary["complete"]) == (3, False), summary
            assert summary["incomplete_reason"].startswith(
                f"Rekor v2 trust config: not refreshed: TUF repository {tuf.url}: "), summary
            assert reason in summary["incomplete_reason"], summary
            assert "the shards of the cached copy are followed" in summary["incomplete_reason"]
            assert stored_entries(db_url) == shards.expected() - third.expected()
        assert crawl(audit, config)[0] == 0
        assert stored_entries(db_url) == shards.expected()


def test_refresh_false_reads_the_cached_copy_and_asks_nothing(
        audit: RunAudit, shards: Shards, db_url: str) -> None:
    shards.open(40)
    with serve_tuf(shards.repository) as tuf:
        code, summary = crawl(audit, shards.config(tuf, "refresh = false\n"))
        # Never refreshed: there is no cached copy of this repository's trust config.
        assert (code, summary["complete"]) == (3, False), summary
        assert summary["incomplete_reason"].startswith("no cached copy to follow ("), summary
        assert sum(tuf.requests.values()) == 0
        assert crawl(audit, shards.config(tuf))[0] == 0  # refreshed once
        asked = sum(tuf.requests.values())
        shards.worlds[0].grow(20)
        code, summary = crawl(audit, shards.config(tuf, "refresh = false\n"))
        assert (code, summary["complete"]) == (0, True), summary
        assert sum(tuf.requests.values()) == asked
        assert stored_entries(db_url) == shards.expected()
