"""The Rekor v1 HTTP client against the local Rekor (testlog) on 127.0.0.1, and hostile answers.

Expected values come from the log's own state (what it holds), from the real Oak entries of the
public log (tests/data/oak), or from the spec; never from the client's output. A fake ``sleep``
records every delay so that retries and rate limiting are asserted without waiting.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import io
import json
import math
import random
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict

from auditor.errors import AuditorError, ConfigError, IncompleteError, InputError
from auditor.http_client import (
    RETRY_AFTER_LONGEST,
    HttpClient,
    ResponseTooLarge,
    RetryPolicy,
    TokenBucket,
    retry_after_seconds,
)
from auditor.source import rekor_client
from auditor.source.rekor_client import (
    RETRIEVE_LIMIT,
    ConsistencyProofResponse,
    LogInfo,
    MalformedResponseError,
    RawEntry,
    RekorAPIError,
    RekorClient,
    RetrieveResult,
    same_entry_uuid,
)
from auditor.verify.checkpoint import parse_checkpoint
from auditor.verify.merkle import leaf_hash, verify_consistency, verify_inclusion
from testlog import Endorser, Endpoint, RekorLog, RunningServer, add_endorsements
from testlog.api import RekorApi
from testlog.faults import ContentFaults
from tests.fake_time import FakeTime

ORACLE_DATA = Path(__file__).parents[1] / "data" / "oak"
REAL_DIRS = [ORACLE_DATA / "single-entry-2024"] + [
    ORACLE_DATA / "oak-containers-milan-release" / "components" / c
    for c in ("stage0", "kernel", "kernel_cmd_line", "init_ram_fs", "system_image")
]
FAST = math.inf  # no client-side rate limit, for tests that are not about it


# -- helpers --------------------------------------------------------------------------------


def client_for(server_url: str, fake: FakeTime, **settings: Any) -> RekorClient:
    settings.setdefault("requests_per_second", FAST)
    return RekorClient(server_url, sleep=fake.sleep, clock=fake.clock, **settings)


@dataclass(frozen=True)
class RealEntry:
    """A genuine entry of rekor.sigstore.dev, from tests/data/oak."""

    uuid: str  # as the public log returned it
    body_text: str
    statement: bytes
    signature: bytes
    public_pem: bytes

    @property
    def leaf_hex(self) -> str:
        return self.uuid[-64:]


def real_entries() -> list[RealEntry]:
    out = []
    for directory in REAL_DIRS:
        ((uuid, obj),) = json.loads((directory / "logentry.json").read_bytes()).items()
        out.append(
            RealEntry(
                uuid=uuid,
                body_text=obj["body"],
                statement=(directory / "endorsement.json").read_bytes(),
                signature=(directory / "endorsement.json.sig").read_bytes(),
                public_pem=(directory / "endorser_public_key.pem").read_bytes(),
            )
        )
    return out


@dataclass
class Populated:
    log: RekorLog
    real: list[RealEntry]
    endorsers: list[Endorser]

    @property
    def size(self) -> int:
        return self.log.size


@pytest.fixture
def populated(rekor_log: RekorLog, endorsers: list[Endorser]) -> Populated:
    """Two shards: the six real Oak entries and 14 synthetic ones, then 9 more after rotation."""
    real = real_entries()
    for entry in real:
        rekor_log.add_rekord(entry.statement, entry.signature, entry.public_pem)
    add_endorsements(rekor_log, endorsers, 14, start_time=1_750_000_000)
    rekor_log.rotate()
    add_endorsements(rekor_log, endorsers, 9, start_time=1_750_100_000)
    return Populated(rekor_log, real, endorsers)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(populated: Populated, rekor_server: RunningServer, fake: FakeTime) -> RekorClient:
    return client_for(rekor_server.url, fake)


def spki(pem: bytes) -> bytes:
    return serialization.load_pem_public_key(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def assert_is_log_entry(raw: RawEntry, populated: Populated, index: int) -> None:
    """``raw`` is the log's entry ``index``, transported intact (proof included)."""
    expected = populated.log.entry(index)
    entry = raw.entry
    assert raw.uuid == entry.uuid == expected.uuid
    assert entry.body == expected.body
    assert entry.log_index == index
    assert entry.integrated_time == expected.integrated_time
    assert entry.log_id.hex() == populated.log.log_id
    assert entry.signed_entry_timestamp == expected.signed_entry_timestamp
    assert entry.proof is not None
    assert entry.proof.log_index == expected.shard_index
    verify_inclusion(
        entry.proof.log_index,
        entry.proof.tree_size,
        leaf_hash(entry.body),
        entry.proof.hashes,
        entry.proof.root_hash,
    )
    ((uuid, obj),) = json.loads(raw.raw).items()
    assert uuid == raw.uuid and obj["body"] == entry.body_text


# -- the calls, against the local log ------------------------------------------------------


