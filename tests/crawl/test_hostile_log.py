"""A log cannot fool the auditor, and no finding is forgotten: each fault a hostile log (or a
failing statement store) can show, through the CLI against the local log's fault switches."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditor.source.fields import TIME_MAX
from auditor.source.rekor_client import RETRIEVE_LIMIT
from auditor.store import repository
from testlog.faults import Endpoint
from testlog.synthetic import oak_statement
from tests.cli_runner import RunAudit
from tests.crawl.signals import crawl_stopped
from tests.crawl.world import World, crawl, quick_retries, rules, stored

FOREIGN_BODY = b'{"kind": "rekord", "not": "a valid body"'


def findings_of(summary: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in summary["findings"] if f["rule"] == rule]


def files_flags(world: World) -> list[str]:
    """Statements served over HTTP by the test log (GET /files/sha2-256:<hex>)."""
    for endorsement in world.endorsements:
        world.server.files[f"sha2-256:{endorsement.statement_sha256}"] = endorsement.statement
    flags = world.flags()
    flags[flags.index("--statements") + 1] = world.server.files_url
    return flags


# -- 1. unsigned fields never decide trust -----------------------------------------------------


def test_a_relabelled_tree_id_cannot_turn_a_rollback_into_a_rotation(
        audit: RunAudit, world: World, db_url: str) -> None:
    assert crawl(audit, world)[0] == 0
    real_tree = world.log.active.tree_id
    faults = world.server.faults
    faults.rollback(world.log.size - 5)
    faults.misreport["treeID"] = str(real_tree + 1)
    code, summary = crawl(audit, world)
    assert code == 1
    (rollback,) = findings_of(summary, "LOG_INCONSISTENT")
    assert rollback["evidence"]["kind"] == "rollback"
    assert rollback["evidence"]["tree_id"] == real_tree
    (relabel,) = findings_of(summary, "CHECKPOINT_INVALID")
    assert f"treeID {real_tree + 1} but the signed checkpoint says {real_tree}" in \
        relabel["detail"]
    assert "SHARD_ROTATED" not in rules(summary)
    # The real tree was never marked frozen: honest growth later is not "a frozen shard grew".
    faults.clear()
    world.publish(world.endorsers[0], b"honest growth")
    code, summary = crawl(audit, world)
    assert code == 1  # what the log did stays on record
    kinds = {f["evidence"]["kind"] for f in findings_of(summary, "LOG_INCONSISTENT")}
    assert kinds == {"rollback"}
    status = json.loads(audit("status", "--json").stdout)
    (head,) = status["logs"][0]["heads"]
    assert head["tree_id"] == real_tree and not head["frozen"]
    assert head["tree_size"] == world.log.size


def test_unsigned_size_or_root_disagreeing_with_the_note_is_critical(
        audit: RunAudit, world: World, db_url: str) -> None:
    world.server.faults.misreport["treeSize"] = str(world.log.size + 7)
    code, summary = crawl(audit, world)
    assert code == 1
    (finding,) = findings_of(summary, "CHECKPOINT_INVALID")
    assert finding["severity"] == "critical"
    assert f"treeSize {world.log.size + 7} but the signed checkpoint says {world.log.size}" \
        in finding["detail"]
    world.server.faults.misreport.clear()
    world.server.faults.misreport["rootHash"] = "00" * 32
    code, summary = crawl(audit, world)
    assert code == 1 and any("rootHash" in f["detail"]
                             for f in findings_of(summary, "CHECKPOINT_INVALID"))


# -- 2. a split view stays a split view --------------------------------------------------------


def test_a_split_view_stays_reported_until_suppressed(audit: RunAudit, world: World,
                                                      db_url: str, tmp_path: Path) -> None:
    assert crawl(audit, world)[0] == 0
    world.log.fork()
    world.server.faults.serve_fork = True
    code, summary = crawl(audit, world)
    assert code == 1 and findings_of(summary, "LOG_INCONSISTENT")
    first = {f["fingerprint"] for f in findings_of(summary, "LOG_INCONSISTENT")}
    # The log grows on the fork: the next crawl holds the new head against both branches.
    world.log.grow_fork(5)
    code, summary = crawl(audit, world)
    assert code == 1
    again = {f["fingerprint"] for f in findings_of(summary, "LOG_INCONSISTENT")}
    assert first <= again
    # ... and so does every later run and query, until an operator suppresses it.
    run = audit("run", *world.flags(), "--fail-on", "critical", "--json")
    assert run.exit_code == 1
    assert first <= {f["fingerprint"] for f in json.loads(run.stdout)["findings"]
                     if f["rule"] == "LOG_INCONSISTENT"}
    listed = json.loads(audit("findings", "--rule", "LOG_INCONSISTENT", "--json").stdout)
    assert first <= {f["fingerprint"] for f in listed["findings"]}
    config = tmp_path / "suppress.toml"
    config.write_text('key_sources = []\n[[suppressions]]\nrule = "LOG_INCONSISTENT"\n'
                      'reason = "the operator of the log explained the incident (ticket 42)"\n'
                      'expires = 2999-12-31\n')
    suppressed = audit("run", "--config", str(config), *world.flags(), "--fail-on", "critical",
                       "--json")
    assert suppressed.exit_code == 0, suppressed.stderr
    shown = [f for f in json.loads(suppressed.stdout)["findings"]
             if f["rule"] == "LOG_INCONSISTENT"]
    assert shown and all(f["suppressed"]["reason"].startswith("the operator") for f in shown)


def test_a_split_view_hidden_in_inclusion_proofs_is_found(audit: RunAudit, world: World,
                                                          db_url: str) -> None:
    # GET /log is honest; the entries prove inclusion in a forked tree of the same size.
    world.log.fork()
    world.server.faults.fork_entries.update({Endpoint.SEARCH_INDEX, Endpoint.RETRIEVE})
    code, summary = crawl(audit, world)
    assert code == 1
    (split,) = findings_of(summary, "LOG_INCONSISTENT")
    assert split["evidence"]["kind"] == "split_view"
    assert split["evidence"]["tree_id"] == world.log.active.tree_id


# -- 3. withheld entries -----------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "reason"), [
    ("withheld", "not returned by retrieve"),
    # JSON escapes these; Python parses them into strings no database stores (section 14).
    ("unstorable_text", "U+0000 or an unpaired surrogate"),
])
def test_entries_the_log_withholds_or_serves_unreadable_are_incomplete_named_and_tried_again(
        audit: RunAudit, world: World, db_url: str, fault: str, reason: str) -> None:
    victim = world.pinned()[2].entry
    victims: set[int] = getattr(world.server.faults, fault)
    victims.add(victim.virtual_index)
    code, summary = crawl(audit, world)
    assert code == 3 and not summary["complete"]
    (missing,) = summary["missing"]
    assert missing["uuid"] == victim.uuid and reason in missing["reason"]
    assert victim.uuid in summary["incomplete_reason"]
    assert stored(db_url)["entries"] == len(world.pinned()) - 1
    code, summary = crawl(audit, world)  # still withheld: still incomplete
    assert code == 3 and [m["uuid"] for m in summary["missing"]] == [victim.uuid]
    victims.clear()
    code, summary = crawl(audit, world)
    assert code == 0 and summary["new"] == 1 and summary["missing"] == []
    assert stored(db_url)["entries"] == len(world.pinned())


# -- 4. failures are retried ---------------------------------------------------------------------


def test_a_statement_store_outage_is_incomplete_then_recovers(
        audit: RunAudit, world: World, db_url: str) -> None:
    flags = files_flags(world)
    world.server.faults.server_errors(1000, endpoint=Endpoint.FILES)
    result = audit("crawl", *flags, *quick_retries(world.directory), "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 3 and "statement store" in summary["incomplete_reason"]
    world.server.faults.clear()
    result = audit("crawl", *flags, "--json")
    assert result.exit_code == 0, result.stderr
    kernel = json.loads(audit("component", "kernel", "--limit", "0", "--json").stdout)
    expected = [e for e in world.pinned() if e.endorser.name == "kernel"]
    assert len(kernel["endorsements"]) == len(expected)
    assert all(row["ok"] and row["logged"] for row in kernel["endorsements"])


@pytest.mark.parametrize("then", ["proves_it", "goes_back"])
def test_a_consistency_proof_the_log_does_not_serve_is_incomplete_and_its_head_kept(
        audit: RunAudit, world: World, db_url: str, then: str) -> None:
    """The log grew and will not prove it extends what was stored: incomplete. Before, the
    transaction holding the log's row rolled back, and gathering the run's findings from that
    row ended every such run with an internal error (exit 70). The signed head is kept: once
    the log answers, the next run proves it, or finds the log went back below it (forgotten,
    the log could sign a larger tree, withhold the proof, go back, and be clean)."""
    assert crawl(audit, world)[0] == 0
    shown = world.log.size
    endorsement = world.publish(world.endorsers[0], b"a later build")
    world.server.faults.server_errors(1000, endpoint=Endpoint.CONSISTENCY)
    code, summary = crawl(audit, world, *quick_retries(world.directory))
    assert code == 3 and "/log/proof?" in summary["incomplete_reason"], summary
    world.server.faults.clear()
    if then == "goes_back":
        world.server.faults.rollback(shown)
        code, summary = crawl(audit, world)
        (finding,) = [f for f in summary["findings"] if f["rule"] == "LOG_INCONSISTENT"]
        assert code == 1 and finding["evidence"]["kind"] == "rollback"
        assert finding["evidence"]["stored_size"] == shown + 1
        return
    code, summary = crawl(audit, world)
    assert code == 0 and summary["new"] == 1, summary
    assert endorsement.entry.uuid in {row["uuid"] for row in json.loads(audit(
        "component", world.endorsers[0].name, "--limit", "0", "--json").stdout)["endorsements"]}


def test_a_missing_statement_is_fetched_again_and_turns_valid(
        audit: RunAudit, world: World, db_url: str) -> None:
    flags = files_flags(world)
    victim = world.pinned()[0]
    del world.server.files[f"sha2-256:{victim.statement_sha256}"]
    result = audit("crawl", *flags, "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 0
    (finding,) = findings_of(summary, "STATEMENT_UNAVAILABLE")
    assert finding["evidence"]["uuid"] == victim.entry.uuid
    world.server.files[f"sha2-256:{victim.statement_sha256}"] = victim.statement
    result = audit("crawl", *flags, "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 0 and summary["rechecked"] == 1
    assert not findings_of(summary, "STATEMENT_UNAVAILABLE")
    rows = json.loads(audit("component", victim.endorser.name, "--limit", "0",
                            "--json").stdout)["endorsements"]
    assert any(row["uuid"] == victim.entry.uuid and row["ok"] for row in rows)


def test_a_transient_verification_failure_is_verified_again(
        audit: RunAudit, world: World, db_url: str) -> None:
    victim = world.pinned()[1].entry
    world.server.faults.tamper_inclusion_proof = True
    world.server.faults.tamper_only = {victim.virtual_index}
    code, summary = crawl(audit, world)
    assert code == 1 and findings_of(summary, "ENTRY_INVALID")
    world.server.faults.clear()
    code, summary = crawl(audit, world)
    assert code == 0 and summary["rechecked"] == 1 and not findings_of(summary, "ENTRY_INVALID")
    run = json.loads(audit("run", *world.flags(), "--json").stdout)
    assert not [f for f in run["findings"] if f["rule"] == "ENTRY_INVALID"]


# -- 5. findings come from stored evidence -----------------------------------------------------


def test_the_same_evidence_gives_the_same_findings_in_every_run(
        audit: RunAudit, world: World, db_url: str) -> None:
    stranger = next(e for e in world.endorsements if e.endorser is world.stranger)
    garbage = world.log.add_body(FOREIGN_BODY)
    world.server.faults.extra_listings.extend([stranger.entry.uuid, garbage.uuid])
    runs = []
    for _ in range(3):
        result = audit("run", *world.flags(), "--json")
        assert result.exit_code == 1, result.stderr
        runs.append(json.loads(result.stdout)["findings"])
        assert "None" not in result.stderr
    by_entry = [{(f["rule"], f["fingerprint"]) for f in findings
                 if f["evidence"].get("uuid") in (stranger.entry.uuid, garbage.uuid)}
                for findings in runs]
    assert by_entry[0] == by_entry[1] == by_entry[2]
    assert {rule for rule, _ in by_entry[0]} == {"WRONG_KEY", "ENTRY_INVALID"}
    for findings in runs:
        assert not any("None" in f["detail"] for f in findings)
        assert not [f for f in findings if f["rule"] == "UNEXPECTED_ENDORSEMENT"
                    and f["evidence"].get("uuid") == stranger.entry.uuid]


# -- 6. bounded in time ------------------------------------------------------------------------


def test_a_trickling_answer_is_cut_off_by_the_request_deadline(
        audit: RunAudit, world: World, db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "deadline.toml"
    config.write_text("key_sources = []\n[log]\nrequest_deadline = 1\nmax_retries = 1\n"
                      "backoff_base = 0.01\n")
    world.server.faults.trickle(2, interval=0.3, endpoint=Endpoint.LOG_INFO)
    started = time.monotonic()
    result = audit("crawl", "--config", str(config), *world.flags(), "--json")
    elapsed = time.monotonic() - started
    assert result.exit_code == 3, result.stderr
    assert "stalled" in json.loads(result.stdout)["incomplete_reason"]
    assert elapsed < 30  # two attempts of about a second each, not the whole trickle


def test_the_run_deadline_caps_retry_after(audit: RunAudit, world: World, db_url: str) -> None:
    world.server.faults.rate_limit(5, retry_after=3600)
    started = time.monotonic()
    result = audit("crawl", *world.flags(), "--deadline", "5", "--json")
    assert result.exit_code == 3
    assert "deadline" in json.loads(result.stdout)["incomplete_reason"]
    assert time.monotonic() - started < 30


def test_a_range_scan_past_the_end_is_clamped(audit: RunAudit, world: World,
                                              db_url: str) -> None:
    code, summary = crawl(audit, world, "--from-index", "0", "--to-index", str(10**15))
    assert code == 0 and summary["complete"]
    assert world.server.requests[Endpoint.RETRIEVE] <= \
        -(-world.log.size // RETRIEVE_LIMIT) + len(world.pinned())


def test_a_range_scan_names_what_the_log_withholds_and_scans_it_again(
        audit: RunAudit, world: World, db_url: str) -> None:
    # The index hides an entry and retrieve leaves it out: the range scan, which exists not to
    # trust the index, stored the rest, moved its cursor past it and said "complete".
    victim = world.pinned()[2].entry
    world.server.faults.unlisted.add(victim.virtual_index)
    world.server.faults.withheld.add(victim.virtual_index)
    last = world.log.size - 1
    scan = ("--from-index", "0", "--to-index", str(last))
    code, summary = crawl(audit, world, *scan)
    assert code == 3 and not summary["complete"]
    assert (f"the log did not serve 1 entry of the range 0-{last} (--from-index/--to-index): "
            f"{victim.virtual_index}; the next scan of the range starts again at "
            f"{victim.virtual_index}") in summary["incomplete_reason"]
    assert stored(db_url)["entries"] == len(world.pinned()) - 1
    world.server.faults.withheld.clear()  # served now (the index still hides it)
    code, summary = crawl(audit, world, *scan)
    assert code == 0 and summary["new"] == 1, summary["incomplete_reason"]
    assert stored(db_url)["entries"] == len(world.pinned())


def test_a_range_past_the_logs_end_is_incomplete_not_clean(audit: RunAudit, world: World,
                                                           db_url: str) -> None:
    size = world.log.size
    code, summary = crawl(audit, world, "--from-index", str(size), "--to-index", str(size + 9))
    assert code == 3
    assert (f"--from-index {size}: past the log's end (it holds {size} entries)"
            in summary["incomplete_reason"])


# -- 7 and 8. hostile documents and numbers ---------------------------------------------------


def _hostile_answers() -> dict[str, tuple[bytes, str]]:
    keys = "".join(f'"k{i}":{i},' for i in range(40_000))
    return {
        "duplicate keys": (("{" + keys + '"k7":1}').encode(), "duplicate JSON key"),
        "millions of values": (b"[" + b"{}," * 21_000_000 + b"{}]", "values is refused"),
        "deep nesting": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    }


def test_hostile_answers_are_refused_quickly_and_clearly(audit: RunAudit, world: World,
                                                         db_url: str) -> None:
    for name, (body, complaint) in _hostile_answers().items():
        world.server.faults.replace(body, 1, endpoint=Endpoint.LOG_INFO)
        started = time.monotonic()
        code, summary = crawl(audit, world)
        assert code == 3, name
        assert complaint in summary["incomplete_reason"], (name, summary["incomplete_reason"])
        assert time.monotonic() - started < 60, name


def _entry_with(world: World, **fields: Any) -> bytes:
    entry = world.pinned()[0].entry
    document = {entry.uuid: {"body": entry.body_b64, "integratedTime": entry.integrated_time,
                             "logID": world.log.log_id, "logIndex": entry.virtual_index,
                             **fields}}
    return json.dumps(document).encode()


def test_hostile_numbers_are_input_errors_everywhere(audit: RunAudit, world: World,
                                                     db_url: str, tmp_path: Path) -> None:
    cases = {"logIndex": 2**70, "integratedTime": -(2**62)}
    good = tmp_path / "good.json"
    good.write_bytes(served_entry(world))
    for name, value in cases.items():
        hostile = tmp_path / f"{name}.json"
        hostile.write_bytes(_entry_with(world, **{name: value}))
        verified = audit("verify-entry", str(hostile))
        assert verified.exit_code == 2 and "out of range" in verified.stderr
        assert len(verified.stderr.strip().splitlines()) == 1
        imported = audit("import", str(hostile), str(good), *world.key_flags())
        assert imported.exit_code == 1 and "out of range" in imported.stderr
        assert "imported 1 item," in imported.stderr  # the batch went on past the bad file
        world.server.faults.replace(_entry_with(world, **{name: value}), 200,
                                    endpoint=Endpoint.ENTRY_BY_UUID)
        world.server.faults.replace(b"[" + _entry_with(world, **{name: value}) + b"]", 200,
                                    endpoint=Endpoint.RETRIEVE)
        code, summary = crawl(audit, world)
        world.server.faults.clear()
        assert code == 3 and summary["missing"], name
        assert any("out of range" in m["reason"] for m in summary["missing"]), summary["missing"]
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    assert audit("verify-entry", str(deep)).exit_code == 2


def served_entry(world: World) -> bytes:
    """The log's own answer for a pinned entry (with its proof and checkpoint)."""
    entry = world.pinned()[0].entry
    with urllib.request.urlopen(f"{world.server.url}/api/v1/log/entries/{entry.uuid}",
                                timeout=10) as response:
        return bytes(response.read())


