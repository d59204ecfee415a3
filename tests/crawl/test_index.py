"""`audit crawl` and `audit run` with the publisher's own index beside the local Rekor.

The world: a local Rekor log holding endorsements by three component keys, and the publisher's
index (Oak's layout, `testlog.publisher`) listing every one of them with its Rekor receipt.
Each test changes one thing (a fault of the store, an endorsement on one side only) and reads
the outcome through the CLI, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from auditor.crawl.index import PACKAGES_AHEAD, IndexCrawl
from auditor.store import models
from auditor.store.database import open_database
from testlog import Endorser, PublisherIndex, RekorLog, RunningIndexServer, RunningServer
from testlog.faults import Endpoint
from testlog.publisher import ENDORSEMENTS_FOR_KEY, Published, entry_document
from testlog.synthetic import Endorsement, add_endorsements, endorse, oak_statement
from tests.cli_runner import RunAudit
from tests.crawl.signals import crawl_stopped


@dataclass
class World:
    """A local log and the publisher's index: every endorsement logged and published."""

    log: RekorLog
    server: RunningServer
    index: PublisherIndex
    store: RunningIndexServer
    endorsers: list[Endorser]
    endorsements: list[Endorsement]
    published: list[Published]
    directory: Path
    extra: list[str] = field(default_factory=list)

    @property
    def log_key(self) -> Path:
        path = self.directory / "log.pem"
        path.write_bytes(self.log.signer.public_pem)
        return path

    def key_file(self, endorser: Endorser) -> Path:
        path = self.directory / f"{endorser.name}.pem"
        path.write_bytes(endorser.public_pem)
        return path

    def flags(self, endorsers: list[Endorser] | None = None) -> list[str]:
        flags = ["--rekor-url", self.server.url, "--rekor-key", str(self.log_key), "--rate",
                 "1000", "--index-files", self.store.files_url, "--index-links",
                 self.store.links_url]
        for endorser in endorsers or self.endorsers:
            flags += ["--key", f"{endorser.name}={self.key_file(endorser)}"]
        return flags + self.extra

    def config(self, *, release: Path | None = None, **index: object) -> Path:
        """A config file with the log, the components, the index and a small retry budget."""
        lines = [f'[[releases]]\nmanifest = "{release}"\n'] if release else []
        lines += ["[log]", f'url = "{self.server.url}"', f'rekor_keys = ["{self.log_key}"]',
                 "requests_per_second = 1000", "max_retries = 1", "backoff_base = 0", "",
                 "[index]"]
        index = {"files": self.store.files_url, "links": self.store.links_url,
                 "requests_per_second": 1000, **index}
        lines += [f"{name} = {json.dumps(value)}" for name, value in index.items()]
        for endorser in self.endorsers:
            pem = endorser.public_pem.decode()
            lines += ["", f"[components.{endorser.name}]", f'keys = ["""{pem}"""]']
        path = self.directory / "auditor.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def release(self, endorsement: Endorsement) -> Path:
        """A release manifest shipping the artifact an init_ram_fs endorsement vouches for."""
        (self.directory / "initrd").write_bytes(endorsement.subject)
        path = self.directory / "release.toml"
        path.write_text('name = "r1"\n[components.init_ram_fs]\nartifact = "initrd"\n')
        return path

    def unlogged(self, endorser: Endorser, subject: bytes) -> Endorsement:
        """An endorsement signed by `endorser` that the served log does not hold."""
        elsewhere = RekorLog(clock=self.log.clock)
        return endorse(elsewhere, endorser, subject)


@pytest.fixture
def world(rekor_log: RekorLog, rekor_server: RunningServer, endorsers: list[Endorser],
          publisher_index: PublisherIndex, index_server: RunningIndexServer,
          tmp_path: Path) -> World:
    endorsements = add_endorsements(rekor_log, endorsers, 9)
    published = [publisher_index.publish(e, log=rekor_log) for e in endorsements]
    return World(rekor_log, rekor_server, publisher_index, index_server, endorsers,
                 endorsements, published, tmp_path)