def test_log_info_reports_every_shard(populated: Populated, client: RekorClient) -> None:
    info = client.log_info()
    first, active = populated.log.shards
    assert isinstance(info, LogInfo)
    assert (info.active.tree_id, info.active.tree_size) == (active.tree_id, 9)
    assert info.active.root_hash == active.tree.root(9)
    assert [(s.tree_id, s.tree_size, s.root_hash) for s in info.inactive] == [
        (first.tree_id, 20, first.tree.root(20))
    ]
    for head in (info.active, *info.inactive):
        checkpoint = parse_checkpoint(head.checkpoint)
        assert checkpoint.origin == f"rekor.sigstore.dev - {head.tree_id}"
        assert (checkpoint.size, checkpoint.root_hash) == (head.tree_size, head.root_hash)
    assert (client.requests, client.retries) == (1, 0)


def test_consistency_proofs_verify_in_each_shard(populated: Populated, client: RekorClient) -> None:
    first, active = populated.log.shards
    proof = client.consistency_proof(3, 9)
    assert isinstance(proof, ConsistencyProofResponse)
    assert proof.root_hash == active.tree.root(9)
    verify_consistency(3, 9, active.tree.root(3), active.tree.root(9), proof.hashes)
    frozen = client.consistency_proof(6, 20, tree_id=first.tree_id)
    verify_consistency(6, 20, first.tree.root(6), first.tree.root(20), frozen.hashes)
    same = client.consistency_proof(9, 9)
    assert same.hashes == () and same.root_hash == active.tree.root(9)


def test_entry_by_index_over_both_shards(populated: Populated, client: RekorClient) -> None:
    for index in range(populated.size):
        raw = client.entry_by_index(index)
        assert raw is not None
        assert_is_log_entry(raw, populated, index)
    assert client.requests == populated.size


def test_entry_by_index_past_the_end_is_none(
    populated: Populated, client: RekorClient, rekor_server: RunningServer
) -> None:
    assert client.entry_by_index(populated.size) is None
    assert client.entry_by_index(10**12) is None
    assert rekor_server.requests[Endpoint.ENTRY_BY_INDEX] == 2 and client.retries == 0


def test_single_entry_raw_is_the_exact_response(
    populated: Populated, client: RekorClient, rekor_server: RunningServer
) -> None:
    raw = client.entry_by_index(7)
    assert raw is not None
    # The checkpoint is signed afresh at each read: compare everything else byte for byte.
    again = requests.get(f"{rekor_server.url}/api/v1/log/entries?logIndex=7", timeout=10).content
    assert json.loads(raw.raw)[raw.uuid]["body"] == json.loads(again)[raw.uuid]["body"]
    assert raw.raw.endswith(b"}\n")  # the server's trailing newline is kept: exact bytes


def test_real_oak_entries_by_their_public_uuid(populated: Populated, client: RekorClient) -> None:
    """The local log holds the real Oak entries; the public log's UUIDs find them."""
    for index, real in enumerate(populated.real):
        by_leaf = client.entry_by_uuid(real.leaf_hex)
        assert by_leaf is not None
        assert by_leaf.entry.body_text == real.body_text  # the public log's body, verbatim
        assert by_leaf.uuid.endswith(real.leaf_hex) and len(by_leaf.uuid) == 80
        assert_is_log_entry(by_leaf, populated, index)
        by_full = client.entry_by_uuid(by_leaf.uuid.upper())
        assert by_full is not None and by_full.entry.body == by_leaf.entry.body


def test_entry_by_uuid_absent(populated: Populated, client: RekorClient) -> None:
    assert client.entry_by_uuid("ab" * 32) is None
    real = populated.real[0]
    wrong_tree = f"{12345:016x}{real.leaf_hex}"
    assert client.entry_by_uuid(wrong_tree) is None


@pytest.mark.parametrize("suffix", ["\n", " ", "\u0661"])
def test_a_uuid_with_anything_after_it_is_no_uuid(client: RekorClient, suffix: str) -> None:
    """`$` matched before a final newline: "<uuid>\\n" passed as a UUID."""
    with pytest.raises(InputError, match="not a 64- or 80-hex Rekor entry UUID"):
        client.entry_by_uuid("ab" * 32 + suffix)


def test_retrieve_splits_batches_and_matches_by_key(
    populated: Populated, client: RekorClient, rekor_server: RunningServer
) -> None:
    uuids = [r.leaf_hex for r in populated.real]  # 64-hex requests, 80-hex answers
    indexes = list(range(populated.size))
    result = client.retrieve(uuids=uuids, indexes=indexes)
    items = len(uuids) + len(indexes)
    assert items == 35
    # A request of more than 10 items would have been refused with 422 (a RekorAPIError).
    assert rekor_server.requests[Endpoint.RETRIEVE] == math.ceil(items / RETRIEVE_LIMIT) == 4
    assert isinstance(result, RetrieveResult)
    assert list(result.by_index) == indexes  # request order, not the log's
    for index, raw in result.by_index.items():
        assert_is_log_entry(raw, populated, index)
    assert list(result.by_uuid) == uuids
    for position, real in enumerate(populated.real):
        assert result.by_uuid[real.leaf_hex].entry.body_text == real.body_text
        # Different batches carry different checkpoints (signed at each read): same entry.
        assert result.by_uuid[real.leaf_hex].entry.body == result.by_index[position].entry.body
    assert result.missing_uuids == () and result.missing_indexes == ()