# -- 9. the machine's failures -----------------------------------------------------------------


def test_a_full_disk_is_one_line_and_exit_2(world: World, tmp_path: Path) -> None:
    database = tmp_path / "small.db"
    env = {**os.environ, "AUDITOR_DB": f"sqlite:///{database}"}
    assert subprocess.run([sys.executable, "-m", "auditor", "db", "upgrade"], env=env,
                          capture_output=True, timeout=120).returncode == 0
    limit = database.stat().st_size + 8192

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [sys.executable, "-m", "auditor", "crawl", *world.flags()], env=env,
        capture_output=True, text=True, timeout=300, preexec_fn=small_disk)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "disk" in result.stderr


# -- 11. signals ---------------------------------------------------------------------------------


def test_sigterm_is_one_line_exit_143_and_the_run_is_recorded(
        audit: RunAudit, world: World, db_url: str) -> None:
    world.server.faults.delay = 0.2
    process = subprocess.Popen(
        [sys.executable, "-m", "auditor", "crawl", *world.flags(), "--db", db_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "AUDITOR_DB": db_url})
    deadline = time.monotonic() + 60
    while world.server.requests.total < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert stderr.strip() == \
        "interrupted (SIGTERM): stopped; everything verified so far is kept"
    world.server.faults.delay = 0
    status = json.loads(audit("status", "--json").stdout)["last_run"]
    assert status["kind"] == "crawl" and status["exit_code"] == 143
    assert status["interrupted"] == "SIGTERM" and not status["complete"]
    assert crawl(audit, world)[0] == 0  # the lock was released


