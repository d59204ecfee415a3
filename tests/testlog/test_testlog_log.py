"""RekorLog's bookkeeping: clock, tree IDs, refusals, virtual indexes, forks."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from testlog import Endorser, ManualClock, RekorLog, add_endorsements


def test_integrated_time_comes_from_the_clock_or_the_caller() -> None:
    clock = ManualClock(1_800_000_000)
    log = RekorLog(clock=clock)
    signer = Endorser("k")
    first = log.add_rekord(b"a", signer.sign(b"a"), signer.public_pem)
    clock.advance(60)
    second = log.add_rekord(b"b", signer.sign(b"b"), signer.public_pem)
    third = log.add_rekord(b"c", signer.sign(b"c"), signer.public_pem, integrated_time=5)
    assert [e.integrated_time for e in (first, second, third)] == [1_800_000_000,
                                                                   1_800_000_060, 5]  # fmt: skip


def test_synthetic_endorsements_are_a_second_apart_and_never_dated_ahead() -> None:
    """A batch from the log's clock ends no later than now: 20,000 entries from now, a second
    apart, ended 5.5 hours ahead, and the auditor fails an entry dated past when it was served
    (the ingest benchmark verified 3,612 of 20,000). A start the caller gives is kept."""
    ahead = int(time.time()) + 7_200
    before = int(time.time())
    dated = [e.entry.integrated_time for e in add_endorsements(RekorLog(clock=ManualClock(ahead)),
                                                         [Endorser("a")], 3)]
    assert dated[1] - dated[0] == dated[2] - dated[1] == 1
    assert before - 2 <= dated[2] <= int(time.time())
    given = add_endorsements(RekorLog(), [Endorser("a")], 2, start_time=ahead)
    assert [e.entry.integrated_time for e in given] == [ahead, ahead + 1]


def test_tree_ids_can_be_fixed_and_uuids_carry_them() -> None:
    log = RekorLog(tree_ids=[1193050959916656506, 42])
    entry = log.add_body(b'{"kind":"x"}')
    assert entry.uuid.startswith("108e9186e8c5677a")  # as in the real Oak entries
    log.rotate()
    assert [s.tree_id for s in log.shards] == [1193050959916656506, 42]
    with pytest.raises(ValueError, match="already used"):
        log.rotate(tree_id=42)


def test_signatures_that_do_not_verify_are_refused_unless_asked() -> None:
    log = RekorLog()
    signer = Endorser("k")
    with pytest.raises(ValueError, match="does not verify"):
        log.add_rekord(b"statement", signer.sign(b"other"), signer.public_pem)
    digest = hashlib.sha256(b"x").digest()
    with pytest.raises(ValueError, match="does not verify"):
        log.add_hashedrekord(digest, signer.sign(b"x" * 3), signer.public_pem)
    entry = log.add_rekord(b"statement", signer.sign(b"other"), signer.public_pem,
                           check_signature=False)  # fmt: skip
    assert entry.virtual_index == 0


def test_hashedrekord_signs_the_digest_and_has_no_format() -> None:
    log = RekorLog()
    key = ec.generate_private_key(ec.SECP256R1())
    endorser = Endorser("k", key)
    digest = hashlib.sha256(b"file").digest()
    entry = log.add_hashedrekord(
        digest, key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))), endorser.public_pem
    )
    body = json.loads(entry.body)
    assert body["kind"] == "hashedrekord" and body["apiVersion"] == "0.0.1"
    assert "format" not in body["spec"]["signature"]
    assert body["spec"]["data"]["hash"] == {"algorithm": "sha256", "value": digest.hex()}
    assert base64.b64decode(body["spec"]["signature"]["publicKey"]["content"]) == (
        endorser.public_pem
    )
    with pytest.raises(ValueError, match="32-byte"):
        log.add_hashedrekord(b"short", b"", endorser.public_pem)


def test_duplicates_are_refused_like_rekor_409() -> None:
    log = RekorLog()
    log.add_body(b'{"kind":"x"}')
    with pytest.raises(ValueError, match="already in the log"):
        log.add_body(b'{"kind":"x"}')


def test_virtual_indexes_add_earlier_shard_sizes() -> None:
    log = RekorLog()
    endorsers = [Endorser("a"), Endorser("b")]
    add_endorsements(log, endorsers, 3)
    log.rotate()
    log.rotate()  # an empty shard in between
    batch = add_endorsements(log, endorsers, 2)
    assert [(e.entry.shard_index, e.entry.virtual_index) for e in batch] == [(0, 3), (1, 4)]
    assert [s.offset for s in log.shards] == [0, 3, 3]
    assert [s.frozen for s in log.shards] == [True, True, False]
    assert log.entry(4) is batch[1].entry
    assert log.size == 5
    with pytest.raises(IndexError):
        log.entry(5)


def test_a_fork_has_the_same_size_and_another_root() -> None:
    log = RekorLog()
    add_endorsements(log, [Endorser("a")], 6)
    replaced = log.fork(at=4)
    fork = log.view(log.active, forked=True)
    assert fork.size == log.active.size == 6
    assert fork.tree.root(4) == log.active.tree.root(4)
    assert fork.tree.root() != log.active.tree.root()
    assert [e.shard_index for e in replaced] == [4, 5]
    assert log.view(log.active, forked=False) is log.active
    with pytest.raises(ValueError):
        log.fork(at=6)
    with pytest.raises(ValueError, match="different bodies"):
        log.fork(at=5, replacements=[log.active.entries[5].body])