def test_retrieve_raw_is_the_element_compactly_serialised(
    populated: Populated, client: RekorClient
) -> None:
    raw = client.retrieve(indexes=[3]).by_index[3]
    ((uuid, obj),) = json.loads(raw.raw).items()
    assert raw.raw == json.dumps({uuid: obj}, separators=(",", ":")).encode()
    single = client.entry_by_index(3)
    assert single is not None
    obj_single = json.loads(single.raw)[uuid]
    for document in (obj, obj_single):
        del document["verification"]["inclusionProof"]["checkpoint"]  # signed at each read
    assert obj == obj_single


def test_retrieve_reports_missing_items(populated: Populated, client: RekorClient) -> None:
    real = populated.real[2]
    present = populated.log.entry(25).uuid
    absent_uuid = "cd" * 32
    wrong_tree = f"{1:016x}{real.leaf_hex}"
    result = client.retrieve(
        uuids=[absent_uuid, present, wrong_tree, real.leaf_hex],
        indexes=[populated.size, 0, populated.size + 50],
    )
    assert result.missing_uuids == (absent_uuid, wrong_tree)
    assert result.missing_indexes == (populated.size, populated.size + 50)
    assert result.by_uuid[present].entry.log_index == 25
    assert result.by_uuid[real.leaf_hex].entry.log_index == 2
    assert list(result.by_index) == [0]


def test_retrieve_same_entry_asked_in_both_uuid_forms(
    populated: Populated, client: RekorClient, rekor_server: RunningServer
) -> None:
    full = populated.log.entry(4).uuid
    result = client.retrieve(uuids=[full, full[16:], full.upper()], indexes=[4, 4])
    assert set(result.by_uuid) == {full, full[16:]}
    assert result.by_uuid[full] == result.by_uuid[full[16:]] == result.by_index[4]
    assert rekor_server.requests[Endpoint.RETRIEVE] == 1  # duplicates are asked once


def test_retrieve_nothing_makes_no_request(client: RekorClient) -> None:
    assert client.retrieve() == RetrieveResult({}, {}, (), ())
    assert client.requests == 0


@pytest.mark.parametrize("switch", ["shuffle_batches", "duplicate_batches"])
def test_retrieve_tolerates_reordered_and_duplicated_results(
    populated: Populated, client: RekorClient, rekor_server: RunningServer, switch: str
) -> None:
    setattr(rekor_server.faults, switch, True)
    for _ in range(3):
        leaf = populated.real[5].leaf_hex
        result = client.retrieve(indexes=range(populated.size), uuids=[leaf])
        assert sorted(result.by_index) == list(range(populated.size))
        for index, raw in result.by_index.items():
            assert_is_log_entry(raw, populated, index)
        assert result.by_uuid[leaf].entry.body == result.by_index[5].entry.body


def test_search_by_public_key(populated: Populated, client: RekorClient) -> None:
    for real in populated.real:
        found = client.search_public_key(real.public_pem)
        expected = {
            populated.log.entry(i).uuid
            for i, other in enumerate(populated.real)
            if spki(other.public_pem) == spki(real.public_pem)
        }
        assert set(found) == expected and len(found) == len(expected)
    kernel_signer = populated.endorsers[1]
    found = client.search_public_key(kernel_signer.public_pem)
    # add_endorsements goes round-robin: the second endorser signs entries 1, 4, 7, ...
    signed = [i for i in range(14) if i % 3 == 1] + [i for i in range(9) if i % 3 == 1]
    assert len(found) == len(signed) == 8
    assert client.search_public_key(Endorser("nobody").public_pem) == []


def test_search_by_hash(populated: Populated, client: RekorClient) -> None:
    for index, real in enumerate(populated.real):
        digest = hashlib.sha256(real.statement).hexdigest()
        assert client.search_hash(digest) == [populated.log.entry(index).uuid]
        assert client.search_hash(f"sha256:{digest.upper()}") == [populated.log.entry(index).uuid]
    assert client.search_hash("00" * 32) == []


def test_public_key(populated: Populated, client: RekorClient) -> None:
    assert client.public_key() == populated.log.signer.public_pem
    first = populated.log.shards[0]
    assert client.public_key(first.tree_id) == populated.log.signer.public_pem
    with pytest.raises(RekorAPIError) as refused:
        client.public_key(tree_id=42)
    assert refused.value.status == 400 and refused.value.exit_code == 3
    assert "no tree with treeID 42" in str(refused.value)
    assert client.retries == 0  # a 4xx is not retried


def test_bad_request_is_refused_with_the_logs_message(
    populated: Populated, client: RekorClient
) -> None:
    with pytest.raises(RekorAPIError) as refused:
        client.consistency_proof(1, populated.size + 100)
    assert refused.value.status == 400
    assert (
        refused.value.message is not None and "greater than the tree size" in refused.value.message
    )
    assert "/api/v1/log/proof?firstSize=1&lastSize=129" in str(refused.value)
    assert isinstance(refused.value, IncompleteError)


def test_a_404_where_absence_means_nothing_is_an_error(
    populated: Populated, rekor_server: RunningServer, fake: FakeTime
) -> None:
    client = client_for(rekor_server.url + "/not-rekor", fake)
    with pytest.raises(RekorAPIError) as refused:
        client.log_info()
    assert refused.value.status == 404 and client.requests == 1


