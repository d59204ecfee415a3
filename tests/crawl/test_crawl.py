"""`audit crawl` against the local Rekor: first crawl, reruns, faults, history, lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from auditor.crawl.interface import CrawlJob
from auditor.crawl.rekor_v1 import RETRIEVE_AHEAD, RekorV1Source
from auditor.http_client import HttpClient
from auditor.keyset import KeySet
from auditor.source.rekor_client import RekorClient
from auditor.source.statements import FETCH_AHEAD, DirectoryStore, HttpStore
from auditor.store import models
from auditor.store.database import engine_of, open_database
from auditor.store.lock import RunLock
from auditor.verify.keys import load_public_key
from auditor.verify.trust import load_keyring
from testlog.faults import Endpoint
from testlog.synthetic import add_endorsements
from tests.cli_runner import RunAudit
from tests.crawl.world import World, crawl, quick_retries, rules, stored


def test_first_crawl_stores_every_pinned_entry_verified(audit: RunAudit, world: World,
                                                        db_url: str) -> None:
    code, summary = crawl(audit, world)
    expected = len(world.pinned())
    assert code == 0, summary
    assert summary["complete"] is True
    assert summary["new"] == summary["verified"] == expected == 30
    assert summary["failed"] == 0 and summary["findings"] == []
    counts = stored(db_url)
    assert counts == {"entries": expected, "distinct": expected, "endorsements": expected,
                      "failed": 0}
    records = json.loads(audit("entries", "--json").stdout)["entries"]
    assert all(all(c["ok"] is not False for c in r["checks"]) for r in records)
    # Statements were fetched from the store and checked: nothing is skipped but the subject.
    assert all({c["name"] for c in r["checks"] if c["ok"] is None} == {"subject"}
               for r in records)


def test_rerun_with_nothing_new_makes_one_request_per_key_plus_the_head(
        audit: RunAudit, world: World, db_url: str) -> None:
    assert crawl(audit, world)[0] == 0
    world.server.requests.reset()
    code, summary = crawl(audit, world)
    assert code == 0 and summary["new"] == 0
    counts = world.server.requests.snapshot()
    assert counts.get(Endpoint.LOG_INFO) == 1
    assert counts.get(Endpoint.SEARCH_INDEX) == len(world.endorsers)
    assert world.server.requests.total == 1 + len(world.endorsers)
    assert summary["requests"] == world.server.requests.total


def test_new_entries_and_a_key_that_appears_later(audit: RunAudit, world: World,
                                                  db_url: str) -> None:
    kernel_only = [e for e in world.endorsers if e.name == "kernel"]
    code, summary = crawl(audit, world, endorsers=kernel_only)
    assert code == 0 and summary["new"] == len(world.pinned(kernel_only))
    world.publish(kernel_only[0], b"kernel build 2")
    code, summary = crawl(audit, world, endorsers=kernel_only)
    assert code == 0 and summary["new"] == 1
    # The stage0 and initrd keys are configured later: their old entries are found now.
    code, summary = crawl(audit, world)
    assert code == 0
    assert summary["new"] == len(world.pinned()) - len(world.pinned(kernel_only))
    assert stored(db_url)["entries"] == len(world.pinned())


def test_index_hint_is_said_and_range_scan_finds_pinned_entries(audit: RunAudit, world: World,
                                                                db_url: str) -> None:
    last = world.log.size - 1
    code, summary = crawl(audit, world, "--from-index", "0", "--to-index", str(last))
    assert code == 0 and summary["index_is_a_hint"] is True
    assert stored(db_url)["entries"] == len(world.pinned())  # the stranger's are not kept
    result = audit("crawl", *world.flags(), "--from-index", "5")
    assert result.exit_code == 2 and "go together" in result.stderr


@pytest.mark.parametrize("fault", ["rate_limit", "server_errors", "truncate", "shuffle",
                                   "duplicate"])
def test_transient_faults_are_retried_and_the_crawl_completes(audit: RunAudit, world: World,
                                                              db_url: str, fault: str) -> None:
    faults = world.server.faults
    if fault == "rate_limit":
        faults.rate_limit(2, retry_after=0, endpoint=Endpoint.RETRIEVE)
    elif fault == "server_errors":
        faults.server_errors(3, status=503)
    elif fault == "truncate":
        faults.truncate(2, endpoint=Endpoint.RETRIEVE)
    elif fault == "shuffle":
        faults.shuffle_batches = True
    else:
        faults.duplicate_batches = True
    code, summary = crawl(audit, world)
    assert code == 0, summary
    assert summary["complete"] is True and summary["new"] == len(world.pinned())
    if fault in ("rate_limit", "server_errors", "truncate"):
        assert summary["retries"] >= 2
    assert stored(db_url)["distinct"] == len(world.pinned())


def test_persistent_failure_is_incomplete_and_keeps_what_was_verified(
        audit: RunAudit, world: World, db_url: str) -> None:
    assert crawl(audit, world, endorsers=world.endorsers[:1])[0] == 0
    before = stored(db_url)["entries"]
    world.server.faults.server_errors(1000, status=503, endpoint=Endpoint.RETRIEVE)
    code, summary = crawl(audit, world, *quick_retries(world.directory))
    assert code == 3
    assert summary["complete"] is False and "gave up" in summary["incomplete_reason"]
    assert stored(db_url)["entries"] == before
    world.server.faults.clear()
    code, summary = crawl(audit, world)
    assert code == 0 and stored(db_url)["entries"] == len(world.pinned())


@pytest.mark.parametrize(("switch", "failed_check"), [
    ("tamper_inclusion_proof", "inclusion_proof"),
    ("tamper_set", "set"),
])
def test_tampered_entries_are_stored_as_findings(audit: RunAudit, world: World, db_url: str,
                                                 switch: str, failed_check: str) -> None:
    victim = world.pinned()[3].entry
    setattr(world.server.faults, switch, True)
    world.server.faults.tamper_only = {victim.virtual_index}
    code, summary = crawl(audit, world)
    assert code == 1
    (finding,) = [f for f in summary["findings"] if f["rule"] == "ENTRY_INVALID"]
    assert finding["evidence"]["log_index"] == victim.virtual_index
    assert failed_check in finding["evidence"]["failed_checks"]
    assert stored(db_url)["failed"] == 1


def test_tampered_checkpoint_is_a_finding(audit: RunAudit, world: World, db_url: str) -> None:
    world.server.faults.tamper_checkpoint = True
    code, summary = crawl(audit, world)
    assert code == 1
    assert "CHECKPOINT_INVALID" in rules(summary)
    assert summary["failed"] == len(world.pinned())  # every entry's checkpoint is bad too


def test_a_checkpoint_with_the_log_line_twice_is_a_finding(audit: RunAudit, world: World,
                                                           db_url: str) -> None:
    # One rule with tlog-proofs: a log signs a checkpoint once. Rekor v1 checkpoints took it.
    world.server.faults.repeat_signature = True
    code, summary = crawl(audit, world)
    assert code == 1
    assert "CHECKPOINT_INVALID" in rules(summary)
    assert summary["failed"] == len(world.pinned())


def test_split_view_is_detected(audit: RunAudit, world: World, db_url: str) -> None:
    assert crawl(audit, world)[0] == 0
    world.log.fork()
    world.server.faults.serve_fork = True
    code, summary = crawl(audit, world)
    assert code == 1
    (finding,) = [f for f in summary["findings"] if f["rule"] == "LOG_INCONSISTENT"]
    assert "split view" in finding["detail"]
    evidence = finding["evidence"]
    assert evidence["checkpoint_before"] != evidence["checkpoint_after"]


@pytest.mark.parametrize("shown_before", [False, True], ids=["new_size", "head_shown_before"])
def test_rollback_is_detected(audit: RunAudit, world: World, db_url: str,
                              shown_before: bool) -> None:
    """Back to a size never shown, or to a head an earlier run stored (a freeze, or hiding what
    the log signed since): that one was not judged, being stored already, and the run was
    clean."""
    assert crawl(audit, world)[0] == 0
    shown = world.log.size
    world.publish(world.endorsers[0], b"a later build")
    assert crawl(audit, world)[0] == 0
    world.server.faults.rollback(shown if shown_before else shown - 5)
    code, summary = crawl(audit, world)
    assert code == 1
    (finding,) = [f for f in summary["findings"] if f["rule"] == "LOG_INCONSISTENT"]
    assert "rollback" in finding["detail"]


def test_forged_consistency_proof_is_detected(audit: RunAudit, world: World, db_url: str) -> None:
    assert crawl(audit, world)[0] == 0
    world.publish(world.endorsers[0], b"one more")
    world.server.faults.tamper_consistency_proof = True
    code, summary = crawl(audit, world)
    assert code == 1
    assert "LOG_INCONSISTENT" in rules(summary)


def test_shard_rotation_is_recorded_not_an_error(audit: RunAudit, world: World,
                                                 db_url: str) -> None:
    assert crawl(audit, world)[0] == 0
    world.log.rotate()
    world.publish(world.endorsers[1], b"after rotation")
    code, summary = crawl(audit, world)
    assert code == 0, summary
    assert summary["new"] == 1
    assert rules(summary) == ["SHARD_ROTATED"]
    with open_database(db_url)() as session:
        shards = list(session.scalars(select(models.Shard)))
    assert sorted(s.frozen for s in shards) == [False, True]


def test_a_frozen_shard_that_grows_is_log_inconsistent(audit: RunAudit, world: World,
                                                       db_url: str) -> None:
    world.log.rotate()
    assert crawl(audit, world)[0] == 0
    world.log.grow_frozen(3)
    code, summary = crawl(audit, world)
    assert code == 1
    (changed,) = [f for f in summary["findings"] if f["rule"] == "LOG_INCONSISTENT"]
    assert changed["evidence"]["kind"] == "frozen_changed"
    assert changed["evidence"]["tree_id"] == world.log.shards[0].tree_id


def test_a_second_concurrent_run_exits_75(audit: RunAudit, world: World, db_url: str) -> None:
    with RunLock(engine_of(open_database(db_url))):
        result = audit("crawl", *world.flags())
    assert result.exit_code == 75
    assert "another audit run holds the lock" in result.stderr


def test_unsigned_statement_store_content_is_not_trusted(audit: RunAudit, world: World,
                                                         db_url: str) -> None:
    victim = world.pinned()[0]
    (world.statements / f"sha2-256:{victim.statement_sha256}").write_bytes(b"{}")
    code, summary = crawl(audit, world)
    assert code == 0  # a missing statement is a stored fact, not an integrity failure
    (finding,) = [f for f in summary["findings"] if f["rule"] == "STATEMENT_UNAVAILABLE"]
    assert finding["evidence"]["statement_sha256"] == victim.statement_sha256
    assert summary["statements_unavailable"] == 1


def test_kill_and_resume_loses_and_duplicates_nothing(audit: RunAudit, world: World,
                                                      db_url: str) -> None:
    # The crawl lists entries key by key, in the order the keys are given, and stores them in
    # that order: the log never answers for the last key's, so the crawl stores the batches
    # before them and then waits, mid-way, until it is killed. (Paced requests raced the kill:
    # under load the poll that saw the first batch took longer than the crawl took to store the
    # rest, whose COMMIT PostgreSQL completed after the client was killed.)
    world.server.faults.hung = {e.entry.virtual_index
                                for e in world.pinned(world.endorsers[-1:])}
    process = subprocess.Popen(
        [sys.executable, "-m", "auditor", "crawl", *world.flags(), "--db", db_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "AUDITOR_DB": db_url})
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                if stored(db_url)["entries"] > 0:
                    break
            except Exception:  # the database may not exist yet
                continue
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    partial = stored(db_url)["entries"]
    assert 0 < partial < len(world.pinned()), "the crawl was not killed mid-way"
    world.server.faults.hung.clear()
    code, summary = crawl(audit, world)
    assert code == 0 and summary["new"] == len(world.pinned()) - partial
    counts = stored(db_url)
    assert counts["entries"] == counts["distinct"] == counts["endorsements"] == len(world.pinned())


@pytest.mark.parametrize(("rate", "least"), [(40.0, 3), (1000.0, RETRIEVE_AHEAD)])
def test_retrieves_run_at_once_up_to_the_rate_limit(world: World, db_url: str, rate: float,
                                                     least: int) -> None:
    """A log 0.1 s away: at R requests/s about R x 0.1 s retrieves are in flight at once
    (Little's law; each waits for the client's rate limit), never more than RETRIEVE_AHEAD."""
    for endorsement in add_endorsements(world.log, world.endorsers, 90):
        world.save_statement(endorsement)
        world.endorsements.append(endorsement)
    keyset = KeySet()
    for endorser in world.endorsers:
        keyset.add(endorser.name, load_public_key(endorser.public_pem), "test")
    world.server.faults.delay = 0.1
    with RekorClient(world.server.url, requests_per_second=rate) as client:
        source = RekorV1Source(client, load_keyring([world.log_key], None))
        summary = source.crawl(CrawlJob(open_database(db_url), keyset,
                                        DirectoryStore(world.statements)))
    assert summary.complete and summary.new == len(world.pinned()) == 120
    assert world.server.requests[Endpoint.RETRIEVE] == 12
    assert least <= world.server.requests.peak(Endpoint.RETRIEVE) <= RETRIEVE_AHEAD


def test_statements_are_fetched_at_once_up_to_the_rate_limit(world: World, db_url: str) -> None:
    """A statement store 0.1 s away at 40 requests/s: a batch's statements, then the inline
    subjects they name, are asked for together, about 4 at once, never more than FETCH_AHEAD."""
    for endorsement in world.endorsements:
        world.server.files[f"sha2-256:{endorsement.statement_sha256}"] = endorsement.statement
    keyset = KeySet()
    for endorser in world.endorsers:
        keyset.add(endorser.name, load_public_key(endorser.public_pem), "test")
    world.server.faults.delay = 0.1
    with RekorClient(world.server.url, requests_per_second=1000) as client:
        source = RekorV1Source(client, load_keyring([world.log_key], None))
        statements = HttpStore(world.server.files_url,
                               HttpClient("statement store", requests_per_second=40))
        try:
            summary = source.crawl(CrawlJob(open_database(db_url), keyset, statements))
        finally:
            statements.close()
    pinned = len(world.pinned())
    assert summary.complete and summary.new == summary.verified == pinned
    assert summary.statements_unavailable == 0
    # Each entry's statement, and its subject (a build's name: not in the store, a 404).
    assert world.server.requests[Endpoint.FILES] == 2 * pinned
    assert 3 <= world.server.requests.peak(Endpoint.FILES) <= FETCH_AHEAD


def test_hung_responses_time_out_and_are_retried(world: World, db_url: str) -> None:
    keyset = KeySet()
    for endorser in world.endorsers:
        keyset.add(endorser.name, load_public_key(endorser.public_pem), "test")
    world.server.faults.hang(2, endpoint=Endpoint.RETRIEVE)
    with RekorClient(world.server.url, read_timeout=0.3, requests_per_second=1000,
                     backoff_base=0.01) as client:
        source = RekorV1Source(client, load_keyring([world.log_key], None))
        summary = source.crawl(CrawlJob(open_database(db_url), keyset,
                                        DirectoryStore(world.statements)))
    assert summary.complete and summary.retries == 2
    assert summary.new == len(world.pinned())


# -- entries the command line asks for ----------------------------------------------------------


def test_a_uuid_asked_for_that_the_log_lacks_is_named_as_asked_for_not_as_listed(
        audit: RunAudit, world: World, db_url: str) -> None:
    absent = "ab" * 32
    code, summary = crawl(audit, world, "--uuid", absent.upper())
    assert code == 3 and not summary["complete"]
    assert summary["missing"] == [{
        "uuid": absent,
        "reason": "asked for by UUID (--uuid, [crawl] uuids) but not returned by retrieve"}]
    why = summary["incomplete_reason"]
    assert f"the log did not serve 1 entry asked for by UUID (--uuid, [crawl] uuids): {absent}" \
        in why
    assert "index" not in why and "component keys" not in why, why
    # The user's request is this run's: the next crawl, not asking, is complete.
    code, summary = crawl(audit, world)
    assert code == 0 and summary["missing"] == []


def test_a_withheld_entry_both_listed_and_asked_for_is_named_as_listed(
        audit: RunAudit, world: World, db_url: str) -> None:
    victim = world.pinned()[1].entry
    world.server.faults.withheld.add(victim.virtual_index)
    code, summary = crawl(audit, world, "--uuid", victim.uuid)
    assert code == 3
    assert [m["reason"] for m in summary["missing"]] == [
        "listed by the log's index but not returned by retrieve"]
    assert "it lists under component keys" in summary["incomplete_reason"]


def test_log_indexes_the_log_does_not_serve_make_the_crawl_incomplete(
        audit: RunAudit, world: World, db_url: str) -> None:
    size = world.log.size
    withheld = next(
        e.entry.virtual_index for e in world.endorsements if e.endorser is world.stranger)
    world.server.faults.withheld.add(withheld)
    code, summary = crawl(audit, world, "--log-index", str(size + 469), "--log-index", "0",
                          "--log-index", str(size), "--log-index", str(withheld))
    assert code == 3 and not summary["complete"]
    why = summary["incomplete_reason"]
    assert f"--log-index {size + 469}, {size}: past the log's end (it holds {size} entries)" \
        in why
    assert f"the log did not serve --log-index {withheld} (it holds {size} entries)" in why
    # In range and served is complete (exit 1: the stranger's entry is a finding).
    world.server.faults.withheld.clear()
    code, summary = crawl(audit, world, "--log-index", "0", "--log-index", str(withheld))
    assert code == 1 and summary["complete"], summary["incomplete_reason"]


def test_the_report_of_a_run_shows_what_that_run_saw_not_what_a_later_crawl_stored(
        audit: RunAudit, world: World, db_url: str) -> None:
    """`audit report` renders the latest run; a crawl after it stored new entries and a larger
    head, and the report listed them beside the run's findings, none of which judged them."""
    result = audit("run", *world.flags(), "--json")
    assert result.exit_code == 1, result.stderr
    seen = json.loads(audit("report").stdout)
    world.publish(world.endorsers[0], b"built after the run")
    assert crawl(audit, world)[0] == 0
    later = json.loads(audit("report").stdout)
    assert later["run"] == seen["run"] and later["findings"] == seen["findings"]
    assert later["summary"] == seen["summary"]
    assert later["endorsements"] == seen["endorsements"] and later["logs"] == seen["logs"]
    stored_now = json.loads(audit("component", world.endorsers[0].name, "--limit", "0",
                                  "--json").stdout)["endorsements"]
    assert world.log.size - 1 in [e["log_index"] for e in stored_now]  # queries: the store now