@pytest.mark.parametrize("endpoint", [Endpoint.RETRIEVE, Endpoint.FILES])
def test_sigterm_does_not_wait_out_the_retries_of_requests_in_flight(
        world: World, db_url: str, tmp_path: Path, endpoint: Endpoint) -> None:
    """The log (or the statement store) keeps failing while requests fetched ahead on other
    threads back off for seconds between attempts: SIGTERM ends the run at once, not when
    their retries would have (a minute with these backoffs)."""
    config = tmp_path / "slow-retries.toml"
    config.write_text("[log]\nbackoff_base = 5\n")
    flags = files_flags(world)
    world.server.faults.server_errors(100_000, endpoint=endpoint)
    # Once every request in flight has failed once and is backing off:
    stopped = crawl_stopped(["--config", str(config), *flags], db_url,
                            lambda: world.server.requests[endpoint] >= 3)
    assert stopped.code == 143 and stopped.seconds < 5, stopped
    assert stopped.stderr.strip() == \
        "interrupted (SIGTERM): stopped; everything verified so far is kept"


# -- 12. who chose what to trust -------------------------------------------------------------


def test_environment_overrides_of_trust_are_shown(audit: RunAudit, world: World, db_url: str,
                                                  monkeypatch: Any, tmp_path: Path) -> None:
    flags = world.flags()
    url = flags.pop(flags.index("--rekor-url") + 1)
    flags.remove("--rekor-url")
    monkeypatch.setenv("AUDITOR_REKOR_URL", url)
    out = tmp_path / "reports"
    result = audit("run", *flags, "--fail-on", "critical", "--report-dir", str(out),
                   "--format", "json", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["overrides"] == {
        "log URL": "environment AUDITOR_REKOR_URL", "log keys": "flag --rekor-key",
        "component keys": "flag --key"}
    assert "note: log URL set by environment AUDITOR_REKOR_URL" in result.stderr
    report = json.loads((out / "audit-report.json").read_text())
    assert report["run"]["overrides"]["log URL"] == "environment AUDITOR_REKOR_URL"


def test_heads_are_trusted_only_inside_the_key_validity_window(
        audit: RunAudit, world: World, db_url: str, tmp_path: Path) -> None:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    root = {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": [{
        "baseUrl": world.server.url, "hashAlgorithm": "SHA2_256",
        "publicKey": {"rawBytes": b64(world.log.signer.spki_der),
                      "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                      "validFor": {"start": "2020-01-01T00:00:00Z",
                                   "end": "2021-01-01T00:00:00Z"}},
        "logId": {"keyId": b64(world.log.signer.log_id_bytes)}}]}
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(root))
    world.log.hostname = f"127.0.0.1:{world.server.port}"  # the name the root gives the log
    flags = world.flags()
    index = flags.index("--rekor-key")
    flags[index:index + 2] = ["--trusted-root", str(path)]
    code, summary = crawl_flags(audit, flags)
    assert code == 1
    (finding,) = [f for f in findings_of(summary, "CHECKPOINT_INVALID")
                  if f["evidence"]["kind"] == "head_signature"]
    assert "outside its validity window" in finding["detail"]