def test_base_url_forms_are_equivalent(populated: Populated, rekor_server: RunningServer) -> None:
    fake = FakeTime()
    for base in (rekor_server.url, rekor_server.url + "/", rekor_server.url + "/api/v1/"):
        assert client_for(base, fake).log_info().active.tree_size == 9


def test_counters_are_thread_safe(
    populated: Populated, client: RekorClient, rekor_server: RunningServer
) -> None:
    def fetch(start: int) -> None:
        for i in range(start, populated.size, 4):
            assert client.entry_by_index(i) is not None

    threads = [threading.Thread(target=fetch, args=(s,)) for s in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.requests == rekor_server.requests.total == populated.size


# -- faults: retried and completed, or incomplete ------------------------------------------


def test_rate_limited_429_honours_retry_after(
    populated: Populated, client: RekorClient, rekor_server: RunningServer, fake: FakeTime
) -> None:
    rekor_server.faults.rate_limit(1, retry_after=7)
    assert client.log_info().active.tree_size == 9
    assert fake.sleeps == [7.0]
    assert (client.requests, client.retries) == (2, 1)
    assert rekor_server.requests[Endpoint.LOG_INFO] == 2


@pytest.mark.parametrize("retry_after", [3600, 10**12, 10**400],
                         ids=["an hour", "13 digits", "401 digits"])
def test_retry_after_is_capped(
    populated: Populated, rekor_server: RunningServer, fake: FakeTime, retry_after: int
) -> None:
    # 12 digits or more was read as no Retry-After: retried after a backoff of a second or two.
    client = client_for(rekor_server.url, fake, retry_after_max=120)
    rekor_server.faults.rate_limit(2, retry_after=retry_after, endpoint=Endpoint.RETRIEVE)
    assert sorted(client.retrieve(indexes=[1, 2]).by_index) == [1, 2]
    assert fake.sleeps == [120.0, 120.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_burst_of_server_errors_is_retried_with_jittered_backoff(
    populated: Populated, rekor_server: RunningServer, fake: FakeTime, status: int
) -> None:
    client = client_for(rekor_server.url, fake, backoff_base=0.5, backoff_max=3)
    rekor_server.faults.server_errors(5, status=status, endpoint=Endpoint.ENTRY_BY_INDEX)
    raw = client.entry_by_index(11)
    assert raw is not None
    assert_is_log_entry(raw, populated, 11)
    assert rekor_server.requests[Endpoint.ENTRY_BY_INDEX] == 6
    assert (client.requests, client.retries) == (6, 5)
    ceilings = [0.5, 1.0, 2.0, 3.0, 3.0]  # base·2^k, capped at backoff_max
    assert len(fake.sleeps) == 5
    assert all(0 <= s <= c for s, c in zip(fake.sleeps, ceilings, strict=True))


def test_backoff_past_a_thousand_retries_stays_at_its_ceiling() -> None:
    """2.0**1024 overflows: a client allowed 1,024 retries or more ended in an internal error
    at its 1,025th attempt instead of waiting backoff_max."""
    client = HttpClient("Rekor", policy=RetryPolicy(max_retries=5000, backoff_max=2.0),
                        rng=random.Random(1))
    assert all(0 <= client._delay(attempt, None, "GET /", "HTTP 500") <= 2.0
               for attempt in (1023, 1024, 4999))


def test_backoff_jitter_is_full_jitter(populated: Populated, rekor_server: RunningServer) -> None:
    """Over many retries the delays spread over [0, ceiling], not bunched at the ceiling."""
    fake = FakeTime()
    client = client_for(
        rekor_server.url, fake, backoff_base=1, backoff_max=1, max_retries=40, rng=random.Random(3)
    )  # seeded: the assertion below fails for an unlucky draw with probability 2e-5
    rekor_server.faults.server_errors(40)
    client.log_info()
    assert len(fake.sleeps) == 40
    assert max(fake.sleeps) <= 1.0
    assert min(fake.sleeps) < 0.25 and max(fake.sleeps) > 0.75


def test_hung_response_hits_the_read_timeout_and_is_retried(
    populated: Populated, rekor_server: RunningServer, fake: FakeTime
) -> None:
    rekor_server.faults.hang_limit = 5
    rekor_server.faults.hang(1, endpoint=Endpoint.RETRIEVE)
    client = client_for(rekor_server.url, fake, read_timeout=0.3)
    result = client.retrieve(uuids=[populated.real[1].leaf_hex])
    assert result.by_uuid[populated.real[1].leaf_hex].entry.body_text == populated.real[1].body_text
    assert rekor_server.requests[Endpoint.RETRIEVE] == 2
    assert (client.requests, client.retries) == (2, 1)


def test_slow_answer_within_the_read_timeout_is_not_a_failure(
    populated: Populated, rekor_server: RunningServer, fake: FakeTime
) -> None:
    rekor_server.faults.delay = 0.2
    client = client_for(rekor_server.url, fake, read_timeout=5)
    assert client.log_info().active.tree_size == 9
    assert client.retries == 0


@pytest.mark.parametrize(
    ("call", "endpoint"),
    [
        (lambda c: c.log_info(), Endpoint.LOG_INFO),
        (lambda c: c.entry_by_index(3), Endpoint.ENTRY_BY_INDEX),
        (lambda c: c.retrieve(indexes=[1, 2, 3]), Endpoint.RETRIEVE),
        (lambda c: c.consistency_proof(2, 5), Endpoint.CONSISTENCY),
        (lambda c: c.search_hash("00" * 32), Endpoint.SEARCH_INDEX),
        (lambda c: c.public_key(), Endpoint.PUBLIC_KEY),  # a cut PEM, not JSON
    ],
)
def test_truncated_answers_are_retried(
    populated: Populated,
    client: RekorClient,
    rekor_server: RunningServer,
    call: Callable[[RekorClient], object],
    endpoint: Endpoint,
) -> None:
    rekor_server.faults.truncate(2, endpoint=endpoint)
    result = call(client)
    assert result is not None
    assert rekor_server.requests[endpoint] == 3 and client.retries == 2
    assert rekor_server.faults.pending() == 0


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_persistent_server_errors_end_incomplete_after_exactly_1_plus_max_retries(
    populated: Populated, rekor_server: RunningServer, fake: FakeTime, max_retries: int
) -> None:
    rekor_server.faults.server_errors(100, status=503)
    client = client_for(rekor_server.url, fake, max_retries=max_retries)
    with pytest.raises(IncompleteError) as gave_up:
        client.log_info()
    assert rekor_server.requests[Endpoint.LOG_INFO] == 1 + max_retries
    assert (client.requests, client.retries) == (1 + max_retries, max_retries)
    assert len(fake.sleeps) == max_retries
    message = gave_up.value.diagnostics()
    assert "\n" not in message
    assert f"GET {rekor_server.url}/api/v1/log" in message
    assert f"{1 + max_retries} attempt" in message and "HTTP 503" in message
    assert gave_up.value.exit_code == 3


def test_persistent_rate_limit_ends_incomplete(
    populated: Populated, rekor_server: RunningServer, fake: FakeTime
) -> None:
    rekor_server.faults.rate_limit(100, retry_after=2)
    client = client_for(rekor_server.url, fake, max_retries=4)
    with pytest.raises(IncompleteError, match=r"5 attempts; last: HTTP 429"):
        client.search_public_key(populated.real[0].public_pem)
    assert fake.sleeps == [2.0] * 4
    assert rekor_server.requests[Endpoint.SEARCH_INDEX] == 5


def test_persistent_truncation_ends_incomplete(
    populated: Populated, rekor_server: RunningServer, fake: FakeTime
) -> None:
    rekor_server.faults.truncate(100)
    client = client_for(rekor_server.url, fake, max_retries=2)
    with pytest.raises(IncompleteError, match=r"3 attempts; last: invalid JSON in a 200 answer"):
        client.retrieve(indexes=[0])
    assert rekor_server.requests[Endpoint.RETRIEVE] == 3


def test_persistent_hang_ends_incomplete(
    populated: Populated, rekor_server: RunningServer, fake: FakeTime
) -> None:
    rekor_server.faults.hang_limit = 5
    rekor_server.faults.hang(100)
    client = client_for(rekor_server.url, fake, max_retries=1, read_timeout=0.2)
    with pytest.raises(IncompleteError, match=r"2 attempts; last: timeout"):
        client.entry_by_uuid(populated.real[0].uuid)
    assert rekor_server.requests[Endpoint.ENTRY_BY_UUID] == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_connection_refused_ends_incomplete(fake: FakeTime) -> None:
    client = client_for(
        f"http://127.0.0.1:{_closed_port()}", fake, max_retries=2, connect_timeout=1
    )
    with pytest.raises(IncompleteError, match=r"3 attempts; last: connection error"):
        client.log_info()
    assert (client.requests, client.retries) == (3, 2)


def test_recovery_from_a_mix_of_faults(
    populated: Populated, client: RekorClient, rekor_server: RunningServer, fake: FakeTime
) -> None:
    faults = rekor_server.faults
    faults.hang_limit = 5
    faults.server_errors(2, status=502)
    faults.rate_limit(1, retry_after=4)
    faults.truncate(1)
    fast_timeout = client_for(rekor_server.url, fake, read_timeout=0.3)
    faults.hang(1)
    result = fast_timeout.retrieve(indexes=range(populated.size))
    assert sorted(result.by_index) == list(range(populated.size))
    assert fast_timeout.retries == 5 and 4.0 in fake.sleeps


# -- the client-side rate limit ------------------------------------------------------------


def test_rate_limit_spaces_requests(
    populated: Populated, rekor_server: RunningServer, fake: FakeTime
) -> None:
    client = client_for(rekor_server.url, fake, requests_per_second=2)
    sent_at = []
    for index in range(5):
        assert client.entry_by_index(index) is not None
        sent_at.append(fake.now)
    assert fake.sleeps == [0.5] * 4
    assert sent_at == [0.0, 0.5, 1.0, 1.5, 2.0]


def test_rate_limit_is_not_spent_by_idle_time(fake: FakeTime) -> None:
    bucket = TokenBucket(4, clock=fake.clock, sleep=fake.sleep)
    assert bucket.acquire() == 0
    fake.now += 10  # idle: the bucket refills, but holds at most one token (no burst)
    assert bucket.acquire() == 0
    assert bucket.acquire() == pytest.approx(0.25)


def test_rate_limit_shared_by_threads_reserves_distinct_slots() -> None:
    frozen = FakeTime()
    waits: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:  # records, never advances the frozen clock
        with lock:
            waits.append(seconds)

    bucket = TokenBucket(2, clock=frozen.clock, sleep=sleep)
    threads = [threading.Thread(target=bucket.acquire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == pytest.approx([0.5 * k for k in range(1, 8)])


def test_rate_limit_applies_to_retries_too(
    populated: Populated, rekor_server: RunningServer, fake: FakeTime
) -> None:
    rekor_server.faults.server_errors(1)
    client = client_for(rekor_server.url, fake, requests_per_second=1, backoff_base=0.01)
    client.log_info()
    backoff = fake.sleeps[0]
    assert backoff <= 0.01
    # The second request still waits for its token: one second after the first in total.
    assert fake.sleeps[1] == pytest.approx(1.0 - backoff)


# -- Retry-After and UUID rules ------------------------------------------------------------


def test_retry_after_forms() -> None:
    now = 1_750_000_000.0
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(" 120 ", now) == 120.0
    later = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_seconds(later, now) == 30.0
    earlier = email.utils.formatdate(now - 30, usegmt=True)
    assert retry_after_seconds(earlier, now) == 0.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now) == 0.0
    assert retry_after_seconds("9" * 11, now) == 99_999_999_999.0
    assert retry_after_seconds("1" + "0" * 11, now) == RETRY_AFTER_LONGEST  # longer than any wait
    assert retry_after_seconds("9" * 5000, now) == RETRY_AFTER_LONGEST
    for unusable in (None, "", "-5", "1.5", "soon", "Wed, 99 Foo 2015", "٣"):
        assert retry_after_seconds(unusable, now) is None


def test_same_entry_uuid() -> None:
    leaf = "ab" * 32
    assert same_entry_uuid(leaf, f"{7:016x}{leaf}")
    assert same_entry_uuid(f"{7:016x}{leaf}", leaf)
    assert same_entry_uuid(leaf, leaf)
    assert not same_entry_uuid(f"{7:016x}{leaf}", f"{8:016x}{leaf}")
    assert not same_entry_uuid(leaf, f"{7:016x}{'cd' * 32}")


# -- settings and arguments ----------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {"requests_per_second": 0},
        {"connect_timeout": 0},
        {"read_timeout": -1},
        {"read_timeout": math.inf},
        {"max_retries": -1},
        {"max_retries": True},
        {"backoff_base": math.nan},
        {"retry_after_max": "60"},
    ],
)
def test_unusable_settings_are_config_errors(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        RekorClient("https://rekor.example", **settings)


@pytest.mark.parametrize(
    "url", ["rekor.sigstore.dev", "ftp://rekor.example", "https://", "https://x/?a=1"]
)
def test_unusable_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        RekorClient(url)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.entry_by_uuid("ab" * 31),
        lambda c: c.entry_by_uuid("zz" * 32),
        lambda c: c.entry_by_index(-1),
        lambda c: c.entry_by_index(True),
        lambda c: c.retrieve(uuids=["nope"]),
        lambda c: c.retrieve(indexes=[1.0]),
        lambda c: c.consistency_proof(0, 5),
        lambda c: c.consistency_proof(6, 5),
        lambda c: c.consistency_proof(1, 5, tree_id=-1),
        lambda c: c.search_hash("abc"),
        lambda c: c.search_public_key(b"not a key"),
    ],
)
def test_bad_arguments_are_input_errors_without_a_request(
    call: Callable[[RekorClient], object],
) -> None:
    adapter = CannedAdapter(lambda request: (500, {}, b""))
    client = canned_client(adapter, FakeTime())
    with pytest.raises(InputError):
        call(client)
    assert adapter.sent == [] and client.requests == 0


