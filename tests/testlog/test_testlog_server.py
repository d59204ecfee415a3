"""The local Rekor's HTTP API: shapes, limits, UUID rules, shards and proofs."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from rekor_checks import (
    checkpoint_verifies,
    consistent,
    entry_failures,
    parse_checkpoint,
)

from testlog import Endorser, RekorLog, RunningServer, add_endorsements, serve

API = "/api/v1"


def _get(server: RunningServer, path: str, **params: Any) -> requests.Response:
    return requests.get(server.url + API + path, params=params, timeout=10)


def _post(server: RunningServer, path: str, body: object) -> requests.Response:
    return requests.post(server.url + API + path, json=body, timeout=10)


def _mth(bodies: list[bytes]) -> bytes:
    """RFC 6962 MTH over entry bodies, written out independently of testlog."""
    if not bodies:
        return hashlib.sha256(b"").digest()
    if len(bodies) == 1:
        return hashlib.sha256(b"\x00" + bodies[0]).digest()
    k = 1
    while k * 2 < len(bodies):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(bodies[:k]) + _mth(bodies[k:])).digest()


@pytest.fixture
def sharded(rekor_log: RekorLog, endorsers: list[Endorser]) -> RekorLog:
    """Three shards: 5 and 8 frozen entries, then 6 in the active shard."""
    add_endorsements(rekor_log, endorsers, 5, start_time=1_750_000_000)
    rekor_log.rotate()
    add_endorsements(rekor_log, endorsers, 8, start_time=1_750_001_000)
    rekor_log.rotate()
    add_endorsements(rekor_log, endorsers, 6, start_time=1_750_002_000)
    return rekor_log


def _key(log: RekorLog) -> ec.EllipticCurvePublicKey:
    return log.signer.private_key.public_key()


def test_log_info_describes_the_active_and_inactive_shards(
    sharded: RekorLog, rekor_server: RunningServer
) -> None:
    response = _get(rekor_server, "/log")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    info = response.json()
    heads = [*info["inactiveShards"], info]
    assert [h["treeSize"] for h in heads] == [5, 8, 6]
    assert [h["treeID"] for h in heads] == [str(s.tree_id) for s in sharded.shards]
    for head, shard in zip(heads, sharded.shards, strict=True):
        assert set(head) >= {"rootHash", "treeSize", "signedTreeHead", "treeID"}
        assert re.fullmatch(r"[0-9]+", head["treeID"])
        assert 2**60 <= int(head["treeID"]) < 2**63
        assert head["rootHash"] == _mth([e.body for e in shard.entries]).hex()
        checkpoint = parse_checkpoint(head["signedTreeHead"])
        assert checkpoint.origin == f"rekor.sigstore.dev - {head['treeID']}"
        assert (checkpoint.size, checkpoint.root.hex()) == (head["treeSize"], head["rootHash"])
        assert checkpoint_verifies(checkpoint, _key(sharded))


def test_an_empty_log_has_no_inactive_shards(rekor_server: RunningServer) -> None:
    info = _get(rekor_server, "/log").json()
    assert info["treeSize"] == 0
    assert info["rootHash"] == hashlib.sha256(b"").hexdigest()
    assert "inactiveShards" not in info


def test_entries_by_virtual_index_span_the_shards(
    sharded: RekorLog, rekor_server: RunningServer
) -> None:
    offsets = [0, 5, 13]
    for virtual in range(19):
        response = _get(rekor_server, "/log/entries", logIndex=virtual)
        assert response.status_code == 200
        document = response.json()
        ((uuid, entry),) = document.items()
        shard_no = max(i for i, o in enumerate(offsets) if o <= virtual)
        shard = sharded.shards[shard_no]
        assert entry["logIndex"] == virtual
        proof = entry["verification"]["inclusionProof"]
        assert proof["logIndex"] == virtual - offsets[shard_no]
        assert proof["treeSize"] == shard.size
        assert uuid[:16] == f"{shard.tree_id:016x}" and len(uuid) == 80
        assert base64.b64decode(entry["body"]) == shard.entries[proof["logIndex"]].body
        assert set(entry) == {"body", "integratedTime", "logID", "logIndex", "verification"}
        assert entry_failures(document, _key(sharded)) == []


def test_past_the_end_is_404_with_an_empty_body(
    sharded: RekorLog, rekor_server: RunningServer
) -> None:
    response = _get(rekor_server, "/log/entries", logIndex=19)
    assert response.status_code == 404
    assert response.content == b""


@pytest.mark.parametrize(("params", "status"), [({}, 422), ({"logIndex": -1}, 422),
                                                ({"logIndex": "x"}, 400)])  # fmt: skip
def test_bad_log_index_parameters_are_json_errors(
    rekor_server: RunningServer, params: dict[str, Any], status: int
) -> None:
    response = _get(rekor_server, "/log/entries", **params)
    assert response.status_code == status
    assert set(response.json()) == {"code", "message"}


def test_entries_by_uuid_accept_64_and_80_hex(
    sharded: RekorLog, rekor_server: RunningServer
) -> None:
    entry = sharded.entry(7)
    long_uuid = entry.uuid
    for uuid in (long_uuid, long_uuid[16:], long_uuid.upper()):
        response = _get(rekor_server, f"/log/entries/{uuid}")
        assert response.status_code == 200
        assert list(response.json()) == [long_uuid]
        assert response.json()[long_uuid]["logIndex"] == 7
    other_tree = f"{sharded.shards[0].tree_id:016x}" + long_uuid[16:]
    response = _get(rekor_server, f"/log/entries/{other_tree}")
    assert response.status_code == 404
    assert set(response.json()) == {"code", "message"}
    assert _get(rekor_server, "/log/entries/abc").status_code == 400


def test_retrieve_mixes_uuids_and_indexes_omits_missing_and_does_not_keep_order(
    sharded: RekorLog, rekor_server: RunningServer
) -> None:
    request = {
        "entryUUIDs": [sharded.entry(2).uuid, sharded.entry(15).uuid[16:], "ab" * 32],
        "logIndexes": [14, 0, 3, 99],
    }
    response = _post(rekor_server, "/log/entries/retrieve", request)
    assert response.status_code == 200
    results = response.json()
    indexes = [next(iter(r.values()))["logIndex"] for r in results]
    assert sorted(indexes) == [0, 2, 3, 14, 15]
    assert indexes != [2, 15, 14, 0, 3]
    for document in results:
        assert entry_failures(document, _key(sharded)) == []


@pytest.mark.parametrize(("uuids", "indexes"), [(0, 11), (6, 5), (11, 0)])
def test_retrieve_refuses_more_than_ten_items_with_422(
    sharded: RekorLog, rekor_server: RunningServer, uuids: int, indexes: int
) -> None:
    request = {
        "entryUUIDs": [sharded.entry(i).uuid for i in range(uuids)],
        "logIndexes": list(range(indexes)),
    }
    response = _post(rekor_server, "/log/entries/retrieve", request)
    assert response.status_code == 422
    error = response.json()
    assert error["code"] == 422 and "10" in error["message"]


def test_retrieve_accepts_exactly_ten(sharded: RekorLog, rekor_server: RunningServer) -> None:
    request = {"entryUUIDs": [sharded.entry(i).uuid for i in range(4)],
               "logIndexes": list(range(10, 16))}  # fmt: skip
    response = _post(rekor_server, "/log/entries/retrieve", request)
    assert response.status_code == 200 and len(response.json()) == 10


def test_retrieve_rejects_bad_requests(rekor_server: RunningServer) -> None:
    bad_json = requests.post(
        rekor_server.url + API + "/log/entries/retrieve", data=b"{", timeout=10
    )
    assert bad_json.status_code == 400
    assert _post(rekor_server, "/log/entries/retrieve", {"entryUUIDs": ["xyz"]}).status_code == 400


def _certificate_for(endorser: Endorser) -> bytes:
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(endorser.private_key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(issuer_key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM)


def test_search_by_public_key_compares_spki(
    sharded: RekorLog, endorsers: list[Endorser], rekor_server: RunningServer
) -> None:
    kernel = endorsers[1]
    expected = sorted(e.uuid for e in sharded.entries() if e.signer_spki and
                      e.body.find(base64.b64encode(kernel.public_pem)) > 0)  # fmt: skip
    assert len(expected) == 7  # round-robin over three keys in batches of 5, 8 and 6
    for pem in (kernel.public_pem, _certificate_for(kernel)):
        query = {"publicKey": {"format": "x509", "content": base64.b64encode(pem).decode()}}
        response = _post(rekor_server, "/index/retrieve", query)
        assert response.status_code == 200
        assert sorted(response.json()) == expected
        assert all(re.fullmatch(r"[0-9a-f]{80}", u) for u in response.json())
    stranger = Endorser("stranger").public_pem
    query = {"publicKey": {"format": "x509", "content": base64.b64encode(stranger).decode()}}
    assert _post(rekor_server, "/index/retrieve", query).json() == []


def test_search_by_hash(sharded: RekorLog, rekor_server: RunningServer) -> None:
    entry = sharded.entry(9)
    digest = hashlib.sha256(b"").hexdigest()
    assert entry.artifact_sha256 is not None
    for value in (f"sha256:{entry.artifact_sha256}", entry.artifact_sha256.upper()):
        assert _post(rekor_server, "/index/retrieve", {"hash": value}).json() == [entry.uuid]
    assert _post(rekor_server, "/index/retrieve", {"hash": digest}).json() == []
    for bad in ({"hash": "sha256:xyz"}, {}, {"publicKey": {"format": "pgp", "content": ""}}):
        response = _post(rekor_server, "/index/retrieve", bad)
        assert response.status_code == 400
        assert set(response.json()) == {"code", "message"}


def test_public_key_is_the_log_key_pem(sharded: RekorLog, rekor_server: RunningServer) -> None:
    response = _get(rekor_server, "/log/publicKey")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-pem-file"
    assert response.content == sharded.signer.public_pem
    assert response.content.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    tree = sharded.shards[0].tree_id
    assert _get(rekor_server, "/log/publicKey", treeID=tree).content == response.content


def test_consistency_proofs_verify_within_each_tree(
    sharded: RekorLog, rekor_server: RunningServer
) -> None:
    for shard in sharded.shards:
        bodies = [e.body for e in shard.entries]
        for first in range(1, shard.size + 1):
            for last in range(first, shard.size + 1):
                response = _get(rekor_server, "/log/proof", firstSize=first, lastSize=last,
                                treeID=shard.tree_id)  # fmt: skip
                assert response.status_code == 200
                proof = response.json()
                assert proof["rootHash"] == _mth(bodies[:last]).hex()
                hashes_ = [bytes.fromhex(h) for h in proof["hashes"]]
                assert consistent(first, last, _mth(bodies[:first]), _mth(bodies[:last]), hashes_)


def test_consistency_defaults_to_the_active_tree_and_checks_sizes(
    sharded: RekorLog, rekor_server: RunningServer
) -> None:
    response = _get(rekor_server, "/log/proof", lastSize=6)
    assert response.json()["rootHash"] == sharded.active.tree.root().hex()
    for params, status in [({"firstSize": 3, "lastSize": 2}, 400), ({"lastSize": 7}, 400),
                           ({}, 422), ({"lastSize": 2, "treeID": 12345}, 400)]:  # fmt: skip
        response = _get(rekor_server, "/log/proof", **params)
        assert response.status_code == status
        assert set(response.json()) == {"code", "message"}


def test_proofs_follow_the_current_head_at_read_time(
    sharded: RekorLog, endorsers: list[Endorser], rekor_server: RunningServer
) -> None:
    before = _get(rekor_server, "/log/entries", logIndex=14).json()
    add_endorsements(sharded, endorsers, 4, start_time=1_750_003_000)
    after = _get(rekor_server, "/log/entries", logIndex=14).json()
    old = next(iter(before.values()))["verification"]["inclusionProof"]
    new = next(iter(after.values()))["verification"]["inclusionProof"]
    assert (old["treeSize"], new["treeSize"]) == (6, 10)
    assert entry_failures(after, _key(sharded)) == []
    proof = _get(rekor_server, "/log/proof", firstSize=6, lastSize=10).json()
    assert consistent(6, 10, bytes.fromhex(old["rootHash"]), bytes.fromhex(new["rootHash"]),
                      [bytes.fromhex(h) for h in proof["hashes"]])  # fmt: skip
    # Frozen shards do not move.
    frozen = _get(rekor_server, "/log/entries", logIndex=6).json()
    assert next(iter(frozen.values()))["verification"]["inclusionProof"]["treeSize"] == 8


def test_unknown_paths_and_methods(rekor_server: RunningServer) -> None:
    missing = _get(rekor_server, "/nothing")
    assert missing.status_code == 404 and set(missing.json()) == {"code", "message"}
    assert _post(rekor_server, "/log", {}).status_code == 405


def test_requests_are_counted_per_endpoint(sharded: RekorLog, rekor_server: RunningServer) -> None:
    _get(rekor_server, "/log")
    _get(rekor_server, "/log")
    _get(rekor_server, "/log/entries", logIndex=1)
    _post(rekor_server, "/log/entries/retrieve", {"logIndexes": [1]})
    assert rekor_server.requests.snapshot() == {"log": 2, "entry_by_index": 1, "retrieve": 1}
    assert rekor_server.requests.total == 4
    rekor_server.requests.reset()
    assert rekor_server.requests.total == 0


def test_serve_runs_a_fresh_log_and_closes(endorsers: list[Endorser]) -> None:
    with serve() as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert _get(server, "/log").json()["treeSize"] == 0
        server.log.add_rekord(b"x", endorsers[0].sign(b"x"), endorsers[0].public_pem)
        assert _get(server, "/log").json()["treeSize"] == 1
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + API + "/log", timeout=2)