def crawl_flags(audit: RunAudit, flags: list[str]) -> tuple[int, dict[str, Any]]:
    result = audit("crawl", *flags, "--json")
    assert "Traceback" not in result.stderr
    return result.exit_code, json.loads(result.stdout)


# -- 13. what a pinned key signed must be a statement ---------------------------------------


def logged_under_a_pinned_key(world: World, statement: bytes) -> Any:
    """`statement` signed by the first endorser, logged, and in the statement store: the
    log's entry."""
    endorser = world.endorsers[0]
    entry = world.log.add_rekord(statement, endorser.sign(statement), endorser.public_pem)
    (world.statements / f"sha2-256:{hashlib.sha256(statement).hexdigest()}").write_bytes(
        statement)
    return entry


def failed_statement_finding(summary: dict[str, Any], uuid: str) -> dict[str, Any]:
    (finding,) = [f for f in summary["findings"] if f["evidence"].get("uuid") == uuid]
    assert finding["rule"] == "ENTRY_INVALID" and finding["severity"] == "critical"
    assert finding["evidence"]["failed_checks"] == ["statement"]
    return finding


def test_bytes_that_are_no_statement_under_a_pinned_key_fail_the_statement_check(
        audit: RunAudit, world: World, db_url: str) -> None:
    entry = logged_under_a_pinned_key(world, b"\x89PNG\r\n\x1a\n not a statement \xff\xfe")
    code, summary = crawl(audit, world)
    assert code == 1
    failed_statement_finding(summary, entry.uuid)