# -- hostile answers, from a scripted server ----------------------------------------------

CANNED = "http://rekor.invalid"
Answer = tuple[int, Mapping[str, str], bytes]


class CannedAdapter(requests.adapters.BaseAdapter):
    """A transport that answers from a script: it stands in for a hostile *server*, offline."""

    def __init__(self, answer: Callable[[requests.PreparedRequest], Answer]) -> None:
        super().__init__()
        self.answer = answer
        self.sent: list[requests.PreparedRequest] = []
        self.timeouts: list[object] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, timeout: object = None,
        **kwargs: object,
    ) -> requests.Response:  # fmt: skip
        self.sent.append(request)
        self.timeouts.append(timeout)
        status, headers, body = self.answer(request)
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response.raw = io.BytesIO(body)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def canned_client(adapter: CannedAdapter, fake: FakeTime, **settings: Any) -> RekorClient:
    session = requests.Session()
    session.mount(CANNED, adapter)
    return client_for(CANNED, fake, session=session, **settings)


def always(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> CannedAdapter:
    return CannedAdapter(lambda request: (status, headers or {}, body))


def test_timeouts_are_always_set(fake: FakeTime) -> None:
    adapter = always(200, b"[]")
    client = canned_client(adapter, fake, connect_timeout=3, read_timeout=11)
    client.search_hash("00" * 32)
    client.retrieve(indexes=[1])
    assert adapter.timeouts == [(3.0, 11.0), (3.0, 11.0)]


def test_requests_are_spec_shaped(fake: FakeTime) -> None:
    adapter = always(200, b"[]")
    client = canned_client(adapter, fake)
    pem = Endorser("k").public_pem
    client.search_public_key(pem)
    client.retrieve(uuids=["AB" * 32], indexes=[9])
    search, retrieve = (json.loads(r.body or b"") for r in adapter.sent)
    assert search == {"publicKey": {"format": "x509", "content": base64.b64encode(pem).decode()}}
    assert retrieve == {"entryUUIDs": ["ab" * 32], "logIndexes": [9]}
    assert all(r.headers["Content-Type"] == "application/json" for r in adapter.sent)


def test_retry_after_http_date_is_honoured(fake: FakeTime) -> None:
    def answer(request: requests.PreparedRequest) -> Answer:
        if len(adapter.sent) == 1:  # the first request: busy until 90 s from now
            later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
            date = email.utils.format_datetime(later, usegmt=True)
            return 503, {"Retry-After": date}, b"<html>busy</html>"
        return 200, {}, b"[]"

    adapter = CannedAdapter(answer)
    assert canned_client(adapter, fake).search_hash("11" * 32) == []
    assert len(fake.sleeps) == 1 and 85 <= fake.sleeps[0] <= 90


def test_html_error_pages_are_never_parsed(fake: FakeTime) -> None:
    client = canned_client(always(403, b"<html><body>Forbidden</body></html>"), fake)
    with pytest.raises(RekorAPIError) as refused:
        client.log_info()
    assert refused.value.status == 403 and refused.value.message is None


def test_redirects_are_not_followed(fake: FakeTime) -> None:
    adapter = always(302, b"", {"Location": "http://evil.invalid/api/v1/log"})
    with pytest.raises(RekorAPIError, match="HTTP 302"):
        canned_client(adapter, fake).log_info()
    assert len(adapter.sent) == 1


def test_oversized_answer_is_refused(fake: FakeTime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rekor_client, "MAX_RESPONSE_BYTES", 1000)
    client = canned_client(always(200, b"[" + b'"x",' * 400 + b'"x"]'), fake)
    with pytest.raises(ResponseTooLarge, match="larger than 1000 bytes"):
        client.search_hash("00" * 32)


def test_error_message_from_the_log_is_one_printable_line(fake: FakeTime) -> None:
    body = json.dumps({"code": 418, "message": "line one\nline\x1b[31m two " + "x" * 500}).encode()
    with pytest.raises(RekorAPIError) as refused:
        canned_client(always(418, body), fake).log_info()
    message = str(refused.value)
    assert "\n" not in message and "\x1b" not in message and len(message) < 400
    assert refused.value.code == 418 and "line one line?[31m two" in message


def _documents() -> dict[str, Any]:
    """Valid answers of each call, built by the local log's API (no HTTP)."""
    log = RekorLog()
    endorsers = [Endorser("a"), Endorser("b")]
    add_endorsements(log, endorsers, 6, start_time=1_750_000_000)
    log.rotate()
    add_endorsements(log, endorsers, 5, start_time=1_750_100_000)
    api = RekorApi(log, ContentFaults())
    return {
        "log_info": api.log_info(),
        "proof": api.consistency_proof(2, 5, None),
        "entry_by_index": api.entry_by_index(3),
        "retrieve": api.retrieve({"logIndexes": [0, 3, 8]}),
        "search": api.search_index({"publicKey": {
            "format": "x509", "content": base64.b64encode(endorsers[0].public_pem).decode()}}),
    }  # fmt: skip


DOCUMENTS = _documents()
CALLS: dict[str, Callable[[RekorClient], object]] = {
    "log_info": lambda c: c.log_info(),
    "proof": lambda c: c.consistency_proof(2, 5),
    "entry_by_index": lambda c: c.entry_by_index(3),
    "retrieve": lambda c: c.retrieve(indexes=[0, 3, 8]),
    "search": lambda c: c.search_public_key(Endorser("a").public_pem),
}


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*path, i))
    return out


