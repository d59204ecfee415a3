"""Rekor v1's log keys from Sigstore's trusted root, brought up to date from its TUF repository
at every crawl (`[log] tuf_url` names another): a log key rotated in there verifies a Rekor
v1-only crawl from the next run. Before, the root was refreshed only when `[rekor_v2]` was
followed: a v1-only crawl read the cached root (at first the one the `sigstore` package
embeds) and distrusted every entry the new key signed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testlog import LogSigner
from testlog.tuf import RunningTufServer, TufRepository, serve_tuf, trust_config
from tests.cli_runner import RunAudit
from tests.crawl.world import World, stored

pytestmark = pytest.mark.usefixtures("own_tuf_directories")


def config(world: World, tuf: RunningTufServer, extra: str = "") -> Path:
    components = "".join(f'[components.{e.name}]\nkeys = ["""{e.public_pem.decode()}"""]\n'
                         for e in world.endorsers)
    path = world.directory / "auditor.toml"
    path.write_text(f'[statements]\nsource = "{world.statements}"\n{components}'
                    f'[log]\nurl = "{world.server.url}"\nrequests_per_second = 1000\n'
                    f'backoff_base = 0.01\ntuf_url = "{tuf.url}"\ntuf_root = "root.json"\n'
                    f"{extra}")
    return path


def crawl(audit: RunAudit, path: Path) -> tuple[int, dict[str, Any]]:
    result = audit("crawl", "--config", str(path), "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code, json.loads(result.stdout)


def test_a_rekor_v1_key_rotated_in_through_tuf_verifies_a_v1_only_crawl(
        audit: RunAudit, world: World, db_url: str) -> None:
    world.log.hostname = f"127.0.0.1:{world.server.port}"  # the name the root gives the log
    retired = LogSigner()  # the key Sigstore's root named before the log's own
    repository = TufRepository()
    (world.directory / "root.json").write_bytes(repository.root_json())
    repository.publish(trust_config([], rekor_v1=[(retired, world.server.url)]))
    with serve_tuf(repository) as tuf:
        code, summary = crawl(audit, config(world, tuf))
        assert code == 1 and summary["verified"] == 0, summary  # the log's key is not trusted

        repository.publish(trust_config([], rekor_v1=[(retired, world.server.url),
                                                      (world.log.signer, world.server.url)]))
        world.publish(world.endorsers[0], b"stage0 build after the rotation")
        code, summary = crawl(audit, config(world, tuf))
        assert (code, summary["complete"]) == (0, True), summary
        # The entries the first crawl could not trust are verified again, and the new one.
        assert (summary["rechecked"], summary["new"]) == (len(world.pinned()) - 1, 1)
        assert (summary["verified"], summary["failed"]) == (len(world.pinned()), 0)

        # A failed refresh: incomplete, naming why, and the cached root's keys still verify.
        tuf.faults.server_errors(20)
        world.publish(world.endorsers[0], b"stage0 build while TUF is down")
        code, summary = crawl(audit, config(world, tuf))
        tuf.faults.clear()
        assert (code, summary["complete"]) == (3, False), summary
        assert summary["incomplete_reason"].startswith(
            f"Rekor v1 trusted root: not refreshed: TUF repository {tuf.url}: "), summary
        assert "the log keys of the cached copy are used" in summary["incomplete_reason"]
        assert (summary["new"], summary["verified"], summary["failed"]) == (1, 1, 0)

        # refresh = false reads the cached copy and asks nothing of the repository.
        asked = sum(tuf.requests.values())
        world.publish(world.endorsers[0], b"stage0 build, refresh off")
        code, summary = crawl(audit, config(world, tuf, "refresh = false\n"))
        assert (code, summary["complete"]) == (0, True), summary
        assert (summary["new"], summary["verified"], summary["failed"]) == (1, 1, 0)
        assert sum(tuf.requests.values()) == asked
        assert stored(db_url)["entries"] == len(world.pinned())


def test_rekor_v1_and_v2_on_one_repository_refresh_it_once_and_an_outage_is_one_reason(
        audit: RunAudit, world: World, db_url: str) -> None:
    """Rekor v1's keys and the Rekor v2 shards read one TUF repository: a crawl asks it once
    and both use the answer; an outage is one incomplete reason naming both (it was refreshed
    twice, and an outage was two reasons)."""
    world.log.hostname = f"127.0.0.1:{world.server.port}"
    repository = TufRepository()
    (world.directory / "root.json").write_bytes(repository.root_json())
    repository.publish(trust_config([], rekor_v1=[(world.log.signer, world.server.url)]))
    with serve_tuf(repository) as tuf:
        both = config(world, tuf, f'[rekor_v2]\ntuf_url = "{tuf.url}"\ntuf_root = "root.json"\n')
        code, summary = crawl(audit, both)
        assert (code, summary["complete"]) == (0, True), summary
        assert summary["verified"] == len(world.pinned()), summary
        assert tuf.requests["timestamp.json"] == 1, tuf.requests

        tuf.faults.server_errors(100)
        code, summary = crawl(audit, both)
        tuf.faults.clear()
        assert (code, summary["complete"]) == (3, False), summary
        reason = summary["incomplete_reason"]
        assert reason.startswith("Rekor v1 trusted root and Rekor v2 trust config: not "
                                 f"refreshed: TUF repository {tuf.url}: "), summary
        assert reason.count("not refreshed") == 1, reason
        assert reason.endswith("; the log keys of the cached copy are used, the shards of "
                               "the cached copy are followed"), reason
        assert stored(db_url)["entries"] == len(world.pinned())
