"""The local tiled log: its tree, checkpoints, cosignatures, HTTP answers and faults.

Checked against the RFC 6962 reference tree and the C2SP texts directly, not against
`auditor.source.tiles`, so that the scanner tests stand on something independent.
"""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from tiles_reference import ReferenceTree, reference_tile

from auditor.source.tiles.layout import TileId
from testlog import RequestKind, RunningTileServer, TiledLog, Witness, serve_tiles

ENTRIES = [b"entry %d" % i for i in range(600)]
REFERENCE = ReferenceTree(ENTRIES)


def _log(size: int, **kwargs: object) -> TiledLog:
    log = TiledLog("tiles.testlog.example/log", **kwargs)  # type: ignore[arg-type]
    log.extend(ENTRIES[:size])
    return log


@pytest.mark.parametrize("size", [0, 1, 2, 3, 255, 256, 257, 511, 512, 513, 600])
def test_roots_and_tiles_are_the_reference_trees(size: int) -> None:
    log = _log(size)
    for m in range(size + 1):
        assert log.root(m) == REFERENCE.root(m)
    for level in (0, 1, 2):
        for index in range(3):
            width = log.tile_width(level, index)
            if width:
                tile = TileId(level, index, width)
                assert log.hash_tile(level, index, width) == reference_tile(REFERENCE, tile, 8)


def test_a_prebuilt_log_is_the_same_log() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    grown = TiledLog("tiles.testlog.example/log", key)
    grown.extend(ENTRIES)
    leaves = b"".join(REFERENCE.leaf(i) for i in range(len(ENTRIES)))
    built = TiledLog.prebuilt(ENTRIES, leaves, "tiles.testlog.example/log", key)
    assert built.levels == grown.levels
    assert built.root() == REFERENCE.root(600)
    with pytest.raises(TypeError):
        built.append(b"more")


def _verify_note_signature(text: str, name: str, key: ed25519.Ed25519PublicKey) -> None:
    """C2SP signed-note, checked by hand: key id sha256(name ‖ \\n ‖ 0x01 ‖ key)[:4]."""
    body, _, signatures = text.partition("\n\n")
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]
    line = next(s for s in signatures.splitlines() if s.startswith(f"\u2014 {name} "))
    blob = base64.b64decode(line.rsplit(" ", 1)[1])
    assert blob[:4] == key_id
    key.verify(blob[4:], (body + "\n").encode())


def test_checkpoints_are_signed_notes_with_cosignatures() -> None:
    witness = Witness("witness.example/w1", ed25519.Ed25519PrivateKey.generate())
    log = _log(300, witnesses=[witness], extensions=["extension line"], clock=lambda: 1234)
    note = log.checkpoint()
    root = base64.b64encode(REFERENCE.root(300)).decode()
    assert note.startswith(f"tiles.testlog.example/log\n300\n{root}\nextension line\n\n\u2014 ")
    _verify_note_signature(note, log.name, log.public_key)
    # tlog-cosignature: key id with 0x04, then u64 timestamp, then the signature over
    # "cosignature/v1\ntime <T>\n" and the note body.
    line = note.splitlines()[-1]
    assert line.startswith("\u2014 witness.example/w1 ")
    blob = base64.b64decode(line.rsplit(" ", 1)[1])
    raw = witness.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert blob[:4] == hashlib.sha256(b"witness.example/w1\n\x04" + raw).digest()[:4]
    assert int.from_bytes(blob[4:12], "big") == 1234
    body = note.partition("\n\n")[0] + "\n"
    witness.key.public_key().verify(blob[12:], b"cosignature/v1\ntime 1234\n" + body.encode())
    assert log.checkpoint(10).split("\n")[1] == "10"


def test_a_fork_shares_the_prefix_and_differs_after_it() -> None:
    log = _log(300)
    fork = log.fork(200, [b"other %d" % i for i in range(100)])
    assert fork.root(200) == log.root(200)
    assert fork.root(300) != log.root(300)
    assert fork.key is log.key


def _get(server: RunningTileServer, path: str) -> requests.Response:
    return requests.get(f"{server.url}/{path}", timeout=10)


def test_the_server_answers_the_tlog_tiles_paths() -> None:
    log = _log(600)
    with serve_tiles(log) as server:
        assert _get(server, "checkpoint").text.startswith("tiles.testlog.example/log\n600\n")
        assert _get(server, "tile/0/001").content == log.hash_tile(0, 1, 256)
        assert _get(server, "tile/0/002.p/88").content == log.hash_tile(0, 2, 88)
        assert _get(server, "tile/0/002.p/10").status_code == 200  # an earlier partial
        assert _get(server, "tile/0/002").status_code == 404  # not full yet
        assert _get(server, "tile/0/002.p/89").status_code == 404
        assert _get(server, "tile/1/000.p/2").content == log.hash_tile(1, 0, 2)
        bundle = _get(server, "tile/entries/002.p/88").content
        assert bundle == b"".join(len(e).to_bytes(2, "big") + e for e in ENTRIES[512:600])
        assert _get(server, "tile/3/000.p/1").status_code == 404
        assert _get(server, "nothing").status_code == 404
        server.faults.keep_partials = False
        assert _get(server, "tile/0/001.p/10").status_code == 404  # the full tile exists
        assert _get(server, "tile/0/002.p/10").status_code == 200  # it does not
        assert server.requests[RequestKind.CHECKPOINT] == 1
        assert server.requests[RequestKind.TILE] == 9
        assert server.requests[RequestKind.BUNDLE] == 1
        assert server.requests[RequestKind.OTHER] == 1
        assert not server.errors


def test_the_server_faults() -> None:
    log = _log(600)
    with serve_tiles(log) as server:
        faults = server.faults
        faults.corrupt("tile/0/001")
        corrupted = _get(server, "tile/0/001").content
        assert corrupted != log.hash_tile(0, 1, 256) and len(corrupted) == 8192
        faults.truncate_bundle(0)
        assert len(_get(server, "tile/entries/000").content) == len(log.entry_bundle(0, 256)) // 2
        faults.clear()
        assert _get(server, "tile/0/001").content == log.hash_tile(0, 1, 256)
        faults.rollback(300)
        assert _get(server, "checkpoint").text.split("\n")[1] == "300"
        assert _get(server, "tile/0/001.p/44").content == log.hash_tile(0, 1, 44)
        assert _get(server, "tile/0/002.p/88").status_code == 404
        faults.rollback(None)
        faults.fork = log.fork(100, [b"x"] * 500)
        assert _get(server, "checkpoint").text.split("\n")[2] == base64.b64encode(
            faults.fork.root()).decode()
        faults.clear()

        faults.rate_limit(1, retry_after=7)
        limited = _get(server, "checkpoint")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
        faults.server_errors(1, status=502, kind=RequestKind.BUNDLE)
        assert _get(server, "checkpoint").status_code == 200
        assert _get(server, "tile/entries/000").status_code == 502
        faults.stall(1, seconds=1.0)
        started = time.monotonic()
        stalled = _get(server, "tile/0/000")
        assert time.monotonic() - started >= 0.9
        assert stalled.content == log.hash_tile(0, 0, 256)
        assert not server.errors
