"""The scanner against the local tiled log: exactly the matches, verified; faults named."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from tiles_logs import MATCHER, Contents, Source, connect, fill

from auditor.errors import IncompleteError
from auditor.source.tiles import (
    CheckpointRejectedError,
    ScanBatch,
    Scanner,
    TileCache,
    TileFormatError,
    TileMismatchError,
    TileMissingError,
)
from auditor.source.tiles.layout import TILE_WIDTH
from auditor.verify.check_names import LOG_CHECKS
from auditor.verify.checkpoint import Checkpoint
from auditor.verify.entry import verify_entry
from auditor.verify.keys import PublicKey
from auditor.verify.merkle import leaf_hash, verify_inclusion
from auditor.verify.trust import LogKey, LogKeyring
from testlog import RequestKind, RunningTileServer, TiledLog, serve_tiles

SIZE = 1300  # five full bundles and a partial one of 20 entries


@pytest.fixture
def contents(tiled_log: TiledLog) -> Contents:
    return fill(tiled_log, SIZE, Contents())


@pytest.fixture
def source(contents: Contents, tiled_server: RunningTileServer) -> Iterator[Source]:
    source = connect(tiled_server)
    yield source
    source.close()


def _scan(source: Source, checkpoint: Checkpoint, start: int = 0,
          end: int | None = None) -> list[ScanBatch]:
    return list(Scanner(source.client, MATCHER).scan(checkpoint, start, end))


def _found(batches: list[ScanBatch]) -> tuple[dict[int, tuple[bytes, ...]], set[int]]:
    matches = {m.index: m.key_sha256 for b in batches for m in b.matches}
    return matches, {u.index for b in batches for u in b.unparsable}


def test_a_complete_scan_finds_exactly_the_matches(source: Source, contents: Contents) -> None:
    checkpoint = source.checkpoint()
    batches = _scan(source, checkpoint)
    assert [(b.start, b.end) for b in batches] == [
        (0, 256), (256, 512), (512, 768), (768, 1024), (1024, 1280), (1280, 1300)]
    assert sum(b.scanned for b in batches) == SIZE
    matches, unparsable = _found(batches)
    assert matches == contents.matches
    assert unparsable == contents.unparsable
    reasons = {u.reason for b in batches for u in b.unparsable}
    assert {r.partition(" (")[0] for r in reasons} == {"not UTF-8 JSON"}
    # Full bundles and the right edge only: no level-0 hash tile but the edge's.
    assert source.server.requests[RequestKind.BUNDLE] == 6
    assert source.server.requests[RequestKind.TILE] == 2  # tile/0/005.p/20, tile/1/000.p/5


def test_every_match_verifies_like_any_rekor_v2_entry(source: Source) -> None:
    checkpoint = source.checkpoint()
    log = source.log
    keyring = LogKeyring((LogKey(PublicKey.from_crypto(log.public_key), log.key_id,
                                 name=log.name),), source="test")
    matches = [m for b in _scan(source, checkpoint) for m in b.matches]
    assert matches
    for match in matches:
        proof = match.proof
        assert (proof.log_index, proof.tree_size, proof.checkpoint) == (
            match.index, SIZE, checkpoint.raw)
        verify_inclusion(match.index, SIZE, leaf_hash(match.entry), proof.hashes,
                         log.root(SIZE))
        assert match.entry == log.entry(match.index)
        verification = verify_entry(match.log_entry(log.key_id), keyring)
        checks = {c.name: c.ok for c in verification.checks if c.name in LOG_CHECKS}
        assert checks == {"leaf_hash": None, "log_id": True, "inclusion_proof": True,
                          "checkpoint_signature": True, "checkpoint_matches_proof": True,
                          "set": None, "body": match.kind == "hashedrekord"}
        if match.kind == "hashedrekord":
            assert verification.check("body_signature").ok is True
        else:
            # auditor.verify.body reads one DSSE signature only; these entries have two.
            assert verification.check("body").detail == (
                "multi-signature DSSE envelopes are not supported")


def test_a_scan_resumes_from_any_index(source: Source, contents: Contents) -> None:
    checkpoint = source.checkpoint()
    for start in (1, 255, 256, 777, 1280, 1299):
        batches = _scan(source, checkpoint, start)
        assert batches[0].start == start and batches[-1].end == SIZE
        matches, unparsable = _found(batches)
        assert matches == {i: k for i, k in contents.matches.items() if i >= start}
        assert unparsable == {i for i in contents.unparsable if i >= start}
    batches = _scan(source, checkpoint, 300, 700)
    assert [(b.start, b.end) for b in batches] == [(300, 512), (512, 700)]
    # Interrupted after two batches, resumed at the last batch's end: the same as one scan.
    scan = Scanner(source.client, MATCHER).scan(checkpoint)
    first = [next(scan), next(scan)]
    scan.close()
    rest = _scan(source, checkpoint, first[-1].end)
    assert _found(first + rest) == _found(_scan(source, checkpoint))


def test_a_growing_log_is_followed(source: Source, contents: Contents) -> None:
    old = source.checkpoint()
    _scan(source, old)
    fill(source.log, 500, contents)
    new = source.checkpoint()
    batches = _scan(source, new, old.size)
    assert batches[0].start == SIZE and batches[-1].end == 1800
    assert _found(batches)[0] == {i: k for i, k in contents.matches.items() if i >= SIZE}


def test_a_no_op_rescan_is_one_checkpoint_request(source: Source) -> None:
    checkpoint = source.checkpoint()
    _scan(source, checkpoint)
    source.server.requests.reset()
    again = source.checkpoint()
    assert again.root_hash == checkpoint.root_hash
    assert _scan(source, again, checkpoint.size) == []
    assert source.server.requests.total == source.server.requests[RequestKind.CHECKPOINT] == 1


def test_a_second_scan_reads_full_tiles_and_bundles_from_the_cache(
    tiled_server: RunningTileServer, contents: Contents, tmp_path: Path
) -> None:
    cache = TileCache.for_log(tmp_path, tiled_server.log.name)
    source = connect(tiled_server, cache=cache)
    checkpoint = source.checkpoint()
    first = _scan(source, checkpoint)
    assert sorted(p.name for p in (cache.directory / "tile" / "entries").iterdir()) == [
        "000", "001", "002", "003", "004"]
    tiled_server.requests.reset()
    assert _found(_scan(source, checkpoint)) == _found(first)
    # The partial bundle and the two edge tiles only.
    assert tiled_server.requests[RequestKind.BUNDLE] == 1
    assert tiled_server.requests[RequestKind.TILE] == 2

    # A cached bundle that no longer verifies is fetched again, and the cache repaired.
    path = cache.directory / "tile" / "entries" / "003"
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    tiled_server.requests.reset()
    assert _found(_scan(source, checkpoint)) == _found(first)
    assert tiled_server.requests[RequestKind.BUNDLE] == 2
    assert path.read_bytes() == tiled_server.log.entry_bundle(3, 256)
    source.close()


def test_a_bundle_that_does_not_hash_to_the_root_is_named(source: Source) -> None:
    checkpoint = source.checkpoint()
    source.server.faults.corrupt("tile/entries/003")
    scan = Scanner(source.client, MATCHER).scan(checkpoint)
    done = [next(scan) for _ in range(3)]
    with pytest.raises(TileMismatchError, match=r"^tile/entries/003: its entries hash to "):
        next(scan)
    assert done[-1].end == 3 * TILE_WIDTH
    source.server.faults.clear()
    assert _found(done + _scan(source, checkpoint, done[-1].end)) == _found(
        _scan(source, checkpoint))


def test_a_truncated_bundle_is_named(source: Source) -> None:
    checkpoint = source.checkpoint()
    source.server.faults.truncate_bundle(2)
    with pytest.raises(TileFormatError, match=r"^tile/entries/002: "):
        _scan(source, checkpoint)
    source.server.faults.truncate_bundle(5)
    with pytest.raises(TileFormatError, match=r"^tile/entries/005.p/20: "):
        _scan(source, checkpoint, 1280)


def test_a_wrong_edge_tile_hash_fails_before_any_batch(source: Source) -> None:
    checkpoint = source.checkpoint()
    source.server.faults.corrupt("tile/1/000")
    scan = Scanner(source.client, MATCHER).scan(checkpoint)
    with pytest.raises(TileMismatchError, match=r"^right-edge tiles tile/0/005.p/20, "
                       r"tile/1/000.p/5 hash to root [0-9a-f]{64}, but the checkpoint of size "
                       r"1300 says"):
        next(scan)


def test_a_wrong_full_hash_tile_is_named() -> None:
    log = TiledLog("tiles.testlog.example/big")
    log.extend(b"entry %d" % i for i in range(66_000))  # a full level-1 tile
    with serve_tiles(log) as server:
        source = connect(server)
        checkpoint = source.checkpoint()
        server.faults.corrupt("tile/1/000")
        with pytest.raises(TileMismatchError, match=r"^tile/1/000: its hashes hash to "
                           r"[0-9a-f]{64}, but tile/2/000\.p/1 \(verified against the "
                           r"checkpoint root\) says"):
            next(Scanner(source.client, MATCHER).scan(checkpoint))
        source.close()
        assert server.requests[RequestKind.TILE] == 4  # 3 edge tiles, then tile/1/000


def test_a_split_view_is_caught_by_the_tiles(source: Source) -> None:
    # The checkpoint is the log's, the tiles another history's (entry 600 left out).
    checkpoint = source.checkpoint()
    log = source.log
    source.server.faults.fork = log.fork(600, [*(log.entry(i) for i in range(601, SIZE)), b"x"])
    # Nothing is reported from tiles that do not hash to the checkpoint, not even the
    # entries before the fork point.
    for start, end in ((0, SIZE), (0, 600)):
        scan = Scanner(source.client, MATCHER).scan(checkpoint, start, end)
        with pytest.raises(TileMismatchError, match=r"^right-edge tiles "):
            next(scan)


@pytest.mark.parametrize("fault", ["rate_limit", "server_error"])
def test_the_log_refusing_stops_the_scan_and_it_resumes(
    tiled_server: RunningTileServer, contents: Contents, fault: str
) -> None:
    source = connect(tiled_server)
    checkpoint = source.checkpoint()
    if fault == "rate_limit":
        tiled_server.faults.rate_limit(1, retry_after=1, kind=RequestKind.BUNDLE)
    else:
        tiled_server.faults.server_errors(1, status=503, kind=RequestKind.BUNDLE)
    batches: list[ScanBatch] = []
    with pytest.raises(IncompleteError, match=r"HTTP (429|503)"):
        for batch in Scanner(source.client, MATCHER).scan(checkpoint):
            batches.append(batch)
    batches += _scan(source, checkpoint, batches[-1].end if batches else 0)
    assert _found(batches) == (contents.matches, contents.unparsable)
    source.close()


def test_a_trickling_answer_is_given_up(tiled_server: RunningTileServer,
                                        contents: Contents) -> None:
    source = connect(tiled_server, deadline=0.5)
    checkpoint = source.checkpoint()
    tiled_server.faults.stall(1, seconds=3, kind=RequestKind.BUNDLE)
    with pytest.raises(IncompleteError, match=r"no complete answer within 0\.5 s"):
        _scan(source, checkpoint)
    source.close()


def test_a_missing_tile_is_incomplete(source: Source) -> None:
    checkpoint = source.checkpoint()
    source.server.faults.rollback(1000)
    with pytest.raises(TileMissingError, match=r"tile/entries/005.p/20 \(404\)|tile/0/005.p/20"):
        _scan(source, checkpoint)


def test_dropped_partial_tiles_are_cut_from_the_full_ones(source: Source,
                                                        contents: Contents) -> None:
    checkpoint = source.checkpoint()
    fill(source.log, 300, contents)  # bundle 5 and tile/0/005 are full now
    source.server.faults.keep_partials = False
    batches = _scan(source, checkpoint, 1200)
    assert batches[-1].end == SIZE
    assert _found(batches)[0] == {i: k for i, k in contents.matches.items() if 1200 <= i < SIZE}


def test_a_checkpoint_of_another_key_is_not_scanned(source: Source) -> None:
    impostor = TiledLog(source.log.name, ed25519.Ed25519PrivateKey.generate())
    impostor.extend(source.log.entry(i) for i in range(SIZE))
    source.server.faults.fork = impostor
    with pytest.raises(CheckpointRejectedError, match="no signature line from a known key"):
        source.checkpoint()


def test_parallel_fetches_are_bounded(tiled_server: RunningTileServer,
                                      contents: Contents) -> None:
    # One worker: the same results, every request in order.
    source = connect(tiled_server, parallelism=1)
    checkpoint = source.checkpoint()
    assert _found(_scan(source, checkpoint)) == (contents.matches, contents.unparsable)
    assert source.client.requests == collections.Counter(checkpoint=1, tile=2, bundle=6)
    source.close()
