"""Which tiled logs are followed: the config file, flags and environment, Sigstore's Rekor v2
shards; `audit run` beside Rekor v1; retired shards; the stored entry document."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from auditor.crawl.interface import CrawlJob
from auditor.crawl.tiled import TiledLogSource, TiledLogSpec, log_key_of
from auditor.errors import ConfigError, InputError
from auditor.http_client import HttpClient, RetryPolicy
from auditor.keyset import KeySet
from auditor.settings import Flags, load_config_file, resolve
from auditor.source.entry import InclusionProof
from auditor.source.statements import DirectoryStore
from auditor.source.tiles import TileClient
from auditor.source.tiles.document import entry_document, parse_entry_document
from auditor.source.tiles.scanner import MatchedEntry
from auditor.sources import log_sources
from auditor.store.database import open_database
from auditor.verify.keys import load_public_key
from auditor.verify.note_keys import NoteKey, SignatureType, parse_vkey
from auditor.verify.trust import TrustRefreshes, c2sp_key_id, load_keyring
from testlog import Endorser, RekorLog, RunningServer, RunningTileServer
from testlog.synthetic import add_endorsements
from tests.cli_runner import RunAudit
from tests.crawl.tiled_world import TiledWorld, vkey


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "auditor.toml"
    path.write_text(text)
    return path


# --- settings --------------------------------------------------------------------------------


def test_tiled_logs_and_rekor_v2_from_the_config_file(tmp_path: Path) -> None:
    settings = load_config_file(write(tmp_path, """
[log]
follow = false

[[tiled_logs]]
url = "https://tessera.example/log"
verifier = "tessera.example/log+01234567+AQ=="
policy = "policy.txt"
requests_per_second = 20
cache = "tiles"
scan_range = 512

