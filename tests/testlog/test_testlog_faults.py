"""Every fault switch of the local Rekor, observed over HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from rekor_checks import checkpoint_verifies, consistent, entry_failures, parse_checkpoint

from testlog import Endorser, Endpoint, RekorLog, RunningServer, add_endorsements

API = "/api/v1"


def _get(server: RunningServer, path: str, timeout: float = 10, **params: Any) -> requests.Response:
    return requests.get(server.url + API + path, params=params, timeout=timeout)


def _entry(server: RunningServer, index: int) -> dict[str, Any]:
    response = _get(server, "/log/entries", logIndex=index)
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _key(log: RekorLog) -> ec.EllipticCurvePublicKey:
    return log.signer.private_key.public_key()


@pytest.fixture
def populated(rekor_log: RekorLog, endorsers: list[Endorser]) -> RekorLog:
    add_endorsements(rekor_log, endorsers, 12, start_time=1_750_000_000)
    return rekor_log


def test_rate_limit_is_an_html_429_with_retry_after(
    populated: RekorLog, rekor_server: RunningServer
) -> None:
    rekor_server.faults.rate_limit(2, retry_after=7)
    for _ in range(2):
        response = _get(rekor_server, "/log")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"
        assert response.headers["Content-Type"] == "text/html"
        assert response.text.startswith("<html>")
        with pytest.raises(json.JSONDecodeError):
            response.json()
    assert _get(rekor_server, "/log").status_code == 200
    assert rekor_server.requests[Endpoint.LOG_INFO] == 3


def test_faults_can_target_one_endpoint(populated: RekorLog, rekor_server: RunningServer) -> None:
    rekor_server.faults.rate_limit(1, endpoint=Endpoint.RETRIEVE)
    assert _get(rekor_server, "/log").status_code == 200
    url = rekor_server.url + API + "/log/entries/retrieve"
    assert requests.post(url, json={"logIndexes": [0]}, timeout=10).status_code == 429
    assert requests.post(url, json={"logIndexes": [0]}, timeout=10).status_code == 200
    assert rekor_server.faults.pending() == 0


def test_a_burst_of_server_errors_then_recovery(
    populated: RekorLog, rekor_server: RunningServer
) -> None:
    rekor_server.faults.server_errors(3, status=503)
    statuses = [_get(rekor_server, "/log/entries", logIndex=1).status_code for _ in range(4)]
    assert statuses == [503, 503, 503, 200]
    rekor_server.faults.server_errors(1, status=500)
    response = _get(rekor_server, "/log")
    assert response.status_code == 500
    assert set(response.json()) == {"code", "message"}


def test_slow_responses(populated: RekorLog, rekor_server: RunningServer) -> None:
    rekor_server.faults.delay = 0.3
    started = time.monotonic()
    assert _get(rekor_server, "/log").status_code == 200
    assert time.monotonic() - started >= 0.3
    rekor_server.faults.delay = 0
    with pytest.raises(requests.Timeout):
        rekor_server.faults.delay = 1.0
        _get(rekor_server, "/log", timeout=0.2)


def test_hung_responses_time_out_and_are_bounded(
    populated: RekorLog, rekor_server: RunningServer
) -> None:
    rekor_server.faults.hang(1)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        _get(rekor_server, "/log", timeout=0.3)
    assert time.monotonic() - started < 2
    assert _get(rekor_server, "/log").status_code == 200
    # A hang ends by itself after hang_limit, and the connection is closed without an answer.
    rekor_server.faults.hang_limit = 0.2
    rekor_server.faults.hang(1)
    with pytest.raises(requests.ConnectionError):
        _get(rekor_server, "/log", timeout=5)


def test_hung_entries_are_never_answered_however_asked(
    populated: RekorLog, rekor_server: RunningServer
) -> None:
    rekor_server.faults.hung = {3}
    url = rekor_server.url + API + "/log/entries/retrieve"
    uuid = populated.entry(3).uuid
    for ask in (lambda: requests.post(url, json={"logIndexes": [2, 3]}, timeout=0.3),
                lambda: requests.post(url, json={"entryUUIDs": [uuid]}, timeout=0.3),
                lambda: _get(rekor_server, f"/log/entries/{uuid}", timeout=0.3),
                lambda: _get(rekor_server, "/log/entries", timeout=0.3, logIndex=3)):
        with pytest.raises(requests.Timeout):
            ask()
    assert sorted(_retrieve(rekor_server, [2, 4])) == [2, 4]  # the others are served
    rekor_server.faults.clear()
    assert _retrieve(rekor_server, [3]) == [3]


def test_close_releases_hung_requests(populated: RekorLog, rekor_server: RunningServer) -> None:
    rekor_server.faults.hang(1)
    with pytest.raises(requests.Timeout):
        _get(rekor_server, "/log", timeout=0.2)
    started = time.monotonic()
    rekor_server.close()
    assert time.monotonic() - started < 2


def test_truncated_json(populated: RekorLog, rekor_server: RunningServer) -> None:
    rekor_server.faults.truncate(1)
    response = _get(rekor_server, "/log/entries", logIndex=3)
    assert response.status_code == 200
    assert len(response.content) == int(response.headers["Content-Length"]) > 0
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert _get(rekor_server, "/log/entries", logIndex=3).json()


def _retrieve(server: RunningServer, indexes: list[int]) -> list[int]:
    url = server.url + API + "/log/entries/retrieve"
    results = requests.post(url, json={"logIndexes": indexes}, timeout=10).json()
    return [next(iter(r.values()))["logIndex"] for r in results]


def test_duplicated_batch_results(populated: RekorLog, rekor_server: RunningServer) -> None:
    rekor_server.faults.duplicate_batches = True
    got = _retrieve(rekor_server, [1, 2, 3])
    assert sorted(got) == [1, 1, 2, 2, 3, 3]


def test_shuffled_batch_results(populated: RekorLog, rekor_server: RunningServer) -> None:
    default = _retrieve(rekor_server, list(range(10)))
    assert default == _retrieve(rekor_server, list(range(10)))  # deterministic by default
    rekor_server.faults.shuffle_batches = True
    orders = {tuple(_retrieve(rekor_server, list(range(10)))) for _ in range(10)}
    assert len(orders) > 1
    assert all(sorted(order) == list(range(10)) for order in orders)


@pytest.mark.parametrize(
    ("switch", "failure"),
    [("tamper_inclusion_proof", "inclusion"), ("tamper_set", "set"),
     ("tamper_checkpoint", "checkpoint_signature")],
)  # fmt: skip
def test_tampered_entries_fail_exactly_one_check(
    populated: RekorLog, rekor_server: RunningServer, switch: str, failure: str
) -> None:
    assert entry_failures(_entry(rekor_server, 4), _key(populated)) == []
    setattr(rekor_server.faults, switch, True)
    assert entry_failures(_entry(rekor_server, 4), _key(populated)) == [failure]
    rekor_server.faults.tamper_only = {5}
    assert entry_failures(_entry(rekor_server, 4), _key(populated)) == []
    assert entry_failures(_entry(rekor_server, 5), _key(populated)) == [failure]
    rekor_server.faults.clear()
    assert entry_failures(_entry(rekor_server, 5), _key(populated)) == []


def test_tampered_proof_of_a_single_entry_tree(
    rekor_log: RekorLog, endorsers: list[Endorser], rekor_server: RunningServer
) -> None:
    add_endorsements(rekor_log, endorsers, 1)
    rekor_server.faults.tamper_inclusion_proof = True
    assert entry_failures(_entry(rekor_server, 0), _key(rekor_log)) == ["inclusion"]


def test_tampered_tree_head_and_consistency_proof(
    populated: RekorLog, rekor_server: RunningServer
) -> None:
    rekor_server.faults.tamper_checkpoint = True
    head = _get(rekor_server, "/log").json()
    assert not checkpoint_verifies(parse_checkpoint(head["signedTreeHead"]), _key(populated))
    rekor_server.faults.clear()
    tree = populated.active.tree
    rekor_server.faults.tamper_consistency_proof = True
    proof = _get(rekor_server, "/log/proof", firstSize=5, lastSize=12).json()
    hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    assert not consistent(5, 12, tree.root(5), tree.root(12), hashes)


def test_split_view_serves_a_consistent_fork_of_the_same_size(
    populated: RekorLog, rekor_server: RunningServer
) -> None:
    real = _get(rekor_server, "/log").json()
    replaced = populated.fork(at=9)
    assert [e.virtual_index for e in replaced] == [9, 10, 11]
    rekor_server.faults.serve_fork = True
    forked = _get(rekor_server, "/log").json()
    assert forked["treeSize"] == real["treeSize"] == 12
    assert forked["treeID"] == real["treeID"]
    assert forked["rootHash"] != real["rootHash"]
    assert checkpoint_verifies(parse_checkpoint(forked["signedTreeHead"]), _key(populated))
    # The fork is internally consistent: its proofs verify against its own roots...
    tree = populated.active.tree
    at_fork = _get(rekor_server, "/log/proof", firstSize=9, lastSize=12).json()
    hashes = [bytes.fromhex(h) for h in at_fork["hashes"]]
    assert consistent(9, 12, tree.root(9), bytes.fromhex(forked["rootHash"]), hashes)
    # ...its entries verify, and the replaced positions hold other entries...
    for index in (2, 10):
        document = _entry(rekor_server, index)
        assert entry_failures(document, _key(populated)) == []
        (proof_root,) = {
            next(iter(document.values()))["verification"]["inclusionProof"]["rootHash"]
        }
        assert proof_root == forked["rootHash"]
    assert list(_entry(rekor_server, 10)) == [replaced[1].uuid]
    assert _get(rekor_server, f"/log/entries/{populated.entry(10).uuid}").status_code == 404
    # ...but no proof can join it to the real history beyond the fork point.
    late = _get(rekor_server, "/log/proof", firstSize=10, lastSize=12).json()
    hashes = [bytes.fromhex(h) for h in late["hashes"]]
    assert not consistent(10, 12, tree.root(10), bytes.fromhex(forked["rootHash"]), hashes)
    rekor_server.faults.serve_fork = False
    assert _get(rekor_server, "/log").json()["rootHash"] == real["rootHash"]


def test_rollback_serves_an_older_smaller_head(
    populated: RekorLog, rekor_server: RunningServer
) -> None:
    rekor_server.faults.rollback(7)
    head = _get(rekor_server, "/log").json()
    assert head["treeSize"] == 7
    assert head["rootHash"] == populated.active.tree.root(7).hex()
    assert parse_checkpoint(head["signedTreeHead"]).size == 7
    assert _get(rekor_server, "/log/entries", logIndex=8).status_code == 404
    document = _entry(rekor_server, 3)
    assert next(iter(document.values()))["verification"]["inclusionProof"]["treeSize"] == 7
    assert entry_failures(document, _key(populated)) == []
    assert _get(rekor_server, "/log/proof", firstSize=3, lastSize=12).status_code == 400
    rekor_server.faults.clear_rollback()
    assert _get(rekor_server, "/log").json()["treeSize"] == 12


def test_rollback_of_a_frozen_shard(populated: RekorLog, rekor_server: RunningServer) -> None:
    frozen = populated.active.tree_id
    populated.rotate()
    rekor_server.faults.rollback(10, tree_id=frozen)
    (inactive,) = _get(rekor_server, "/log").json()["inactiveShards"]
    assert (inactive["treeID"], inactive["treeSize"]) == (str(frozen), 10)


def test_shard_rotation_while_serving(
    populated: RekorLog, endorsers: list[Endorser], rekor_server: RunningServer
) -> None:
    before = _get(rekor_server, "/log").json()
    populated.rotate()
    after = _get(rekor_server, "/log").json()
    assert after["treeID"] != before["treeID"] and after["treeSize"] == 0
    assert after["inactiveShards"] == [
        {k: before[k] for k in ("rootHash", "treeSize", "treeID")}
        | {"signedTreeHead": after["inactiveShards"][0]["signedTreeHead"]}
    ]
    (entry,) = add_endorsements(populated, endorsers, 1)
    document = _entry(rekor_server, 12)
    assert list(document) == [entry.entry.uuid]
    assert next(iter(document.values()))["verification"]["inclusionProof"]["logIndex"] == 0
    assert entry_failures(document, _key(populated)) == []