def _mutate(document: Any, path: tuple[Any, ...], replacement: Any, delete: bool) -> Any:
    if not path:
        return replacement
    copy = json.loads(json.dumps(document))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return copy


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=90)
    | st.sampled_from(["", "00" * 32, "zz", "-1", "9" * 30, "ab" * 40]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def _only_auditor_errors(client: RekorClient, call: Callable[[RekorClient], object]) -> None:
    try:
        call(client)
    except MalformedResponseError as error:
        assert CANNED in str(error) and "\n" not in str(error)
    except AuditorError as error:
        assert isinstance(error, IncompleteError), error  # the log misbehaved: exit 3


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(DOCUMENTS)),
    pick=st.integers(min_value=0),
    replacement=json_values,
    delete=st.booleans(),
)
def test_mutated_answers_never_escape_as_tracebacks(
    name: str, pick: int, replacement: Any, delete: bool
) -> None:
    document = DOCUMENTS[name]
    paths = _paths(document)
    path = paths[pick % len(paths)]
    mutated = _mutate(document, path, replacement, delete and bool(path))
    client = canned_client(always(200, json.dumps(mutated).encode()), FakeTime(), max_retries=0)
    _only_auditor_errors(client, CALLS[name])


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(DOCUMENTS)), body=st.binary(max_size=200) | json_values.map(
    lambda v: json.dumps(v).encode()))  # fmt: skip