[rekor_v2]
instance = "staging"
"""), default_keys=False)
    (log,) = settings.tiled_logs
    assert (log.url, log.requests_per_second, log.scan_range) == (
        "https://tessera.example/log", 20, 512)
    assert log.policy == tmp_path / "policy.txt" and log.cache == tmp_path / "tiles"
    assert settings.rekor_v2 is not None and settings.rekor_v2.instance == "staging"
    assert settings.rekor_v2.requests_per_second == 100  # the tiled default
    assert settings.rekor_v1 is False


@pytest.mark.parametrize(("text", "message"), [
    ('[[tiled_logs]]\nurl = "https://x.example"\n', "needs a url and a verifier"),
    ('[[tiled_logs]]\nurll = "x"\n', "did you mean 'url'"),
    ('[rekor_v2]\ninstance = "prod"\n', "choose production or staging"),
    ('[rekor_v2]\ntuf_url = "https://tuf.example"\n', r"tuf_url needs tuf_root"),
    ('[rekor_v2]\ntuf_root = "root.json"\n', r"tuf_root goes with tuf_url"),
    ('[rekor_v2]\ntuf_url = "tuf.example"\ntuf_root = "r.json"\n', r"tuf_url must be an http"),
    ('[rekor_v2]\nrefresh = 1\n', "true or false"),
    ('[log]\ntuf_url = "https://tuf.example"\n', r"log\.tuf_url needs tuf_root"),
    ('[log]\ntuf_url = "https://tuf.example"\ntuf_root = "r.json"\nrekor_keys = ["k.pem"]\n',
     "goes with neither rekor_keys nor a trusted_root file"),
    ('[log]\nrefresh = "yes"\n', "true or false"),
    ('[[tiled_logs]]\nurl = "https://x.example"\nverifier = "v"\nrequests_per_second = 0\n',
     "positive"),
    # Checked when read, as every URL is (it was a crawl that could never finish, exit 3).
    ('[[tiled_logs]]\nurl = "ftp://x.example"\nverifier = "v"\n',
     r"tiled_logs\[0\]\.url must be an http\(s\) URL with a host: 'ftp://x.example'"),
    ('[[tiled_logs]]\nurl = "not a url"\nverifier = "v"\n', "must be an http"),
    ('[[tiled_logs]]\nurl = "http://127.0.0.1:1/?q=1#x"\nverifier = "v"\n',
     "must not have a query or fragment"),
    ('[log]\nfollow = "no"\n', "true or false"),
])
def test_config_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config_file(write(tmp_path, text), default_keys=False)


def test_the_tiled_log_flag_and_environment_replace_the_configured_logs(tmp_path: Path) -> None:
    path = write(tmp_path, '[[tiled_logs]]\nurl = "https://a.example"\nverifier = "v"\n'
                 '[rekor_v2]\ninstance = "production"\n')
    environ = {"AUDITOR_TILED_LOG": "https://b.example/api/v2", "AUDITOR_LOG_VERIFIER": "w",
               "AUDITOR_RATE": "7"}
    settings = resolve(Flags(config=path), environ, default_keys=False)
    assert [(t.url, t.verifier, t.requests_per_second) for t in settings.tiled_logs] == [
        ("https://b.example/api/v2", "w", 7.0)]
    assert settings.rekor_v1 is False and settings.rekor_v2 is None
    assert settings.overrides["tiled log"] == "environment AUDITOR_TILED_LOG"
    assert settings.overrides["tiled log key"] == "environment AUDITOR_LOG_VERIFIER"
    flagged = resolve(Flags(config=path, tiled_log="https://c.example", log_verifier="x"),
                      environ, default_keys=False)
    assert [t.url for t in flagged.tiled_logs] == ["https://c.example"]
    with pytest.raises(ConfigError, match="go with --tiled-log"):
        resolve(Flags(log_verifier="x"), {}, default_keys=False)
    with pytest.raises(ConfigError, match="needs --log-verifier"):
        resolve(Flags(tiled_log="https://c.example"), {}, default_keys=False)
    with pytest.raises(ConfigError, match="flag --tiled-log must be an http"):
        resolve(Flags(tiled_log="ftp://x", log_verifier="x"), {}, default_keys=False)
    with pytest.raises(ConfigError, match="environment AUDITOR_TILED_LOG must not have a query"):
        resolve(Flags(), {"AUDITOR_TILED_LOG": "https://b.example/?q", "AUDITOR_LOG_VERIFIER": "w"},
                default_keys=False)


def test_rekor_v2_shards_come_from_sigstore_offline(tmp_path: Path) -> None:
    # `refresh = false`: the copy the `sigstore` package embeds (TUF refresh: test_rekor_v2_tuf).
    settings = load_config_file(write(tmp_path, '[log]\nfollow = false\n'
                                      '[rekor_v2]\ninstance = "staging"\nrefresh = false\n'),
                                default_keys=False)
    sources = log_sources(settings, load_keyring([], None), TrustRefreshes())
    try:
        assert all(isinstance(s, TiledLogSource) for s in sources)
        specs = [s.spec for s in sources if isinstance(s, TiledLogSource)]
        assert [s.url for s in specs] == [
            f"https://log2025-alpha{n}.rekor.sigstage.dev/api/v2" for n in (1, 2, 3)]
        # The first two shards' keys stopped vouching in 2025: they are retired.
        assert [s.retired for s in specs] == [True, True, False]
        for spec in specs:
            assert spec.log_key.log_id == c2sp_key_id(spec.origin, spec.ed25519_key)
    finally:
        for source in sources:
            source.close()


def test_a_tiled_log_key_must_be_a_named_ed25519_key() -> None:
    raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(ConfigError, match="Ed25519"):
        log_key_of(NoteKey("w.example", SignatureType.COSIGNATURE_V1, raw))
    key = log_key_of(NoteKey("log.example", SignatureType.ED25519, raw))
    with pytest.raises(ConfigError, match="multiple of 256"):
        TiledLogSpec("https://log.example", key, scan_range=1000)


# --- audit run ---------------------------------------------------------------------------


def test_audit_run_crawls_configured_tiled_logs_beside_rekor_v1(
        audit: RunAudit, rekor_log: RekorLog, rekor_server: RunningServer,
        tiled_server: RunningTileServer, endorsers: list[Endorser], tmp_path: Path,
        db_url: str) -> None:
    world = TiledWorld(tiled_server, endorsers, tmp_path)
    world.grow(600)
    for endorsement in add_endorsements(rekor_log, endorsers, 6):
        world.save(endorsement.statement)
    (tmp_path / "rekor.pem").write_bytes(rekor_log.signer.public_pem)
    components = "".join(f'[components.{e.name}]\nkeys = ["""{e.public_pem.decode()}"""]\n'
                         for e in endorsers)
    path = write(tmp_path, f"""{components}
[statements]
source = "{world.statements}"

[log]
url = "{rekor_server.url}"
rekor_keys = ["rekor.pem"]
requests_per_second = 1000

