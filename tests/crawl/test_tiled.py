"""`audit crawl --tiled-log` against the local tiled log: scans, rescans, history, faults."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, select

from auditor.crawl import tiled
from auditor.store import models
from auditor.store.database import open_database
from auditor.verify.note_keys import NoteKey, SignatureType
from testlog import Endorser, RequestKind, RunningTileServer, TiledLog, Witness, serve_tiles
from testlog.synthetic import tiled_endorsement
from testlog.tiles import ambiguous, hashedrekord_v002, spki_der
from tests.cli_runner import RunAudit
from tests.crawl.signals import crawl_stopped
from tests.crawl.tiled_world import DAY, STRANGER, TiledWorld, crawl, stored_entries, vkey

SIZE = 1300  # five full bundles and a partial one


@pytest.fixture
def world(tiled_server: RunningTileServer, endorsers: list[Endorser],
          tmp_path: Path) -> TiledWorld:
    world = TiledWorld(tiled_server, endorsers, tmp_path)
    world.grow(SIZE)
    return world


def config(world: TiledWorld, log: str = "", **table: object) -> Path:
    """A config file: the world's components and statements, `[log]` lines `log` (retries),
    and the world's log in `[[tiled_logs]]` with `table`'s settings."""
    lines = [f'url = "{world.server.url}"', f'verifier = "{vkey(world.log)}"',
             *(f"{k} = {json.dumps(v)}" for k, v in table.items())]
    components = "".join(f'[components.{e.name}]\nkeys = ["""{e.public_pem.decode()}"""]\n'
                         for e in world.endorsers)
    path = world.directory / "auditor.toml"
    path.write_text(f'[statements]\nsource = "{world.statements}"\n\n{components}\n'
                    f"[log]\nfollow = false\nbackoff_base = 0.01\n{log}\n\n[[tiled_logs]]\n"
                    + "\n".join(lines) + "\n")
    return path


def configured_crawl(audit: RunAudit, path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """`audit crawl --config`: the configured tiled log, and Rekor v1 unless `extra` says."""
    result = audit("crawl", "--config", str(path), *extra, "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}


def entry_checks(audit: RunAudit) -> dict[int, dict[str, dict[str, Any]]]:
    """Each stored entry's checks by name, by log index: its latest verification, with its
    endorsement when it has one (`audit entries` also lists the bare entry's before that)."""
    records = json.loads(audit("entries", "--limit", "0", "--json").stdout)["entries"]
    records.sort(key=lambda r: r["statement_format"] is not None)
    return {r["log_index"]: {c["name"]: c for c in r["checks"]} for r in records}


def only(summary: dict[str, Any], rule: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [f for f in summary["findings"] if f["rule"] == rule]
    (finding,) = found
    return finding


# --- scanning ------------------------------------------------------------------------------


def test_a_scan_stores_exactly_the_pinned_entries_each_verified(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    code, summary = crawl(audit, world)
    assert code == 0, summary
    assert summary["complete"] is True and summary["findings"] == []
    assert summary["scanned"] == SIZE
    assert summary["unparsable"] == len(world.unparsable) > 0
    assert summary["new"] == summary["verified"] == len(world.expected()) > 90
    # Only the pinned keys' entries are stored: the stranger's were read and counted.
    assert stored_entries(db_url) == world.expected()
    with open_database(db_url)() as session:
        formats = set(session.scalars(select(models.Entry.raw_format)))
    assert formats == {"rekor-v2-tile"}
    checks = entry_checks(audit)
    assert set(checks) == {index for index, _ in world.expected()}
    for by_name in checks.values():
        assert all(c["ok"] is not False for c in by_name.values()), by_name
        assert {n for n, c in by_name.items() if c["ok"] is None} == {"set", "subject"}
        assert by_name["set"]["detail"] == "Rekor v2 issues no signed entry timestamp"
        assert by_name["validity"]["detail"].startswith("first seen ")
        assert by_name["checkpoint_signature"]["detail"].startswith(
            f"signed by {world.log.name} ")


def test_a_rescan_with_nothing_new_is_one_checkpoint_request(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    assert crawl(audit, world)[0] == 0
    world.server.requests.reset()
    code, summary = crawl(audit, world)
    assert code == 0 and summary["complete"] and summary["new"] == summary["scanned"] == 0
    assert world.server.requests[RequestKind.CHECKPOINT] == 1
    assert world.server.requests.total == summary["requests"] == 1


def test_growth_reads_only_new_bundles_and_is_proven_consistent_from_tiles(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    assert crawl(audit, world)[0] == 0
    before = len(world.expected())
    world.grow(500)  # completes the partial bundle 5, fills bundle 6, starts bundle 7
    world.server.requests.reset()
    code, summary = crawl(audit, world)
    assert code == 0, summary
    assert summary["new"] == len(world.expected()) - before > 0
    assert summary["scanned"] == 500 and summary["findings"] == []
    assert world.server.requests[RequestKind.BUNDLE] == 3
    assert stored_entries(db_url) == world.expected()
    with open_database(db_url)() as session:
        sizes = {c.size: c.extended for c in session.scalars(select(models.StoredCheckpoint))}
    # The first checkpoint is proven a prefix of the second: it is no longer a tip.
    assert sizes == {SIZE: True, SIZE + 500: False}


def test_a_key_pinned_later_is_looked_for_from_the_start(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    kernel = [e for e in world.endorsers if e.name == "kernel"]
    assert crawl(audit, world, endorsers=kernel)[0] == 0
    assert stored_entries(db_url) == world.expected(kernel)
    code, summary = crawl(audit, world)
    assert code == 0, summary
    assert summary["new"] == len(world.expected()) - len(world.expected(kernel))
    assert summary["scanned"] == SIZE  # read again, for the new keys only
    assert stored_entries(db_url) == world.expected()
    world.server.requests.reset()
    assert crawl(audit, world)[1]["requests"] == 1


def test_status_shows_each_tiled_log_scan_position(audit: RunAudit, world: TiledWorld,
                                                    db_url: str) -> None:
    assert crawl(audit, world)[0] == 0
    (log,) = json.loads(audit("status", "--json").stdout)["logs"]
    assert log["name"] == world.log.name
    assert [(h["tree_id"], h["tree_size"]) for h in log["heads"]] == [(0, SIZE)]
    scan = log["scan"]
    assert scan["position"] == scan["planned"] == SIZE and scan["open_ranges"] == 0
    assert scan["url"] == world.server.url
    assert scan["matches"] == len(world.expected())
    assert scan["unparsable"] == len(world.unparsable)
    assert scan["unparsable_sample"].startswith(f"{min(world.unparsable)}: not UTF-8 JSON (")
    assert f"scanned to {SIZE} of {SIZE}" in audit("status").stderr


def test_ranges_are_scanned_in_turn_and_a_partial_range_completes_later(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    path = config(world, scan_range=512)
    assert configured_crawl(audit, path)[0] == 0
    assert stored_entries(db_url) == world.expected()
    with open_database(db_url)() as session:
        ranges = [(r.start_index, r.end_index, r.done)
                  for r in session.scalars(select(models.TileRange).order_by(models.TileRange.id))]
    assert ranges == [(0, 512, True), (512, 1024, True), (1024, SIZE, True)]
    world.grow(100)
    assert configured_crawl(audit, path)[0] == 0
    with open_database(db_url)() as session:
        last = session.scalars(select(models.TileRange).order_by(models.TileRange.id)).all()[-1]
    assert (last.start_index, last.end_index, last.done) == (SIZE, SIZE + 100, True)


def test_ranges_are_planned_a_few_at_a_time_as_the_scan_reaches_them(
        audit: RunAudit, world: TiledWorld, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiled, "PLAN_AHEAD", 2)
    code, summary = configured_crawl(audit, config(world, scan_range=256))
    assert code == 0 and summary["complete"] is True and summary["scanned"] == SIZE
    assert stored_entries(db_url) == world.expected()
    with open_database(db_url)() as session:
        ranges = [(r.start_index, r.end_index, r.done)
                  for r in session.scalars(select(models.TileRange).order_by(models.TileRange.id))]
    assert ranges == [(i, min(i + 256, SIZE), True) for i in range(0, SIZE, 256)]


def test_status_shows_a_stopped_scan_against_the_log_size_not_the_ranges_planned(
        audit: RunAudit, world: TiledWorld, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiled, "PLAN_AHEAD", 2)
    world.server.faults.truncate_bundle(3)  # the scan stops at the fourth of five ranges
    assert configured_crawl(audit, config(world, scan_range=256))[0] == 1
    scan = json.loads(audit("status", "--json").stdout)["logs"][0]["scan"]
    assert (scan["position"], scan["planned"]) == (768, 1024)
    assert f"scanned to 768 of {SIZE} " in audit("status").stderr


# --- entries over time -----------------------------------------------------------------------


def test_a_statement_that_arrives_later_is_checked_without_the_log(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    late = world.publish(world.endorsers[0], save=False)
    code, summary = crawl(audit, world)
    assert code == 0 and summary["statements_unavailable"] == 1
    assert only(summary, "STATEMENT_UNAVAILABLE")["evidence"]["uuid"] == world.pinned[late][1]
    world.save(world.statement_of[late])
    world.server.requests.reset()
    code, summary = crawl(audit, world)
    # Verified again from its stored document: one checkpoint request, no tile.
    assert code == 0 and summary["rechecked"] == 1 and summary["findings"] == []
    assert world.server.requests.total == 1
    assert entry_checks(audit)[late]["statement"]["ok"] is True


def test_an_endorsement_expired_when_first_seen_fails_validity(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    stale = world.publish(world.endorsers[1], issued=int(time.time()) - 200 * DAY)
    code, summary = crawl(audit, world)
    assert code == 1
    finding = only(summary, "EXPIRED_AT_INTEGRATION")
    assert finding["evidence"]["uuid"] == world.pinned[stale][1]
    validity = entry_checks(audit)[stale]["validity"]
    assert validity["ok"] is False and validity["detail"].startswith("first seen ")


@pytest.mark.parametrize("pinned_first", [True, False], ids=["pinned_first", "pinned_last"])
def test_an_entry_with_a_key_twice_is_judged_under_the_pinned_key_it_holds(
        audit: RunAudit, world: TiledWorld, db_url: str, pinned_first: bool) -> None:
    """JSON readers disagree on which copy of a key counts, and Python keeps the last: a
    pinned key's endorsement followed by a stranger's `spec` was skipped as the stranger's
    entry, not even counted unparsable. Either way round it is the pinned key's, and invalid."""
    statement, endorsement = tiled_endorsement(world.endorsers[0], b"twice", int(time.time()))
    world.save(statement)
    stranger = hashedrekord_v002(bytes(32), b"sig", public_key_der=spki_der(STRANGER))
    index = world.log.append(ambiguous(endorsement, stranger) if pinned_first
                             else ambiguous(stranger, endorsement))
    code, summary = crawl(audit, world)
    assert code == 1 and summary["complete"] is True
    assert summary["unparsable"] == len(world.unparsable)
    assert only(summary, "ENTRY_INVALID")["component"] == world.endorsers[0].name
    body = entry_checks(audit)[index]["body"]
    assert body["ok"] is False and "duplicate JSON key 'spec'" in body["detail"]


# --- the log's faults ------------------------------------------------------------------------


def test_a_fork_is_log_inconsistent_with_both_checkpoints(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    assert crawl(audit, world)[0] == 0
    first = world.log.checkpoint()
    other = world.log.fork(1000, (b"rewritten %d" % i for i in range(400)))
    world.server.faults.fork = other
    code, summary = crawl(audit, world)
    assert code == 1 and summary["complete"] is False
    finding = only(summary, "LOG_INCONSISTENT")
    evidence = finding["evidence"]
    assert evidence["kind"] == "consistency"
    assert evidence["checkpoint_before_size"] == SIZE
    assert evidence["checkpoint_after_size"] == SIZE + 100
    assert evidence["checkpoint_before"].split("\n")[:3] == first.split("\n")[:3]
    assert summary["scanned"] == summary["new"] == 0  # nothing read from the fork
    # A later run still reports it (a stored fault), and still reads nothing.
    code, again = crawl(audit, world)
    assert code == 1 and only(again, "LOG_INCONSISTENT")["fingerprint"] == finding["fingerprint"]


def test_two_roots_for_one_size_are_a_split_view(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    assert crawl(audit, world)[0] == 0
    world.server.faults.fork = world.log.fork(1200, (b"other %d" % i for i in range(100)))
    code, summary = crawl(audit, world)
    assert code == 1
    assert only(summary, "LOG_INCONSISTENT")["evidence"]["kind"] == "split_view"


@pytest.mark.parametrize("shown_before", [False, True], ids=["new_size", "head_shown_before"])
def test_a_rollback_is_log_inconsistent(audit: RunAudit, world: TiledWorld, db_url: str,
                                        shown_before: bool) -> None:
    """Back to a size never shown, or to the checkpoint an earlier run stored: that one was not
    judged, being stored already, and a log frozen on it was clean."""
    assert crawl(audit, world)[0] == 0
    if shown_before:
        world.grow(40)
        assert crawl(audit, world)[0] == 0
    world.server.faults.rollback(SIZE if shown_before else SIZE - 300)
    code, summary = crawl(audit, world)
    assert code == 1
    finding = only(summary, "LOG_INCONSISTENT")
    assert finding["evidence"]["kind"] == "rollback" and "rollback" in finding["detail"]


@pytest.mark.parametrize(("tile", "kind"), [("tile/entries/002", "tile_mismatch"),
                                            ("tile/entries/003", "tile_mismatch"),
                                            ("tile/0/005.p/20", "tile_mismatch")])
def test_a_tile_that_does_not_hash_to_the_root_is_named_and_nothing_of_it_stored(
        audit: RunAudit, world: TiledWorld, db_url: str, tile: str, kind: str) -> None:
    world.server.faults.corrupt(tile)
    code, summary = configured_crawl(audit, config(world, scan_range=512))
    assert code == 1 and summary["complete"] is False
    finding = only(summary, "CHECKPOINT_INVALID")
    assert finding["evidence"]["kind"] == kind
    assert finding["detail"].count(tile.split(".p/")[0]) >= 1
    assert finding["evidence"]["checkpoint_size"] == SIZE
    # Ranges before the bad bundle are kept; nothing of its range (entries 512..1023) is.
    stored = stored_entries(db_url)
    if kind == "tile_mismatch" and "entries" in tile:
        assert stored == {(i, leaf) for i, leaf in world.expected() if i < 512}
        # Bundle 002 of the failed range was read, but the range is not scanned: it is read
        # again (it counted 768 before).
        assert summary["scanned"] == 512
    else:
        assert stored == set()  # the right edge is checked before any bundle is read
    world.server.faults.clear()
    code, summary = configured_crawl(audit, config(world, scan_range=512))
    assert stored_entries(db_url) == world.expected()
    assert code == 1 and only(summary, "CHECKPOINT_INVALID")  # the fault stays on record


def test_a_truncated_bundle_is_named(audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    world.server.faults.truncate_bundle(1)
    code, summary = crawl(audit, world)
    assert code == 1
    finding = only(summary, "CHECKPOINT_INVALID")
    assert finding["evidence"]["kind"] == "tile_format"
    assert "tile/entries/001" in finding["detail"]
    assert stored_entries(db_url) == set()  # one range: none of it is stored


@pytest.mark.parametrize("first", [True, False], ids=["first_run", "later_run"])
def test_a_checkpoint_the_log_does_not_serve_leaves_the_crawl_incomplete(
        audit: RunAudit, world: TiledWorld, db_url: str, first: bool) -> None:
    """The run ends incomplete (exit 3), not with an internal error: the log's row, read or
    created in the transaction that waited for the checkpoint, was rolled back with it."""
    path = config(world, log="max_retries = 1")
    if not first:
        assert configured_crawl(audit, path)[0] == 0
    world.server.faults.server_errors(1000, status=503, kind=RequestKind.CHECKPOINT)
    code, summary = configured_crawl(audit, path)
    assert code == 3 and "gave up" in summary["incomplete_reason"]
    assert stored_entries(db_url) == (set() if first else world.expected())


def test_a_checkpoint_whose_consistency_tiles_are_not_served_is_kept(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    """The log signs a larger tree and does not serve the tiles proving it extends the stored
    one: incomplete, and the signed checkpoint is kept, so going back below it afterwards is a
    rollback (forgotten, that run was clean)."""
    path = config(world, log="max_retries = 1")
    assert configured_crawl(audit, path)[0] == 0
    world.grow(500)
    world.server.faults.server_errors(1000, status=503, kind=RequestKind.TILE)
    code, summary = configured_crawl(audit, path)
    assert code == 3 and "gave up" in summary["incomplete_reason"], summary
    world.server.faults.clear()
    world.server.faults.rollback(SIZE)
    code, summary = configured_crawl(audit, path)
    finding = only(summary, "LOG_INCONSISTENT")
    assert code == 1 and finding["evidence"]["kind"] == "rollback"
    assert finding["evidence"]["stored_size"] == SIZE + 500


def test_a_consistency_tile_that_does_not_hash_to_the_root_is_named(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    """Proving that the grown tree extends the stored one reads tile/0/005 (entries 1280..1535,
    full now): one that does not verify is a fault, and nothing of the new tree is read."""
    assert crawl(audit, world)[0] == 0
    before = stored_entries(db_url)
    world.grow(500)
    world.server.faults.corrupt("tile/0/005")
    for _ in range(2):  # and the next run still reports it
        code, summary = crawl(audit, world)
        assert code == 1 and summary["complete"] is False and summary["scanned"] == 0
        finding = only(summary, "CHECKPOINT_INVALID")
        assert finding["evidence"]["kind"] == "tile_mismatch"
        assert finding["evidence"]["checkpoint_size"] == SIZE + 500
        assert "tile/0/005" in finding["detail"]
    assert stored_entries(db_url) == before


def test_a_signed_size_beyond_int64_is_an_invalid_checkpoint(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    """tlog-checkpoint allows a uint64; no database column holds one past 2^63 - 1 (storing it
    ended the run with an internal error)."""
    world.server.faults.overstate = 2**63
    code, summary = crawl(audit, world)
    assert code == 1 and summary["complete"] is False
    finding = only(summary, "CHECKPOINT_INVALID")
    assert "the largest log size the auditor holds" in finding["detail"]
    assert summary["scanned"] == 0 and stored_entries(db_url) == set()


def test_a_checkpoint_claiming_far_more_entries_than_served_plans_a_bounded_scan(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    """A signed size 2^32 past what the log serves: the scan plans `PLAN_AHEAD` ranges, not one
    per range up to it (262,145 here; 2^49 for a size of 2^63 - 1, which never ended), and stops
    incomplete at the first tile the log does not serve. The signed size stays on record."""
    world.server.faults.overstate = SIZE + 2**32
    code, summary = crawl(audit, world)
    assert code == 3 and "does not serve tile/0/" in summary["incomplete_reason"]
    with open_database(db_url)() as session:
        planned = session.scalar(select(func.count()).select_from(models.TileRange))
    assert planned == tiled.PLAN_AHEAD
    world.server.faults.overstate = None
    code, summary = crawl(audit, world)
    assert code == 1 and only(summary, "LOG_INCONSISTENT")["evidence"]["kind"] == "rollback"


@pytest.mark.parametrize("origin", ["x" * 100_000, "x" * (1 << 20)], ids=["100k", "1MiB"])
def test_a_checkpoint_under_a_huge_origin_is_named_in_a_few_words(
        audit: RunAudit, world: TiledWorld, db_url: str, origin: str) -> None:
    """The finding quoted the origin whole: 100 kB in its detail, its evidence and on the
    terminal (a 30 MB one took 4.5 s to check). A note over 1 MiB is refused unread."""
    world.server.faults.origin = origin
    code, summary = crawl(audit, world)
    assert code == 1 and summary["scanned"] == 0
    finding = only(summary, "CHECKPOINT_INVALID")
    assert len(finding["detail"]) < 300 and len(finding["evidence"]["problem"]) < 300
    assert ("more than 1 MiB" if len(origin) > 100_000 else "is not the log's name") \
        in finding["detail"]


def test_a_bundle_longer_than_any_bundle_can_be_is_named_unread(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    """Bundles were read up to the HTTP client's 64 MiB (16 in flight: a gigabyte); no bundle
    is longer than 256 entries of 2 + 65,535 bytes, and none is read further."""
    world.server.faults.pad("tile/entries/001", 256 * 65537)
    code, summary = crawl(audit, world)
    assert code == 1 and summary["complete"] is False
    finding = only(summary, "CHECKPOINT_INVALID")
    assert finding["evidence"]["kind"] == "tile_format"
    assert "tile/entries/001: the answer is longer than 16777472 bytes" in finding["detail"]


def test_a_checkpoint_under_another_key_is_not_trusted(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    impostor = NoteKey(world.log.name, SignatureType.ED25519,
                       ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    flags = world.flags()
    flags[flags.index("--log-verifier") + 1] = impostor.vkey
    result = audit("crawl", *flags, "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 1 and summary["requests"] == 1
    finding = only(summary, "CHECKPOINT_INVALID")
    assert finding["evidence"]["kind"] == "checkpoint_signature"
    assert summary["scanned"] == 0 and stored_entries(db_url) == set()


def test_a_checkpoint_without_the_log_key_names_its_lines_in_a_few_words(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    """Every signature line of an unknown key was quoted: 99 cosigners with names of 9,000
    characters made a detail of 892 kB, in the database and on one terminal line."""
    world.log.witnesses = [Witness("w" * 9000 + str(i), ed25519.Ed25519PrivateKey.generate())
                           for i in range(99)]
    impostor = NoteKey(world.log.name, SignatureType.ED25519,
                       ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    flags = world.flags()
    flags[flags.index("--log-verifier") + 1] = impostor.vkey
    summary = json.loads(audit("crawl", *flags, "--json").stdout)
    finding = only(summary, "CHECKPOINT_INVALID")
    assert len(finding["detail"]) < 600 and finding["detail"].endswith(" and 95 more)")


def test_a_malformed_verifier_key_is_a_usage_error(audit: RunAudit, world: TiledWorld,
                                                   db_url: str) -> None:
    flags = world.flags()
    flags[flags.index("--log-verifier") + 1] = "tiles.testlog.example/log+0000+AQ=="
    result = audit("crawl", *flags)
    assert result.exit_code == 2 and "tiled log" in result.stderr
    missing = audit("crawl", "--tiled-log", world.server.url, *world.key_flags())
    assert missing.exit_code == 2 and "--log-verifier" in missing.stderr


# --- the network -----------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["rate_limit", "server_errors", "stall"])
def test_429s_5xx_and_stalls_are_retried_and_the_scan_completes(
        audit: RunAudit, world: TiledWorld, db_url: str, fault: str) -> None:
    faults = world.server.faults
    if fault == "rate_limit":
        faults.rate_limit(3, retry_after=0, kind=RequestKind.BUNDLE)
    elif fault == "server_errors":
        faults.server_errors(3, status=503)
    else:
        faults.stall(2, seconds=3, kind=RequestKind.BUNDLE)
    path = config(world, log="request_deadline = 0.5")
    code, summary = configured_crawl(audit, path)
    assert code == 0, summary
    assert summary["complete"] is True and summary["retries"] >= 2
    assert stored_entries(db_url) == world.expected()


def test_a_log_that_keeps_failing_leaves_the_crawl_incomplete_and_resumable(
        audit: RunAudit, world: TiledWorld, db_url: str) -> None:
    path = config(world, log="max_retries = 1", scan_range=512)
    world.server.faults.server_errors(1000, status=503, kind=RequestKind.BUNDLE)
    code, summary = configured_crawl(audit, path)
    assert code == 3 and summary["complete"] is False and "gave up" in summary["incomplete_reason"]
    world.server.faults.clear()
    code, summary = configured_crawl(audit, path)
    assert code == 0 and stored_entries(db_url) == world.expected()


def test_sigterm_does_not_wait_out_the_retries_of_tiles_in_flight(world: TiledWorld,
                                                                  db_url: str) -> None:
    """The log keeps failing while bundles are fetched in parallel, each backing off for
    seconds between attempts: SIGTERM ends the run at once, not when their retries would."""
    path = config(world, scan_range=512)
    path.write_text(path.read_text().replace("backoff_base = 0.01", "backoff_base = 5"))
    world.server.faults.server_errors(100_000, status=503, kind=RequestKind.BUNDLE)
    # Once the bundles in flight have failed once and are backing off:
    stopped = crawl_stopped(["--config", str(path)], db_url,
                            lambda: world.server.requests[RequestKind.BUNDLE] >= 3)
    assert stopped.code == 143 and stopped.seconds < 5, stopped


# --- witnesses -------------------------------------------------------------------------------


@pytest.fixture
def witnesses() -> list[Witness]:
    return [Witness(f"witness{i}.example", ed25519.Ed25519PrivateKey.generate())
            for i in range(3)]


@pytest.fixture
def witnessed(witnesses: list[Witness], endorsers: list[Endorser],
              tmp_path: Path) -> Iterator[TiledWorld]:
    """A log whose checkpoints witnesses 0 and 1 cosign (C2SP tlog-cosignature v1)."""
    log = TiledLog("tiles.witnessed.example/log", witnesses=witnesses[:2])
    with serve_tiles(log) as server:
        world = TiledWorld(server, endorsers, tmp_path)
        world.grow(300)
        yield world
    assert not server.errors, server.errors[0]


def cosigner(witness: Witness, key: ed25519.Ed25519PublicKey | None = None) -> str:
    raw = (key or witness.key.public_key()).public_bytes_raw()
    return NoteKey(witness.name, SignatureType.COSIGNATURE_V1, raw).vkey


def policy(world: TiledWorld, *lines: str) -> str:
    path = world.directory / "policy.txt"
    path.write_text("\n".join([f"log {vkey(world.log)}", *lines]) + "\n")
    return str(path)


def test_a_checkpoint_with_its_witness_quorum_is_trusted(
        audit: RunAudit, witnessed: TiledWorld, witnesses: list[Witness], db_url: str) -> None:
    rules_file = policy(witnessed, f"witness a {cosigner(witnesses[0])}",
                        f"witness b {cosigner(witnesses[1])}",
                        f"witness c {cosigner(witnesses[2])}", "group two 2 a b c", "quorum two")
    code, summary = crawl(audit, witnessed, "--tlog-policy", rules_file)
    assert code == 0, summary
    assert stored_entries(db_url) == witnessed.expected()


@pytest.mark.parametrize("case", ["unmet", "wrong_key"])
def test_a_checkpoint_without_its_witness_quorum_is_unwitnessed_and_not_read(
        audit: RunAudit, witnessed: TiledWorld, witnesses: list[Witness], db_url: str,
        case: str) -> None:
    if case == "unmet":  # witness c never cosigns
        lines = [f"witness a {cosigner(witnesses[0])}", f"witness c {cosigner(witnesses[2])}",
                 "group both all a c", "quorum both"]
    else:  # the policy pins another key under witness 0's name
        impostor = ed25519.Ed25519PrivateKey.generate().public_key()
        lines = [f"witness a {cosigner(witnesses[0], impostor)}", "quorum a"]
    code, summary = crawl(audit, witnessed, "--tlog-policy", policy(witnessed, *lines))
    assert code == 1 and summary["complete"] is False
    finding = only(summary, "UNWITNESSED_CHECKPOINT")
    assert finding["severity"] == "critical"
    evidence = finding["evidence"]
    assert evidence["checkpoint_size"] == 300 and "does not hold" in evidence["quorum"]
    statuses = {w["name"]: w["status"] for w in evidence["witnesses"]}
    assert "missing" in statuses.values()
    assert summary["requests"] == 1 and stored_entries(db_url) == set()
    with open_database(db_url)() as session:
        assert session.scalars(select(models.StoredCheckpoint)).all() == []


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
def test_a_known_witness_bad_cosignature_rejects_the_checkpoint(
        audit: RunAudit, witnessed: TiledWorld, witnesses: list[Witness], db_url: str,
        known: bool) -> None:
    """signed-note: a line whose key name and ID are a known key's MUST be verified, and a bad
    one SHOULD reject the note. The log serves witness 0's line corrupted: it was ignored, and
    witness 1 met the quorum (a clean crawl). A witness the policy does not name stays ignored."""
    witnessed.server.faults.bad_cosignature = witnesses[0].name
    lines = [f"witness a {cosigner(witnesses[0])}"] if known else []
    rules_file = policy(witnessed, *lines, f"witness b {cosigner(witnesses[1])}",
                        f"group G any {'a b' if known else 'b'}", "quorum G")
    code, summary = crawl(audit, witnessed, "--tlog-policy", rules_file)
    if not known:
        assert code == 0 and stored_entries(db_url) == witnessed.expected()
        return
    assert code == 1 and summary["complete"] is False
    finding = only(summary, "CHECKPOINT_INVALID")
    assert finding["evidence"]["kind"] == "checkpoint_signature"
    assert finding["detail"] == (
        f"checkpoint of {witnessed.log.name}: checkpoint rejected: a known witness's "
        "cosignature does not verify (witness a: bad cosignature by witness0.example: "
        "cosignature/v1 (Ed25519) signature does not verify)")
    assert summary["requests"] == 1 and stored_entries(db_url) == set()


def test_a_policy_for_another_log_key_is_a_usage_error(
        audit: RunAudit, witnessed: TiledWorld, witnesses: list[Witness], db_url: str) -> None:
    other = TiledLog(witnessed.log.name)
    path = witnessed.directory / "policy.txt"
    path.write_text(f"log {vkey(other)}\nquorum none\n")
    result = audit("crawl", *witnessed.flags(), "--tlog-policy", str(path))
    assert result.exit_code == 2 and "names no log key" in result.stderr