def test_arbitrary_answers_never_escape_as_tracebacks(name: str, body: bytes) -> None:
    client = canned_client(always(200, body), FakeTime(), max_retries=0)
    _only_auditor_errors(client, CALLS[name])


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_unmutated_documents_are_accepted(name: str) -> None:
    """The fuzzing above starts from documents the client accepts."""
    client = canned_client(always(200, json.dumps(DOCUMENTS[name]).encode()), FakeTime())
    assert CALLS[name](client) is not None


@pytest.mark.parametrize(
    ("name", "mutation", "complaint"),
    [
        ("log_info", lambda d: d.pop("treeID"), "treeID is missing"),
        ("log_info", lambda d: d.update(treeSize="9"), "treeSize is missing or not"),
        ("log_info", lambda d: d.update(treeSize=True), "treeSize is missing or not"),
        ("log_info", lambda d: d.update(rootHash="00" * 31), "rootHash is missing or not"),
        ("log_info", lambda d: d.update(inactiveShards={}), "inactiveShards is not an array"),
        ("log_info", lambda d: d["inactiveShards"][0].update(treeID="-3"),
         r"inactiveShards\[0\].treeID"),
        ("proof", lambda d: d["hashes"].append(7), r"hashes\[\d+\] is missing or not"),
        ("entry_by_index", lambda d: next(iter(d.values())).update(logIndex=4),
         "asked for entry 3, got logIndex 4"),
        ("entry_by_index", lambda d: next(iter(d.values())).update(body="!!"), "not valid base64"),
        ("entry_by_index", lambda d: d.update(extra={}), "exactly one entry UUID key"),
        ("retrieve", lambda d: d.append(d[0] | {"x": 1}), "'x' is not a 64- or 80-hex"),
        ("retrieve", lambda d: d.append(7), "element 3 is not an object keyed"),
        ("search", lambda d: d.append("ab" * 33), r"element \d+ is not a 64- or 80-hex"),
    ],
)  # fmt: skip
def test_malformed_answers_name_the_defect_and_the_url(
    name: str, mutation: Callable[[Any], object], complaint: str
) -> None:
    document = json.loads(json.dumps(DOCUMENTS[name]))
    mutation(document)
    adapter = always(200, json.dumps(document).encode())
    client = canned_client(adapter, FakeTime())
    with pytest.raises(MalformedResponseError, match=complaint) as malformed:
        CALLS[name](client)
    assert CANNED + "/api/v1/" in str(malformed.value)
    assert len(adapter.sent) == 1  # a wrong document is not retried: it will not heal