[[tiled_logs]]
url = "{tiled_server.url}"
verifier = "{vkey(world.log)}"
""")
    result = audit("run", "--config", str(path), "--json")
    summary = json.loads(result.stdout)
    crawl = summary["crawl"]
    assert crawl["complete"] is True, crawl
    assert [s["source"] for s in crawl["sources"]] == [f"{rekor_server.url}/api/v1",
                                                      tiled_server.url]
    assert [s["new"] for s in crawl["sources"]] == [6, len(world.expected())]
    # The whole store is judged: every endorsement, from either log, matches no release.
    unexpected = [f for f in summary["findings"] if f["rule"] == "UNEXPECTED_ENDORSEMENT"]
    tiled = {f["evidence"]["uuid"] for f in unexpected} & {leaf for _, leaf in world.expected()}
    assert len(unexpected) == 6 + len(world.expected()) and len(tiled) == len(world.expected())
    assert result.exit_code == 1


# --- retired shards ------------------------------------------------------------------------


def test_a_retired_shard_is_scanned_to_its_final_size_once(
        tiled_server: RunningTileServer, endorsers: list[Endorser], tmp_path: Path,
        db_url: str) -> None:
    world = TiledWorld(tiled_server, endorsers, tmp_path)
    world.grow(700)
    key = log_key_of(parse_vkey(vkey(world.log)))
    # Its key stopped vouching before any entry was first seen: entries are still judged
    # under it, the shard being frozen.
    now = datetime.now(UTC)
    retired = TiledLogSpec(tiled_server.url, replace(key, valid_from=now - timedelta(days=400),
                                                     valid_until=now - timedelta(days=30)),
                           retired=True)
    keyset = KeySet()
    for endorser in endorsers:
        keyset.add(endorser.name, load_public_key(endorser.public_pem), "test")
    job = CrawlJob(open_database(db_url), keyset, DirectoryStore(world.statements))
    for run in range(2):
        http = HttpClient("tiled log", requests_per_second=1000,
                          policy=RetryPolicy(backoff_base=0.01))
        source = TiledLogSource(retired, TileClient(tiled_server.url, http), http)
        try:
            summary = source.crawl(job)
        finally:
            source.close()
        assert summary.complete and summary.findings == [], summary.to_json()
        if run == 0:
            assert summary.verified == len(world.expected()) and summary.failed == 0
        else:  # done: not even its checkpoint is asked for
            assert summary.requests == 0 and summary.new == 0


# --- the stored document -------------------------------------------------------------------


def test_the_stored_document_gives_back_the_entry_and_hostile_ones_are_named() -> None:
    proof = InclusionProof(5, 9, b"\1" * 32, (b"\2" * 32, b"\3" * 32), "checkpoint text\n")
    match = MatchedEntry(5, b'{"kind":"hashedrekord"}', "hashedrekord", (b"\4" * 32,), proof)
    raw = entry_document(match, "log.example")
    entry = parse_entry_document(raw, b"\5" * 32, "entry x")
    assert (entry.body, entry.log_index, entry.proof, entry.rekor_version) == (
        match.entry, 5, proof, 2)
    assert entry.uuid is not None and len(entry.uuid) == 64 and entry.tree_id == 0
    mangles: list[Callable[[dict[str, Any]], object]] = [
        lambda d: d.pop("entry"), lambda d: d.update(log_index=-1),
        lambda d: d["inclusion_proof"].update(root_hash="00"),
        lambda d: d.update(entry="not base64!"),
        lambda d: d["inclusion_proof"].update(checkpoint=5)]
    for mangle in mangles:
        hostile = json.loads(raw)
        mangle(hostile)
        with pytest.raises(InputError, match="entry x: not a stored rekor-v2-tile document"):
            parse_entry_document(json.dumps(hostile).encode(), b"\5" * 32, "entry x")
    with pytest.raises(InputError):
        parse_entry_document(base64.b64encode(b"[]"), b"\5" * 32, "entry x")


@pytest.mark.parametrize("served", [b"\xff\xfe not text", b"not a checkpoint\n",
                                    b"other.example/log\n1\nAAAA\n\n"])
def test_a_checkpoint_that_is_no_signed_note_of_the_log_is_checkpoint_invalid(
        tiled_server: RunningTileServer, endorsers: list[Endorser], tmp_path: Path,
        db_url: str, served: bytes) -> None:
    world = TiledWorld(tiled_server, endorsers, tmp_path)
    world.grow(10)

    class Hostile:
        """The log's own answers, but this checkpoint."""

        def __init__(self) -> None:
            self.http = HttpClient("tiled log", requests_per_second=1000)

        def get(self, url: str, *, max_bytes: int) -> bytes | None:
            return served if url.endswith("/checkpoint") else self.http.get(url,
                                                                             max_bytes=max_bytes)

    fetcher = Hostile()
    source = TiledLogSource(TiledLogSpec(tiled_server.url, log_key_of(parse_vkey(vkey(
        world.log)))), TileClient(tiled_server.url, fetcher), fetcher.http)
    keyset = KeySet()
    keyset.add("kernel", load_public_key(endorsers[1].public_pem), "test")
    try:
        summary = source.crawl(CrawlJob(open_database(db_url), keyset,
                                        DirectoryStore(world.statements)))
    finally:
        source.close()
    assert summary.complete is False and "not trusted" in (summary.incomplete_reason or "")
    (finding,) = summary.findings
    assert finding.rule == "CHECKPOINT_INVALID"
    assert finding.evidence["kind"] == "checkpoint_signature" and finding.evidence["problem"]