def crawl(audit: RunAudit, world: World, *extra: str) -> tuple[int, dict[str, Any]]:
    result = audit("crawl", *world.flags(), *extra, "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}


def run(audit: RunAudit, *args: str) -> tuple[int, dict[str, Any]]:
    result = audit("run", *args, "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}


def index_part(summary: dict[str, Any], world: World) -> dict[str, Any]:
    part: dict[str, Any] = next(s for s in summary["sources"]
                                if s["source"] == world.store.links_url)
    return part


def rules(summary: dict[str, Any]) -> list[str]:
    return sorted(f["rule"] for f in summary["findings"])


def of_rule(summary: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in summary["findings"] if f["rule"] == rule]


def packages(db_url: str) -> dict[str, models.PublishedPackage]:
    with open_database(db_url)() as session:
        rows = list(session.scalars(select(models.PublishedPackage)))
        session.expunge_all()
    return {row.endorsement_sha256: row for row in rows}


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# -- the honest publisher --------------------------------------------------------------------


def test_first_crawl_verifies_every_published_package(audit: RunAudit, world: World,
                                                      db_url: str) -> None:
    code, summary = crawl(audit, world)
    assert code == 0, summary
    assert summary["complete"] is True and summary["findings"] == []
    index = index_part(summary, world)
    assert index["discovered"] == index["new"] == index["verified"] == 9
    assert index["failed"] == 0 and index["complete"] is True
    stored = packages(db_url)
    assert set(stored) == {p.endorsement for p in world.published}
    for published in world.published:
        row = stored[published.endorsement]
        assert not row.pending and row.ok and row.log_answer == "same"
        assert (row.signature_sha256, row.public_key_sha256, row.rekor_sha256) == (
            published.signature, published.key, published.receipt)
        checks = json.loads(row.checks or "[]")
        assert {c["name"] for c in checks if c["ok"] is not True} == set()
    # Each package is the log's own entry: one endorsement each, no copies.
    entries = json.loads(audit("entries", "--json").stdout)["entries"]
    assert len(entries) == 9


def test_noop_rerun_costs_one_request_per_pinned_key(audit: RunAudit, world: World,
                                                     db_url: str) -> None:
    assert crawl(audit, world)[0] == 0
    world.store.requests.reset()
    code, summary = crawl(audit, world)
    assert code == 0 and summary["findings"] == []
    assert world.store.requests.snapshot() == {"links/21": len(world.endorsers)}
    index = index_part(summary, world)
    assert index["requests"] == len(world.endorsers) and index["new"] == 0


def test_a_longer_list_fetches_only_the_new_package(audit: RunAudit, world: World,
                                                    db_url: str) -> None:
    assert crawl(audit, world)[0] == 0
    added = endorse(world.log, world.endorsers[1], b"kernel build 100")
    world.index.publish(added, log=world.log)
    world.store.requests.reset()
    code, summary = crawl(audit, world)
    assert code == 0 and summary["findings"] == []
    requests = world.store.requests
    assert requests.links(21) == 3
    assert (requests.links(14), requests.links(15), requests.links(16)) == (1, 1, 1)
    assert index_part(summary, world)["new"] == 1
    assert not packages(db_url)[sha256(added.statement)].pending


# -- the comparison ------------------------------------------------------------------------------


def test_a_log_entry_the_index_does_not_list_is_unpublished(audit: RunAudit, world: World,
                                                            db_url: str) -> None:
    # Logged two days ago, before the publisher's index began (see expected_since below).
    secret = endorse(world.log, world.endorsers[0], b"stage0 built outside the release",
                     integrated_time=world.log.clock() - 2 * 86_400)
    code, summary = crawl(audit, world)
    assert code == 1, summary
    # Its statement is not in the publisher's files either.
    assert rules(summary) == ["STATEMENT_UNAVAILABLE", "UNPUBLISHED_LOG_ENTRY"]
    [finding] = of_rule(summary, "UNPUBLISHED_LOG_ENTRY")
    assert finding["severity"] == "high"
    assert finding["component"] == "stage0"
    evidence = finding["evidence"]
    assert evidence["uuid"] == secret.entry.uuid
    assert evidence["statement_sha256"] == secret.statement_sha256
    assert evidence["index"] == world.store.links_url
    assert evidence["key"] == f"sha2-256:{world.published[0].key}"
    # The same evidence gives the same finding to the scheduled job, online or not.
    config = world.config(release=world.release(world.endorsements[2]))
    code, first = run(audit, "--config", str(config))
    code_offline, again = run(audit, "--config", str(config), "--offline")
    assert code == code_offline == 1
    assert [f["rule"] for f in first["findings"] if f["release"]] == ["MATCH"]
    prints = {f["fingerprint"] for f in of_rule(first, "UNPUBLISHED_LOG_ENTRY")}
    assert prints == {f["fingerprint"] for f in of_rule(again, "UNPUBLISHED_LOG_ENTRY")}
    assert prints == {finding["fingerprint"]}
    # An index younger than the log: entries before `expected_since` are not reported.
    since = datetime.fromtimestamp(world.log.clock(), UTC).date().isoformat()
    with config.open("a") as text:
        text.write(f"\n[reconcile]\nexpected_since = {since}\n")
    code, later = run(audit, "--config", str(config), "--offline")
    assert of_rule(later, "UNPUBLISHED_LOG_ENTRY") == []
    # Published late: the finding goes with the evidence.
    world.index.publish(secret, log=world.log)
    code, summary = crawl(audit, world)
    assert code == 0 and summary["findings"] == []


def test_an_endorsement_the_list_no_longer_names_is_unpublished(
        audit: RunAudit, world: World, db_url: str) -> None:
    # The key's list (21) named a logged endorsement and drops it: whoever reads the index now
    # does not find it. Before, every package a list ever named stayed published: no finding.
    assert crawl(audit, world)[0] == 0
    victim, endorsement = world.published[3], world.endorsements[3]
    world.store.faults.drop(ENDORSEMENTS_FOR_KEY, victim.key, victim.endorsement)
    code, summary = crawl(audit, world)
    assert code == 1 and summary["complete"] is True, summary
    [finding] = summary["findings"]
    assert finding["rule"] == "UNPUBLISHED_LOG_ENTRY" and finding["component"] == "stage0"
    assert finding["evidence"]["uuid"] == endorsement.entry.uuid
    assert finding["evidence"]["key"] == f"sha2-256:{victim.key}"
    assert "listed under key" in finding["detail"] and "no longer lists" in finding["detail"]
    # The same from stored evidence offline; listed again, the finding goes.
    code, document = run(audit, "--config", str(world.config()), "--offline")
    assert [f["evidence"]["uuid"] for f in of_rule(document, "UNPUBLISHED_LOG_ENTRY")] == [
        endorsement.entry.uuid]
    world.store.faults.clear()
    code, summary = crawl(audit, world)
    assert code == 0 and summary["findings"] == []


def test_a_receipt_the_log_dated_back_is_no_valid_package(audit: RunAudit, world: World,
                                                         db_url: str) -> None:
    # An endorsement whose validity ended ten days ago, logged after a crawl saw the log's
    # head, dated 95 days back (into its window) in its receipt and in the log's own copy
    # alike, and hidden from the log's search index: only the publisher's index leads to it.
    # Before, receipt and copy agreed, and the package verified.
    assert crawl(audit, world)[0] == 0
    endorser, subject = world.endorsers[0], b"stage0 dated back"
    statement = oak_statement(endorser.name, subject, world.log.clock() - 100 * 86_400)
    signature = endorser.sign(statement)
    late = Endorsement(endorser, statement, signature, subject,
                       world.log.add_rekord(statement, signature, endorser.public_pem))
    world.server.faults.unlisted.add(late.entry.virtual_index)
    world.server.faults.backdate[late.entry.virtual_index] = 95 * 86_400
    world.index.publish(late, receipt=entry_document(world.log, late.entry,
                                                     world.server.faults.content()))
    code, summary = crawl(audit, world)
    assert code == 1
    (fault,) = of_rule(summary, "LOG_INCONSISTENT")
    assert (fault["evidence"]["kind"], fault["evidence"]["uuid"]) == ("backdated", late.entry.uuid)
    package = packages(db_url)[sha256(late.statement)]
    assert package.log_answer == "same" and not package.ok
    assert "the log dated it back" in package.checks


def test_listing_a_statement_the_store_never_serves_does_not_publish_it(
        audit: RunAudit, world: World, db_url: str) -> None:
    # The key signed outside the release process; the index lists the statement's hash under
    # the key but the store never serves the statement: nobody can read what was signed, so
    # the entry is still unpublished (high), not only an incomplete package (medium).
    secret = endorse(world.log, world.endorsers[0], b"stage0 built outside the release")
    world.index.list_only(secret)
    code, summary = crawl(audit, world)
    assert code == 1, summary
    assert "UNPUBLISHED_LOG_ENTRY" in rules(summary) and "PUBLISHED_FILE_MISSING" in rules(summary)
    [finding] = of_rule(summary, "UNPUBLISHED_LOG_ENTRY")
    assert finding["evidence"]["uuid"] == secret.entry.uuid
    assert "does not serve its statement" in finding["detail"]
    # Served at last: published, and both findings go.
    world.index.publish(secret, log=world.log)
    code, summary = crawl(audit, world)
    assert code == 0 and summary["findings"] == [], summary


def test_a_statement_served_altered_does_not_publish_it(audit: RunAudit, world: World,
                                                        db_url: str) -> None:
    secret = endorse(world.log, world.endorsers[0], b"stage0 built outside the release")
    world.index.publish(secret, log=world.log)
    world.store.faults.alter(secret.statement_sha256)
    code, summary = crawl(audit, world)
    assert code == 1
    assert rules(summary) == ["PUBLISHED_FILE_ALTERED", "STATEMENT_UNAVAILABLE",
                              "UNPUBLISHED_LOG_ENTRY"], summary
    assert "does not serve its statement" in of_rule(summary, "UNPUBLISHED_LOG_ENTRY")[0][
        "detail"]


def test_a_split_view_in_the_logs_copy_of_a_receipt_is_found(audit: RunAudit, world: World,
                                                              db_url: str) -> None:
    assert crawl(audit, world)[0] == 0
    late = endorse(world.log, world.endorsers[1], b"a kernel published later")
    world.index.publish(late, log=world.log)
    endorse(world.log, world.endorsers[0], b"replaced on the fork")
    # The log answers the index's lookups by UUID from a fork of the same size; its head and
    # its retrieve answers (what the Rekor crawl reads) stay honest.
    world.log.fork()
    world.server.faults.fork_entries.add(Endpoint.ENTRY_BY_UUID)
    code, summary = crawl(audit, world)
    assert code == 1
    (split,) = of_rule(summary, "LOG_INCONSISTENT")
    assert split["evidence"]["kind"] == "split_view"
    assert split["evidence"]["checkpoint_after_size"] == world.log.size


def test_a_key_with_no_list_has_published_nothing(audit: RunAudit, world: World,
                                                  db_url: str) -> None:
    # An index that never published anything under the init_ram_fs key answers 404 for its
    # list: every init_ram_fs entry in the log is unpublished.
    key = world.published[2].key
    del world.index.links[(ENDORSEMENTS_FOR_KEY, key)]
    code, summary = crawl(audit, world)
    assert code == 1 and summary["complete"] is True
    unpublished = of_rule(summary, "UNPUBLISHED_LOG_ENTRY")
    assert rules(summary) == ["UNPUBLISHED_LOG_ENTRY"] * 3
    assert {f["evidence"]["uuid"] for f in unpublished} == {
        e.entry.uuid for e in world.endorsements if e.endorser.name == "init_ram_fs"}
    assert {f["component"] for f in unpublished} == {"init_ram_fs"}


def test_a_published_endorsement_without_receipt_is_not_logged(audit: RunAudit, world: World,
                                                               db_url: str) -> None:
    unlogged = world.unlogged(world.endorsers[1], b"kernel skipped transparency")
    published = world.index.publish(unlogged)
    code, summary = crawl(audit, world)
    assert code == 0, summary  # not an integrity finding: the crawl itself is sound
    [finding] = summary["findings"]
    assert finding["rule"] == "ENDORSED_NOT_LOGGED" and finding["component"] == "kernel"
    assert finding["evidence"]["package"] == f"sha2-256:{published.endorsement}"
    assert finding["evidence"]["index"] == world.store.links_url
    assert finding["evidence"]["statement_sha256"] == unlogged.statement_sha256
    assert "carries no transparency-log receipt" in finding["detail"]
    row = packages(db_url)[published.endorsement]
    assert row.ok and row.rekor_sha256 is None and row.endorsement_pk is not None
    code, document = run(audit, "--config", str(world.config()))
    assert code == 1
    assert [f["evidence"]["package"] for f in of_rule(document, "ENDORSED_NOT_LOGGED")] == [
        f"sha2-256:{published.endorsement}"]


def test_an_empty_statement_is_named_by_its_hash(audit: RunAudit, world: World,
                                                 db_url: str) -> None:
    # The key signed an empty file: its statement is the empty string, not no statement.
    endorser = world.endorsers[1]
    unlogged = world.unlogged(endorser, b"kernel")
    empty = dataclasses.replace(unlogged, statement=b"", signature=endorser.sign(b""))
    published = world.index.publish(empty)
    code, summary = crawl(audit, world)
    assert code == 0, summary  # medium: an unlogged endorsement
    [finding] = of_rule(summary, "ENDORSED_NOT_LOGGED")
    assert finding["evidence"]["package"] == f"sha2-256:{published.endorsement}"
    assert finding["evidence"]["statement_sha256"] == sha256(b"") == published.endorsement
    assert "None" not in finding["detail"]


def test_a_receipt_the_log_does_not_serve_is_entry_invalid(audit: RunAudit, world: World,
                                                           db_url: str) -> None:
    # The log signed a promise for this entry (same key) but serves another history.
    shadow = RekorLog(signer=world.log.signer, clock=world.log.clock)
    hidden = endorse(shadow, world.endorsers[0], b"stage0 in a split view")
    published = world.index.publish(hidden, log=shadow)
    code, summary = crawl(audit, world)
    assert code == 1, summary
    [finding] = summary["findings"]
    assert finding["rule"] == "ENTRY_INVALID" and finding["severity"] == "critical"
    evidence = finding["evidence"]
    assert evidence["receipt"] == f"sha2-256:{published.receipt}"
    assert evidence["package"] == f"sha2-256:{published.endorsement}"
    assert evidence["uuid"] == hidden.entry.uuid and evidence["log_answer"] == "absent"
    assert evidence["failed_checks"] == []  # the receipt itself verifies: only the log differs
    assert "names an entry the log does not serve" in finding["detail"]


def test_a_receipt_unlike_the_logs_entry_is_entry_invalid(audit: RunAudit, world: World,
                                                          db_url: str) -> None:
    target = world.endorsements[4]
    document = json.loads(entry_document(world.log, target.entry))
    entry = document[target.entry.uuid]
    entry["integratedTime"] += 3600  # the publisher's copy claims another time
    receipt = world.index.add_file(json.dumps(document).encode())
    world.index.links[(15, world.published[4].endorsement)] = [receipt]
    code, summary = crawl(audit, world)
    assert code == 1, summary
    [finding] = summary["findings"]
    assert finding["rule"] == "ENTRY_INVALID"
    evidence = finding["evidence"]
    assert evidence["receipt"] == f"sha2-256:{receipt}"
    assert evidence["log_answer"] == "different"
    assert "integratedTime" in evidence["log_detail"]
    assert "set" in evidence["failed_checks"]
    assert "is not the entry the log returns for that UUID" in finding["detail"]
    # The log's own copy is stored and valid: releases still reconcile against it.
    records = json.loads(audit("entries", "--json").stdout)["entries"]
    mine = next(r for r in records if r["uuid"] == target.entry.uuid)
    assert all(c["ok"] is not False for c in mine["checks"])


def test_a_receipt_that_fails_verification_is_entry_invalid(audit: RunAudit, world: World,
                                                            db_url: str) -> None:
    target = world.endorsements[7]
    document = json.loads(entry_document(world.log, target.entry))
    proof = document[target.entry.uuid]["verification"]["inclusionProof"]
    first = bytearray(bytes.fromhex(proof["hashes"][0]))
    first[0] ^= 1
    proof["hashes"][0] = first.hex()
    receipt = world.index.add_file(json.dumps(document).encode())
    world.index.links[(15, world.published[7].endorsement)] = [receipt]
    code, summary = crawl(audit, world)
    assert code == 1
    [finding] = summary["findings"]
    assert finding["rule"] == "ENTRY_INVALID" and finding["component"] == "kernel"
    assert finding["evidence"]["failed_checks"] == ["inclusion_proof"]
    assert finding["evidence"]["log_answer"] == "same"
    assert "fails verification: inclusion_proof" in finding["detail"]


def test_a_receipt_cut_short_is_entry_invalid_naming_no_entry(audit: RunAudit, world: World,
                                                              db_url: str) -> None:
    target = world.published[4]
    document = entry_document(world.log, world.endorsements[4].entry)
    receipt = world.index.add_file(document[:len(document) // 2])  # truncated JSON
    world.index.links[(15, target.endorsement)] = [receipt]
    code, summary = crawl(audit, world)
    assert code == 1, summary
    [finding] = summary["findings"]
    assert finding["rule"] == "ENTRY_INVALID" and finding["evidence"]["uuid"] is None
    # The parser's reason, not "body" alone; and no "(entry None)".
    assert f"of endorsement sha2-256:{target.endorsement} fails verification: body (published " \
        f"Rekor entry sha2-256:{receipt}: not valid JSON (\"Expecting ',' delimiter: line 1 " \
        in finding["detail"]


def test_a_receipt_failing_checks_gives_each_reason_bounded(audit: RunAudit, world: World,
                                                           db_url: str) -> None:
    # A body of an unknown kind named by 5,000 hostile characters: the finding says why it
    # failed (it said "fails verification: ..., body" alone), quoting at most 300 of them.
    target = world.endorsements[4]
    document = json.loads(entry_document(world.log, target.entry))
    hostile = "\x1b[31m" + "k" * 5000
    body = {"kind": hostile, "apiVersion": "0.0.1", "spec": {}}
    document[target.entry.uuid]["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    receipt = world.index.add_file(json.dumps(document).encode())
    world.index.links[(15, world.published[4].endorsement)] = [receipt]
    code, summary = crawl(audit, world)
    assert code == 1, summary
    [finding] = summary["findings"]
    assert finding["rule"] == "ENTRY_INVALID"
    failed = finding["evidence"]["failed_checks"]
    assert "body" in failed and len(failed) >= 2, failed
    reasons = finding["detail"].split("fails verification: ", 1)[1]
    body_reason = reasons.split(", body (", 1)[1]
    assert body_reason.startswith("unsupported kind \x1b[31mkkk")  # raw here, escaped when shown
    assert len(body_reason.split(" characters))", 1)[0]) <= 300 + 10  # "… (556" of a 556
    for name in failed:
        assert f"{name} (" in reasons
    assert len(reasons) < 320 * len(failed) + 400  # 4 checks quoted, and the log's answer
    # Escaped for the terminal like every detail from a log.
    text = audit("findings").stdout
    assert "\x1b" not in text


def test_a_key_the_publisher_lists_but_nobody_pins(audit: RunAudit, world: World,
                                                   db_url: str) -> None:
    rotated = Endorser("kernel")
    keyset = world.index.keyset("kernel release", [world.endorsers[1], rotated])
    other = world.index.keyset("stage0 release", [world.endorsers[0]])
    world.extra += ["--index-keyset", f"kernel=sha2-256:{keyset}",
                    "--index-keyset", f"sha2-256:{other}"]
    code, summary = crawl(audit, world)
    assert code == 0, summary  # medium: a rotation the configuration has not caught up with
    [finding] = summary["findings"]
    assert finding["rule"] == "UNPINNED_PUBLISHER_KEY" and finding["severity"] == "medium"
    assert finding["component"] == "kernel"
    spki = rotated.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert finding["evidence"]["spki_sha256"] == sha256(spki)
    assert finding["evidence"]["keyset"] == f"sha2-256:{keyset}"
    assert finding["evidence"]["key"] == f"sha2-256:{sha256(rotated.public_pem)}"
    # From the config file too, and the scheduled job reports it.
    code, document = run(audit, "--config", str(world.config(
        keysets=[f"kernel=sha2-256:{keyset}"])), "--fail-on", "critical")
    assert code == 0
    assert [f["component"] for f in of_rule(document, "UNPINNED_PUBLISHER_KEY")] == ["kernel"]


def test_a_key_file_naming_a_pinned_key_and_another_hides_neither(
        audit: RunAudit, world: World, db_url: str) -> None:
    # A keyset's key file holding the pinned kernel key's PEM and then an unpinned one: read
    # as its first key, the second went unreported and the file became the kernel key's name
    # (the kernel's real list was never fetched: its 3 endorsements were called unpublished).
    keyset = world.index.keyset("kernel release", [world.endorsers[1], Endorser("kernel")],
                                joined=True)
    world.extra += ["--index-keyset", f"kernel=sha2-256:{keyset}"]
    code, summary = crawl(audit, world)
    assert code == 0, summary
    [finding] = summary["findings"]
    assert finding["rule"] == "UNPINNED_PUBLISHER_KEY" and finding["component"] == "kernel"
    assert finding["evidence"]["spki_sha256"] is None
    assert "holds 2 PEM blocks, where one key or certificate is read" in finding["detail"]
    assert index_part(summary, world)["verified"] == 9


def test_a_keyset_key_file_in_another_form_names_no_list(audit: RunAudit, world: World,
                                                        db_url: str) -> None:
    # The keyset holds the kernel key as DER, the lists are under the PEM files: the DER file
    # became the kernel key's name and DER every key's form, so no list was found and all 9
    # logged endorsements were UNPUBLISHED_LOG_ENTRY (high), in a run called complete.
    kernel = world.endorsers[1].private_key.public_key()
    der = world.index.add_file(kernel.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    keyset = world.index.add_file(b"keyset kernel release\n")
    world.index.link(22, keyset, der)
    world.extra += ["--index-keyset", f"kernel=sha2-256:{keyset}"]
    code, summary = crawl(audit, world)
    assert code == 0 and summary["findings"] == [], rules(summary)
    assert index_part(summary, world)["verified"] == 9
    world.store.requests.reset()
    code, summary = crawl(audit, world)
    assert code == 0 and summary["findings"] == []
    assert world.store.requests.snapshot() == {"links/21": 3, "links/22": 1}


def test_a_configured_keyset_the_index_lacks_leaves_the_run_incomplete(
        audit: RunAudit, world: World, db_url: str) -> None:
    # A keyset the operator names but the index does not have (its link 22 is a 404): the
    # keys it lists cannot be compared with the pinned ones, so the run cannot be clean.
    keyset = world.index.keyset("kernel release", [world.endorsers[1]])
    world.extra += ["--index-keyset", f"kernel=sha2-256:{keyset}"]
    assert crawl(audit, world)[0] == 0
    del world.index.links[(22, keyset)]
    code, summary = crawl(audit, world)
    assert code == 3 and summary["complete"] is False, summary
    assert f"keyset sha2-256:{keyset}" in summary["incomplete_reason"]
    assert "link 22" in summary["incomplete_reason"]


# -- the store's faults --------------------------------------------------------------------------


def test_altered_bytes_are_critical_and_never_used(audit: RunAudit, world: World,
                                                   db_url: str) -> None:
    victim = world.published[3]
    world.store.faults.alter(victim.signature)
    code, summary = crawl(audit, world)
    assert code == 1, summary
    [finding] = summary["findings"]
    assert finding["rule"] == "PUBLISHED_FILE_ALTERED" and finding["severity"] == "critical"
    assert finding["evidence"]["file"] == f"sha2-256:{victim.signature}"
    assert finding["evidence"]["served"] != finding["evidence"]["file"]
    assert f"link 14 of sha2-256:{victim.endorsement}" in finding["evidence"]["named_by"]
    row = packages(db_url)[victim.endorsement]
    assert row.pending and row.checks is None  # not verified with bytes that are not its own
    # The store serves the right bytes again: the package verifies, the finding stays.
    world.store.faults.clear()
    code, summary = crawl(audit, world)
    assert rules(summary) == ["PUBLISHED_FILE_ALTERED"] and code == 1
    assert not packages(db_url)[victim.endorsement].pending


def test_a_link_to_a_missing_file_is_an_incomplete_package(audit: RunAudit, world: World,
                                                           db_url: str) -> None:
    victim = world.published[5]
    assert victim.receipt is not None
    world.store.faults.hide(victim.receipt)
    code, summary = crawl(audit, world)
    assert code == 0 and summary["complete"] is True  # a 404 is an answer, not an outage
    [finding] = summary["findings"]
    assert finding["rule"] == "PUBLISHED_FILE_MISSING" and finding["severity"] == "medium"
    assert finding["evidence"]["package"] == f"sha2-256:{victim.endorsement}"
    assert f"sha2-256:{victim.receipt}" in finding["evidence"]["missing"]
    # Tried again on every run: once served, the package verifies and the finding goes.
    world.store.faults.clear()
    code, summary = crawl(audit, world)
    assert code == 0 and summary["findings"] == []
    assert packages(db_url)[victim.endorsement].log_answer == "same"


def test_a_package_whose_key_link_names_another_key_is_incomplete(
        audit: RunAudit, world: World, db_url: str) -> None:
    # A stage0 package listed under stage0's key whose signature's key link (16) names the
    # kernel's key file, or a file that is no key: whoever verifies from the store is sent to
    # the wrong key, so the package is not counted as verified from the publisher's store.
    stage0, other_stage0 = world.published[3], world.published[6]
    kernel_key = world.published[1].key
    junk = world.index.add_file(b"<html>not a key</html>\n")
    world.store.faults.relink(16, stage0.signature, [kernel_key])
    world.store.faults.relink(16, other_stage0.signature, [junk])
    code, summary = crawl(audit, world)
    assert code == 0 and summary["complete"] is True, summary  # medium, as a missing piece
    found = {f["evidence"]["package"]: f for f in of_rule(summary, "PUBLISHED_FILE_MISSING")}
    assert rules(summary) == ["PUBLISHED_FILE_MISSING"] * 2
    named = found[f"sha2-256:{stage0.endorsement}"]
    assert named["component"] == "stage0"
    assert f"link 16 of sha2-256:{stage0.signature} names key file sha2-256:{kernel_key}" \
        in named["detail"]
    assert "is not a public key" in found[f"sha2-256:{other_stage0.endorsement}"]["detail"]
    stored = packages(db_url)
    assert stored[stage0.endorsement].pending and stored[other_stage0.endorsement].pending
    assert index_part(summary, world)["verified"] == 7


def test_a_list_naming_another_keys_endorsement_is_found(audit: RunAudit, world: World,
                                                        db_url: str) -> None:
    # The kernel key's list (21) also names a stage0 endorsement, which stage0's list names
    # and which verifies under stage0's key: the publisher says the kernel key signed it.
    # Before, the package was recorded under stage0's list, read first, and the kernel's
    # claim went unnoticed (read the other way round, it was PUBLISHED_FILE_MISSING).
    stage0, kernel_key = world.published[0], world.published[1].key
    world.index.link(ENDORSEMENTS_FOR_KEY, kernel_key, stage0.endorsement)
    code, summary = crawl(audit, world)
    assert code == 0 and summary["complete"] is True, summary  # medium, as a wrong key link
    [finding] = summary["findings"]
    assert finding["rule"] == "PUBLISHED_FILE_MISSING" and finding["component"] == "kernel"
    evidence = finding["evidence"]
    assert (evidence["package"], evidence["key"], evidence["signed_under"]) == (
        f"sha2-256:{stage0.endorsement}", f"sha2-256:{kernel_key}", f"sha2-256:{stage0.key}")
    assert evidence["signer_key_sha256"] == sha256(world.endorsers[0].private_key.public_key()
                                                   .public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat
                                                   .SubjectPublicKeyInfo))
    assert "the list names another key's endorsement" in finding["detail"]
    assert index_part(summary, world)["verified"] == 9


def test_a_list_naming_an_endorsement_twice_counts_it_once(audit: RunAudit, world: World,
                                                          db_url: str) -> None:
    key = world.published[0].key
    listed = [p.endorsement for p in world.published if p.key == key]
    world.store.faults.relink(ENDORSEMENTS_FOR_KEY, key, listed + listed)
    code, summary = crawl(audit, world)
    assert code == 0 and summary["findings"] == [], summary
    index = index_part(summary, world)
    assert index["discovered"] == index["new"] == index["verified"] == 9  # it said 12


def test_an_incomplete_package_reads_its_links_again(audit: RunAudit, world: World,
                                                     db_url: str) -> None:
    # Links a package was found incomplete by are read afresh when it is tried again: once the
    # index is mended, the package verifies and the finding goes.
    two, wrong_key = world.published[2], world.published[3]
    world.store.faults.relink(14, two.endorsement, [two.signature, wrong_key.signature])
    world.store.faults.relink(16, wrong_key.signature, [world.published[1].key])
    code, summary = crawl(audit, world)
    assert rules(summary) == ["PUBLISHED_FILE_MISSING"] * 2
    world.store.faults.clear()
    code, summary = crawl(audit, world)
    assert code == 0 and summary["findings"] == [], summary
    stored = packages(db_url)
    assert not stored[two.endorsement].pending and not stored[wrong_key.endorsement].pending
    assert index_part(summary, world)["verified"] == 2


def test_a_listed_hash_the_store_does_not_serve_costs_one_request(
        audit: RunAudit, world: World, db_url: str) -> None:
    # A list padded with hashes of nothing: each is tried again on every run, so each costs
    # one request for its statement, not one for every link of a package it does not have.
    key = world.published[0].key
    padding = [f"{n:064x}" for n in range(40)]
    world.index.links[(ENDORSEMENTS_FOR_KEY, key)] += padding
    assert crawl(audit, world)[0] == 0
    world.store.requests.reset()
    code, summary = crawl(audit, world)
    assert code == 0 and summary["complete"] is True
    assert len(of_rule(summary, "PUBLISHED_FILE_MISSING")) == len(padding)
    assert world.store.requests.snapshot() == {"links/21": 3, "files": len(padding)}
    missing = packages(db_url)[padding[0]].missing or ""
    assert missing.startswith("the store does not serve its statement") and "link 14" not in missing


def test_a_long_list_keeps_no_lock_per_file_fetched(audit: RunAudit, world: World,
                                                     db_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # A list of 100,000 hashes fetches 100,000 files: what makes packages fetched side by side
    # share a file is kept while the file is fetched, not for the rest of the crawl.
    crawls: list[IndexCrawl] = []
    run_crawl = IndexCrawl.run

    def recorded(self: IndexCrawl) -> Any:
        crawls.append(self)
        return run_crawl(self)

    monkeypatch.setattr(IndexCrawl, "run", recorded)
    world.index.links[(ENDORSEMENTS_FOR_KEY, world.published[0].key)] += [
        f"{n:064x}" for n in range(200)]
    code, summary = crawl(audit, world)
    assert code == 0 and index_part(summary, world)["verified"] == 9
    [index_crawl] = crawls
    assert len(index_crawl._file_locks) == 0


def test_server_errors_make_the_run_incomplete_never_clean(audit: RunAudit, world: World,
                                                           db_url: str) -> None:
    config = str(world.config())
    world.store.faults.server_errors(100)
    # Only critical findings would beat an incomplete run (every entry is an unexpected
    # endorsement here: no release is configured).
    code, summary = run(audit, "--config", config, "--fail-on", "critical")
    assert code == 3 and summary["complete"] is False
    reason = summary["crawl"]["incomplete_reason"]
    assert "publisher index" in reason and "HTTP 503" in reason
    world.store.faults.clear()
    world.store.faults.server_errors(1)  # one failure is retried
    code, summary = run(audit, "--config", config, "--fail-on", "critical")
    assert code == 0 and summary["complete"] is True
    assert set(rules(summary)) == {"UNEXPECTED_ENDORSEMENT"}


def test_a_malformed_link_makes_the_run_incomplete(audit: RunAudit, world: World,
                                                   db_url: str) -> None:
    world.index.links[(ENDORSEMENTS_FOR_KEY, world.published[0].key)].append("not a hash")
    code, summary = crawl(audit, world)
    assert code == 3 and summary["complete"] is False
    assert f"21/sha2-256:{world.published[0].key}" in summary["incomplete_reason"]
    assert "is not a typed hash" in summary["incomplete_reason"]


# -- naming keys as the publisher does -------------------------------------------------------


def test_key_names_are_learned_from_a_known_endorsement(audit: RunAudit, world: World,
                                                        db_url: str) -> None:
    # A publisher that stores keys with CRLF line ends: no encoding of ours gives its key
    # file's hash, following an endorsement's signature (14) to its key (16) does.
    index = PublisherIndex()
    world.index.files, world.index.links = index.files, index.links
    for endorsement in world.endorsements:
        crlf = endorsement.endorser.public_pem.replace(b"\n", b"\r\n")
        world.index.publish(endorsement, log=world.log, key_file=crlf)
    code, summary = crawl(audit, world)
    assert code == 0 and summary["findings"] == [], summary
    assert index_part(summary, world)["verified"] == 9
    with open_database(db_url)() as session:
        learned = {k.learned for k in session.scalars(select(models.PublisherKey))}
    assert learned == {"signature"}


def test_a_der_key_file_is_found_without_a_known_endorsement(audit: RunAudit, world: World,
                                                             db_url: str) -> None:
    # Nothing signed by this key is in the log: its name is found by looking for our
    # encodings of it in the store (here DER), and its package is listed.
    newcomer = Endorser("system_image")
    der = newcomer.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    world.index.links.clear()
    world.index.files.clear()
    unlogged = world.unlogged(newcomer, b"system image")
    world.index.publish(unlogged, key_file=der)
    world.endorsers[:] = [newcomer]
    code, summary = crawl(audit, world)
    assert code == 0 and summary["complete"] is True, summary
    assert rules(summary) == ["ENDORSED_NOT_LOGGED"]
    with open_database(db_url)() as session:
        [key] = session.scalars(select(models.PublisherKey))
        assert (key.learned, key.form, key.key_file_sha256) == ("file", "der", sha256(der))


def test_a_key_nobody_can_name_leaves_the_run_incomplete(audit: RunAudit, world: World,
                                                         db_url: str) -> None:
    world.index.links.clear()
    world.index.files.clear()
    code, summary = crawl(audit, world)
    assert code == 3 and summary["complete"] is False
    assert "names none of 3 pinned keys" in summary["incomplete_reason"]


# -- configuration -------------------------------------------------------------------------------


def test_the_index_needs_both_urls(audit: RunAudit, world: World, db_url: str) -> None:
    result = audit("crawl", "--rekor-url", world.server.url, "--rekor-key", str(world.log_key),
                   "--key", f"stage0={world.key_file(world.endorsers[0])}",
                   "--index-files", world.store.files_url)
    assert result.exit_code == 2
    assert "needs both its files URL and its links URL" in result.stderr
    result = audit("crawl", "--rekor-url", world.server.url, "--rekor-key", str(world.log_key),
                   "--key", f"stage0={world.key_file(world.endorsers[0])}",
                   "--index-keyset", f"sha2-256:{world.published[0].key}")
    assert result.exit_code == 2 and "give its files and links URLs too" in result.stderr
    config = world.config(keysets=["sha256:abc"])
    result = audit("run", "--config", str(config))
    assert result.exit_code == 2
    assert "index.keysets[0]" in result.stderr and "sha2-256:<hex>" in result.stderr

    # Names are appended to the URLs: anything but an http(s) base is a usage error, before
    # any request (not an incomplete run that blames the index).
    for files in ("ftp://host/files", "not a url", "http://a b/files",
                  f"{world.store.files_url}?token=1", f"{world.store.files_url}#x"):
        flags = world.flags()
        flags[flags.index("--index-files") + 1] = files
        result = audit("crawl", *flags)
        assert result.exit_code == 2, (files, result.stderr)
        assert "--index-files" in result.stderr and "files URL" in result.stderr
        assert "Traceback" not in result.stderr
    config = world.config(links=f"{world.store.links_url}?x=1")
    result = audit("run", "--config", str(config))
    assert result.exit_code == 2 and "[index]" in result.stderr
    assert "must not have a query or fragment" in result.stderr


def test_receipt_checks_use_the_package_signature(audit: RunAudit, world: World,
                                                  db_url: str) -> None:
    # The detached signature file (link 14) is checked, not only the one in the Rekor body.
    victim = world.published[6]
    other = world.endorsements[0].signature
    world.index.links[(14, victim.endorsement)] = [world.index.add_file(other)]
    code, summary = crawl(audit, world)
    assert code == 1
    [finding] = summary["findings"]
    assert finding["rule"] == "ENTRY_INVALID"
    assert finding["evidence"]["failed_checks"] == ["endorsement_signature"]


# -- a bucket far away ---------------------------------------------------------------------------


def test_packages_far_away_are_fetched_side_by_side_each_file_once(
        audit: RunAudit, world: World, db_url: str) -> None:
    """A bucket 0.1 s away: a package's requests go one after the other (a link names the next
    file), so packages are fetched side by side, up to PACKAGES_AHEAD at once; a key file the
    packages share is still fetched once."""
    statements = world.directory / "statements"  # the log's crawl reads none from the bucket
    statements.mkdir()
    for endorsement in world.endorsements:
        (statements / f"sha2-256:{endorsement.statement_sha256}").write_bytes(
            endorsement.statement)
    world.store.faults.delay = 0.1
    code, summary = crawl(audit, world, "--statements", str(statements))
    assert code == 0, summary
    assert index_part(summary, world)["verified"] == 9
    requests = world.store.requests
    assert 2 <= requests.peak("files") <= PACKAGES_AHEAD
    pieces = {h for p in world.published for h in (p.endorsement, p.signature, p.key, p.receipt)}
    print(requests.snapshot(), len(pieces))
    assert requests.files() == len(pieces)


def test_sigterm_does_not_wait_out_the_retries_of_packages_fetched_ahead(
        world: World, db_url: str, tmp_path: Path) -> None:
    """The bucket's files keep failing while packages fetched ahead back off for seconds: a
    SIGTERM ends the run at once, not when their retries would have."""
    config = tmp_path / "slow-retries.toml"
    config.write_text("[log]\nbackoff_base = 5\n")
    world.store.faults.server_errors(100_000, kind="files")
    stopped = crawl_stopped(["--config", str(config), *world.flags()], db_url,
                            lambda: world.store.requests.files() >= 3)
    assert stopped.code == 143 and stopped.seconds < 5, stopped
    assert stopped.stderr.strip() == \
        "interrupted (SIGTERM): stopped; everything verified so far is kept"