def test_the_component_table_shows_log_index_0_and_no_subject_as_none(
        audit: RunAudit, world: World, db_url: str) -> None:
    """The log's first entry is at index 0, and a statement that cannot be read has no subject:
    the table showed the first as `-` (not logged in the log's numbering) and the second as
    `None`."""
    entry = logged_under_a_pinned_key(world, b"not a statement")
    assert crawl(audit, world)[0] == 1
    name = world.endorsers[0].name
    rows = [[cell.strip() for cell in line.split("\u2502")[1:-1]]
            for line in audit("component", name, "--limit", "0").stderr.splitlines()
            if line.startswith("\u2502") and line.split("\u2502")[2].strip()]
    stored = json.loads(audit("component", name, "--limit", "0", "--json").stdout)
    assert sorted(int(row[1]) for row in rows) == sorted(
        e["log_index"] for e in stored["endorsements"])
    assert 0 in [int(row[1]) for row in rows]
    (unread,) = [row for row in rows if row[1] == str(entry.virtual_index)]
    assert unread[2] == "-" and unread[4].startswith("FAILED: ")


@pytest.mark.parametrize("digest", [b"%2e%2e%2f%2e%2e%2fetc%2fpasswd", b"not a digest",
                                    b"A" * 64])
def test_a_subject_digest_that_is_no_sha256_is_never_looked_up(
        audit: RunAudit, world: World, db_url: str, digest: bytes) -> None:
    """A signed statement whose subject "digest" is a path: the store is never asked for it
    (each other entry asks for its statement and its subject, this one for its statement)."""
    endorser = world.endorsers[0]
    honest = oak_statement(endorser.name, b"build", world.log.clock())
    statement = honest.replace(hashlib.sha256(b"build").hexdigest().encode(), digest)
    assert statement != honest
    world.log.add_rekord(statement, endorser.sign(statement), endorser.public_pem)
    world.server.files[f"sha2-256:{hashlib.sha256(statement).hexdigest()}"] = statement
    result = audit("crawl", *files_flags(world), "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 0, result.stderr
    assert summary["new"] == len(world.pinned()) + 1 and summary["statements_unavailable"] == 0
    assert world.server.requests[Endpoint.FILES] == 2 * (len(world.pinned()) + 1) - 1


# -- 14. text that is not text ----------------------------------------------------------------
# JSON escapes U+0000 and unpaired surrogates; Python parses them into strings that PostgreSQL
# refuses (U+0000) and that no database driver or UTF-8 file encodes (a lone surrogate). Parsed,
# one such statement under a pinned key ended every later crawl with an internal error.


@pytest.mark.parametrize("name", ["kernel\u0000", "kernel\ud800"], ids=["nul", "surrogate"])
def test_a_statement_holding_text_no_store_holds_is_a_failed_statement(
        audit: RunAudit, world: World, db_url: str, name: str) -> None:
    statement = oak_statement(name, b"build", world.log.clock())
    assert b"\\u0000" in statement or b"\\ud800" in statement
    entry = logged_under_a_pinned_key(world, statement)
    code, summary = crawl(audit, world)
    assert code == 1
    finding = failed_statement_finding(summary, entry.uuid)
    assert f"statement sha256:{hashlib.sha256(statement).hexdigest()}" in finding["detail"]
    assert stored(db_url)["entries"] == len(world.pinned()) + 1
    code, summary = crawl(audit, world)  # the next run goes on
    assert code == 0 and summary["new"] == 0
    result = audit("component", world.endorsers[0].name, "--limit", "0", "--json")
    assert result.exit_code == 0 and "Traceback" not in result.stderr
    (row,) = [r for r in json.loads(result.stdout)["endorsements"] if r["uuid"] == entry.uuid]
    assert not row["ok"]


def test_a_subject_name_with_escapes_and_newlines_stays_on_its_line_in_the_terminal(
        audit: RunAudit, world: World, db_url: str) -> None:
    """Text a store holds but a terminal would act on: an ANSI sequence, a newline or a Unicode
    line separator that would show a line of its own in a table cell, and characters a terminal
    shows as nothing (a zero-width space, a right-to-left mark, a byte order mark, a tag
    character: the reports escaped them, the terminal's tables did not)."""
    entry = logged_under_a_pinned_key(world, oak_statement(
        "kern\u001b[31mel\nFORGED LINE\u2028SEPARATED\u200b\u200f\ufeff\U000e0041",
        b"build", world.log.clock()))
    assert crawl(audit, world)[0] == 0
    for command in (("component", world.endorsers[0].name), ("entries",)):
        result = audit(*command, "--limit", "0")
        shown = result.stdout + result.stderr  # the table goes where the console writes
        assert result.exit_code == 0 and "\x1b" not in shown
        assert ("kern\\x1b[31mel\\x0aFORGED LINE\\u2028SEPARATED\\u200b\\u200f\\ufeff"
                "\\U000e0041") in shown, shown
        assert str(entry.virtual_index) in shown
        assert not [line for line in shown.splitlines()
                    if ("FORGED" in line or "SEPARATED" in line) and "kern" not in line]


#: A log-borne value that would forge a line of the auditor's output: an ANSI sequence, bidi
#: override, a one-byte CSI, and a newline followed by a verdict of the attacker's.
FORGING = "EVIL\x1b[31mRED \u202eRLO [red]m[/red]\nFORGED: no findings; exit 0\x9b31m"


def test_a_finding_s_log_borne_detail_is_one_line_in_the_terminal(
        audit: RunAudit, world: World, db_url: str) -> None:
    """An entry asked for by UUID whose body names a kind holding a newline: the finding's
    detail quotes the kind, and the line `audit crawl` printed for the finding kept the
    newline (escaping only the rest), so the log wrote a line of its own."""
    body = json.dumps({"apiVersion": "0.0.1", "kind": FORGING, "spec": {}}).encode()
    entry = world.log.add_body(body)
    result = audit("crawl", *world.flags(), "--uuid", entry.uuid)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    quoting = [line for line in lines if entry.uuid in line]
    assert quoting, result.stderr  # the finding is shown, with its detail
    for line in quoting:
        assert "EVIL\\x1b[31mRED \\u202eRLO [red]m[/red]\\x0aFORGED: no findings; exit 0" \
               "\\x9b31m" in line
    assert not [line for line in lines if line.startswith("FORGED")]
    assert "\x1b" not in result.stdout + result.stderr


def test_a_subject_name_of_megabytes_is_stored_cut_alike_on_every_database(
        audit: RunAudit, world: World, db_url: str) -> None:
    """PostgreSQL cut it at the column's length, SQLite kept it whole: the same evidence
    read differently by database. The statement itself is stored whole; its check quotes the
    name cut (it quoted the megabyte, stored with the entry and shown in reports)."""
    entry = logged_under_a_pinned_key(
        world, oak_statement("k" * 1_000_000, b"build", world.log.clock()))
    code, summary = crawl(audit, world)
    assert code == 0, summary
    rows = json.loads(audit("component", world.endorsers[0].name, "--limit", "0",
                            "--json").stdout)
    (row,) = [r for r in rows["endorsements"] if r["uuid"] == entry.uuid]
    assert row["ok"] and row["subject_name"] == "k" * 512
    (check,) = [c for c in row["checks"] if c["name"] == "statement"]
    assert check["detail"] == f"Oak endorsement v1 for '{'k' * 511}… (1,000,002 characters)"


# -- 15. times at the ends of what a timestamp can name ---------------------------------------


def test_an_entry_logged_at_the_last_second_a_timestamp_names_is_reported_in_every_format(
        audit: RunAudit, world: World, db_url: str, tmp_path: Path) -> None:
    """A log may claim an integratedTime up to 9999-12-31T23:59:59Z; the HTML report padded
    its timeline past it, and every run ended with an internal error (exit 70)."""
    endorser = world.endorsers[0]
    statement = oak_statement(endorser.name, b"build", world.log.clock())
    world.log.add_rekord(statement, endorser.sign(statement), endorser.public_pem,
                         integrated_time=TIME_MAX)
    (world.statements / f"sha2-256:{hashlib.sha256(statement).hexdigest()}").write_bytes(
        statement)
    out = tmp_path / "reports"
    result = audit("run", *world.flags(), "--report-dir", str(out))
    assert result.exit_code in (0, 1) and "Traceback" not in result.stderr, result.stderr
    assert "9999-12-31" in (out / "audit-report.html").read_text()
    for fmt in ("md", "csv", "sarif", "jsonl", "json"):
        assert audit("report", "--format", fmt).exit_code == 0, fmt


@pytest.mark.parametrize("field", ["notBefore", "notAfter"])
def test_a_statement_time_before_the_first_instant_is_a_failed_statement(
        audit: RunAudit, world: World, db_url: str, field: str) -> None:
    """0001-01-01T00:00:00+01:00 is RFC 3339, and before the first instant Python holds."""
    document = json.loads(oak_statement("kernel", b"build", world.log.clock()))
    document["predicate"]["validity"][field] = "0001-01-01T00:00:00+01:00"
    entry = logged_under_a_pinned_key(world, json.dumps(document).encode())
    code, summary = crawl(audit, world)
    assert code == 1
    failed_statement_finding(summary, entry.uuid)
    rows = json.loads(audit("component", world.endorsers[0].name, "--limit", "0",
                            "--json").stdout)["endorsements"]
    (row,) = [r for r in rows if r["uuid"] == entry.uuid]
    (check,) = [c for c in row["checks"] if c["name"] == "statement"]
    assert not check["ok"] and "in the years 1 to 9999" in check["detail"], check


# -- 9. an entry answering for an index that is not its own -----------------------------------


def test_an_entry_relabelled_to_another_index_does_not_stand_for_the_one_there(
        audit: RunAudit, world: World, db_url: str) -> None:
    # The log answers index v with a stranger's entry from an earlier leaf, its logIndex and
    # signed entry timestamp rewritten to v (the log signs what it likes), its inclusion proof
    # its own leaf's; the index hides the endorsement at v. Before, the range scan and
    # --log-index took the answer for index v: the endorsement was never seen, the run clean.
    victim = world.pinned()[5].entry
    decoy = next(e.entry for e in world.endorsements
                 if e.endorser is world.stranger and e.entry.virtual_index < victim.virtual_index)
    world.server.faults.unlisted.add(victim.virtual_index)
    world.server.faults.relabel[victim.virtual_index] = decoy.virtual_index
    last = world.log.size - 1
    scan = ("--from-index", "0", "--to-index", str(last))
    code, summary = crawl(audit, world, *scan, "--log-index", str(victim.virtual_index))
    assert code == 3 and not summary["complete"]
    reason = summary["incomplete_reason"]
    assert (f"the log did not serve 1 entry of the range 0-{last} (--from-index/--to-index): "
            f"{victim.virtual_index}") in reason
    assert f"the log did not serve --log-index {victim.virtual_index}" in reason
    assert (f"index {victim.virtual_index} was answered by the entry at leaf "
            f"{decoy.shard_index} of tree {decoy.tree_id} (index {decoy.virtual_index})") in reason
    assert stored(db_url)["entries"] == len(world.pinned()) - 1
    world.server.faults.relabel.clear()
    code, summary = crawl(audit, world, *scan)
    assert code == 0 and summary["new"] == 1, summary["incomplete_reason"]


def test_an_index_answered_by_two_entries_is_named_and_the_scan_goes_on(
        audit: RunAudit, world: World, db_url: str) -> None:
    # Retrieve answers one index with two different entries: the endorsement there (which the
    # search index hides) and a stranger's relabelled to it. Before, the whole batch was a
    # malformed answer and ended the crawl there: the endorsements after it went unscanned,
    # the contradiction unnamed.
    victim = world.pinned()[5].entry
    decoy = next(e.entry for e in world.endorsements if e.endorser is world.stranger)
    world.server.faults.unlisted.add(victim.virtual_index)
    world.server.faults.double_answer[victim.virtual_index] = decoy.virtual_index
    last = world.log.size - 1
    scan = ("--from-index", "0", "--to-index", str(last))
    code, summary = crawl(audit, world, *scan)
    assert code == 1 and not summary["complete"]  # findings outrank incompleteness
    reason = summary["incomplete_reason"]
    assert (f"the log did not serve 1 entry of the range 0-{last} (--from-index/--to-index): "
            f"{victim.virtual_index}; the next scan of the range starts again at "
            f"{victim.virtual_index}") in reason
    assert f"the log answered 1 index with two different entries each: {victim.virtual_index}" \
        in reason
    assert stored(db_url)["entries"] == len(world.pinned()) - 1
    (fault,) = findings_of(summary, "LOG_INCONSISTENT")
    evidence = fault["evidence"]
    assert (evidence["kind"], evidence["log_index"]) == ("conflicting_answers",
                                                         victim.virtual_index)
    assert evidence["leaf_hashes"] == sorted([victim.leaf_hash.hex(), decoy.leaf_hash.hex()])
    assert {a["uuid"] for a in evidence["answers"]} == {victim.uuid, decoy.uuid}
    # The log mends its answer: the next scan takes the entry, and the contradiction stays.
    world.server.faults.double_answer.clear()
    code, summary = crawl(audit, world, *scan)
    assert code == 1 and summary["complete"] and summary["new"] == 1
    assert [f["fingerprint"] for f in findings_of(summary, "LOG_INCONSISTENT")] == [
        fault["fingerprint"]]


def test_a_uuid_answered_by_two_entries_is_named_as_an_index_is_and_taken_alone(
        audit: RunAudit, world: World, db_url: str) -> None:
    # Retrieve answers a pinned entry's UUID with two different entries: the entry and the
    # same entry relabelled to another index. Before, the batch was retried one entry at a
    # time and nothing named the contradiction, unlike an index answered twice.
    victim = world.pinned()[3].entry
    other = world.pinned()[5].entry
    world.server.faults.double_answer_uuid[victim.virtual_index] = other.virtual_index
    code, summary = crawl(audit, world)
    assert code == 1 and summary["complete"], summary  # GET by UUID answers it truly
    assert stored(db_url)["entries"] == len(world.pinned())
    (fault,) = findings_of(summary, "LOG_INCONSISTENT")
    evidence = fault["evidence"]
    assert (evidence["kind"], evidence["uuid"]) == ("conflicting_answers", victim.uuid)
    assert evidence["leaf_hashes"] == [victim.leaf_hash.hex()] * 2
    assert sorted(a["log_index"] for a in evidence["answers"]) == sorted(
        [victim.virtual_index, other.virtual_index])
    assert fault["detail"].startswith(f"the log answered entry {victim.uuid} with two "
                                      "different entries: leaf hash "), fault["detail"]
    assert "log_index" not in evidence
    world.server.faults.double_answer_uuid.clear()  # mended: the fault is still reported
    code, summary = crawl(audit, world)
    assert [f["fingerprint"] for f in findings_of(summary, "LOG_INCONSISTENT")] == [
        fault["fingerprint"]]


def test_an_entry_served_under_another_index_fails_its_inclusion_check(
        audit: RunAudit, world: World, db_url: str) -> None:
    # Fetched by UUID, a pinned entry labelled with a later index (SET signed over it): its
    # proof places it at its own leaf. Before, it verified and was stored under the false index.
    victim = world.pinned()[0].entry
    world.server.faults.relabel[victim.virtual_index + 3] = victim.virtual_index
    code, summary = crawl(audit, world)
    assert code == 1
    (invalid,) = findings_of(summary, "ENTRY_INVALID")
    assert invalid["evidence"]["failed_checks"] == ["inclusion_proof"]
    shown = audit("entries", "--db", db_url, "--json").stdout
    assert (f"the entry's logIndex {victim.virtual_index + 3} is not where its inclusion proof "
            f"places it: leaf {victim.shard_index} of tree {victim.tree_id}, virtual index "
            f"{victim.virtual_index}") in shown
    # The log mends its answer: the entry verifies, and the index it signed stays its fault.
    world.server.faults.relabel.clear()
    code, summary = crawl(audit, world)
    assert code == 1 and not findings_of(summary, "ENTRY_INVALID")
    (signed,) = findings_of(summary, "LOG_INCONSISTENT")
    assert signed["evidence"]["kind"] == "signed_index"
    assert signed["evidence"]["log_index"] == victim.virtual_index + 3


def test_entries_of_every_shard_stand_for_their_virtual_indexes(
        audit: RunAudit, world: World, db_url: str) -> None:
    # The place an entry's proof gives it counts the shards before its tree: after a rotation
    # every index still answers for itself, and nothing is misplaced.
    world.log.rotate()
    later = world.publish(world.endorsers[1], b"after rotation").entry
    last = world.log.size - 1
    code, summary = crawl(audit, world, "--from-index", "0", "--to-index", str(last),
                          "--log-index", str(later.virtual_index))
    assert code == 0 and summary["complete"], summary["incomplete_reason"]
    assert later.virtual_index > later.shard_index and stored(db_url)["failed"] == 0


def test_shards_listed_in_another_order_keep_where_they_started(
        audit: RunAudit, world: World, db_url: str) -> None:
    # Three shards (40, 2 and 2 entries); the log then lists its inactive shards newest first.
    # Before, the listing order placed them: the second tree started at index 0, every entry
    # of the first two answered an index the placement said was another's, and the scan and
    # --log-index were incomplete, naming 42 indexes answered "from other places".
    for _ in range(2):
        world.log.rotate()
        for n in range(2):
            world.publish(world.endorsers[n], f"shard {world.log.active.tree_id}".encode())
    assert crawl(audit, world)[0] == 0
    world.server.faults.reverse_shards = True
    second = world.pinned()[-3].entry
    assert second.virtual_index == 41 and second.shard_index == 1
    last = world.log.size - 1
    code, summary = crawl(audit, world, "--from-index", "0", "--to-index", str(last),
                          "--log-index", str(second.virtual_index))
    assert code == 0 and summary["complete"], summary["incomplete_reason"]
    assert stored(db_url)["failed"] == 0


def test_a_frozen_shard_the_log_stops_listing_is_log_inconsistent(
        audit: RunAudit, world: World, db_url: str) -> None:
    # Rekor v1 lists every shard; one that is gone from GET /log takes its entries (and the
    # virtual indexes after it) out of the log's history. Before, the run was clean.
    old = world.log.active.tree_id
    world.log.rotate()
    assert crawl(audit, world)[0] == 0
    world.server.faults.unlisted_shards.add(old)
    for _ in range(2):  # reported by every run, once
        code, summary = crawl(audit, world)
        assert code == 1
        (dropped,) = findings_of(summary, "LOG_INCONSISTENT")
        assert dropped["evidence"]["kind"] == "shard_dropped"
        assert dropped["evidence"]["tree_id"] == old
        assert dropped["evidence"]["stored_size"] == 40


def test_an_entry_dated_after_it_was_served_fails_its_signed_timestamp(
        audit: RunAudit, world: World, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A release not yet valid (its window opens in two hours), logged with an integratedTime
    # the log signed two hours ahead: judged at that time, it was a valid endorsement.
    endorser = world.endorsers[0]
    ahead = int(time.time()) + 2 * 3600
    statement = oak_statement(endorser.name, b"a future release", ahead)
    entry = world.log.add_rekord(statement, endorser.sign(statement), endorser.public_pem,
                                 integrated_time=ahead)
    (world.statements / f"sha2-256:{hashlib.sha256(statement).hexdigest()}").write_bytes(
        statement)
    code, summary = crawl(audit, world)
    assert code == 1
    (finding,) = [f for f in summary["findings"] if f["evidence"].get("uuid") == entry.uuid]
    assert finding["rule"] == "ENTRY_INVALID"
    assert finding["evidence"]["failed_checks"] == ["set"]
    assert "the log signed a time that had not come" in audit(
        "entries", "--db", db_url, "--json").stdout
    # The finding says why (it said "failed: set", the reason only in `audit entries`).
    assert finding["detail"].endswith("the log signed a time that had not come)")
    # Three hours on, the time has come: verified again, the entry still lied when first held.
    later = datetime.now(UTC) + timedelta(hours=3)
    monkeypatch.setattr(repository, "now", lambda: later)
    code, summary = crawl(audit, world)
    assert code == 1 and summary["rechecked"] == 1
    (finding,) = [f for f in summary["findings"] if f["evidence"].get("uuid") == entry.uuid]
    assert finding["evidence"]["failed_checks"] == ["set"]


def test_an_entry_dated_before_a_head_that_did_not_hold_it_was_dated_back(
        audit: RunAudit, world: World, db_url: str) -> None:
    # The crawl saw a head of 40 leaves; an endorsement whose validity ended ten days ago is
    # logged since, and served dated 95 days back (into its window) under a signed entry
    # timestamp over that time. Its leaf is past the head, so it was integrated after the head
    # was served. Before, the signed time was taken as true: a valid endorsement.
    assert crawl(audit, world)[0] == 0
    honest = world.publish(world.endorsers[1], b"logged after the crawl").entry
    endorser, issued = world.endorsers[0], int(time.time()) - 100 * 86_400
    statement = oak_statement(endorser.name, b"an expired release", issued)
    late = world.log.add_rekord(statement, endorser.sign(statement), endorser.public_pem)
    (world.statements / f"sha2-256:{hashlib.sha256(statement).hexdigest()}").write_bytes(
        statement)
    world.server.faults.backdate[late.virtual_index] = 95 * 86_400
    code, summary = crawl(audit, world)
    assert code == 1 and summary["new"] == 2
    (invalid,) = findings_of(summary, "ENTRY_INVALID")
    assert invalid["evidence"]["uuid"] == late.uuid
    assert invalid["evidence"]["failed_checks"] == ["set"]
    (fault,) = findings_of(summary, "LOG_INCONSISTENT")
    evidence = fault["evidence"]
    assert (evidence["kind"], evidence["uuid"], evidence["leaf"], evidence["head_size"]) == (
        "backdated", late.uuid, 41, 40)
    assert evidence["integrated_time"] == late.integrated_time - 95 * 86_400
    assert "the log dated it back" in audit("entries", "--db", db_url, "--json").stdout
    assert honest.uuid not in json.dumps(summary["findings"])
    # The log mends its answer: judged at its true time the endorsement had expired, and the
    # time the log signed stays its fault.
    world.server.faults.backdate.clear()
    code, summary = crawl(audit, world)
    assert code == 1 and summary["rechecked"] == 1
    assert rules(summary) == ["EXPIRED_AT_INTEGRATION", "LOG_INCONSISTENT"]
    assert [f["fingerprint"] for f in findings_of(summary, "LOG_INCONSISTENT")] == [
        fault["fingerprint"]]


def test_a_split_view_under_a_tree_id_that_is_no_number_is_not_verified(
        audit: RunAudit, world: World, db_url: str) -> None:
    # The entries prove inclusion in a forked tree whose checkpoints the log signs under
    # `<host> - nameless`, keyed by the bare leaf hash: no tree id to hold them against. Before,
    # they verified (the origin only had to start with the log's name) and the split view
    # went unseen: no history judged a checkpoint that names no tree.
    world.log.fork()
    world.server.faults.fork_entries.update({Endpoint.SEARCH_INDEX, Endpoint.RETRIEVE})
    world.server.faults.nameless_tree = True
    code, summary = crawl(audit, world)
    assert code == 1
    invalid = findings_of(summary, "ENTRY_INVALID")
    assert len(invalid) == len(world.pinned())
    assert {tuple(f["evidence"]["failed_checks"]) for f in invalid} == {
        ("checkpoint_matches_proof",)}
    assert ("origin 'rekor.sigstore.dev - nameless': the entry carries no tree id; origin must "
            "read 'rekor.sigstore.dev - <treeID>'") in audit("entries", "--db", db_url,
                                                              "--json").stdout


@pytest.mark.parametrize("location", [b"http://127.0.0.1:1/\x9b[31mx", b"http://[::1/x",
                                      b"http://127.0.0.1:1/elsewhere"],
                         ids=["not-utf8", "not-a-url", "a-url"])
def test_a_redirect_is_refused_whatever_its_location(audit: RunAudit, world: World,
                                                     db_url: str, location: bytes) -> None:
    """requests parses a redirect's Location even when it is not to follow it: one that is no
    UTF-8 or no URL ended the crawl with an internal error (exit 70), where a well-formed
    one is refused as an answer no API we read gives (incomplete, exit 3)."""
    world.server.faults.redirect(location, count=10, endpoint=Endpoint.LOG_INFO)
    result = audit("crawl", *world.flags())
    assert result.exit_code == 3, result.stderr
    assert "internal error" not in result.stderr and "\x1b" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "INCOMPLETE" in line]
    assert ("malformed Location" in line) != location.endswith(b"elsewhere"), line