def test_conflicting_duplicates_in_a_batch_are_malformed() -> None:
    elements = DOCUMENTS["retrieve"]
    ((uuid, obj),) = elements[0].items()
    forged = {uuid: obj | {"integratedTime": obj["integratedTime"] + 1}}
    client = canned_client(always(200, json.dumps([*elements, forged]).encode()), FakeTime())
    with pytest.raises(MalformedResponseError, match="two different entries answer"):
        client.retrieve(indexes=[0, 3, 8])


def test_identical_duplicates_in_a_batch_are_tolerated() -> None:
    elements = DOCUMENTS["retrieve"]
    body = json.dumps([*elements, *elements[::-1]]).encode()
    result = canned_client(always(200, body), FakeTime()).retrieve(indexes=[0, 3, 8])
    assert sorted(result.by_index) == [0, 3, 8]


def test_unrequested_results_are_ignored() -> None:
    body = json.dumps(DOCUMENTS["retrieve"]).encode()
    result = canned_client(always(200, body), FakeTime()).retrieve(indexes=[3, 5])
    assert list(result.by_index) == [3] and result.missing_indexes == (5,)


def test_duplicate_json_keys_are_malformed() -> None:
    ((uuid, obj),) = DOCUMENTS["entry_by_index"].items()
    text = json.dumps({uuid: obj})
    forged = text.replace('"logIndex": 3', '"logIndex": 3, "logIndex": 4', 1)
    assert forged != text
    client = canned_client(always(200, forged.encode()), FakeTime())
    with pytest.raises(MalformedResponseError, match="duplicate JSON key 'logIndex'"):
        client.entry_by_index(3)


def test_entry_by_uuid_answering_another_entry_is_malformed() -> None:
    client = canned_client(
        always(200, json.dumps(DOCUMENTS["entry_by_index"]).encode()), FakeTime()
    )
    with pytest.raises(MalformedResponseError, match="asked for entry"):
        client.entry_by_uuid("ab" * 32)
