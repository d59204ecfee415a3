"""A faithful local Rekor v1 log for tests and demos (never shipped in the wheel).

``RekorLog`` holds real RFC 6962 Merkle trees (several shards, virtual indexes) with
entries signed like Rekor v1 (ECDSA P-256 checkpoints and SETs); ``serve()`` exposes its
read API over HTTP on 127.0.0.1 with run-time fault switches (``Faults``) and request
counters. Pytest fixtures live in ``testlog.pytest_plugin``.

    log = RekorLog(clock=ManualClock())
    endorsements = add_endorsements(log, [Endorser("kernel")], 100)
    log.rotate()                                  # freeze the shard, open a new tree ID
    with serve(log) as server:                    # server.url = "http://127.0.0.1:PORT"
        server.faults.rate_limit(2, retry_after=1)
        server.faults.server_errors(3, endpoint=Endpoint.RETRIEVE)
        server.faults.tamper_set = True
        log.fork(); server.faults.serve_fork = True   # split view
        server.faults.rollback(50)                     # an older, smaller head
        ...
        assert server.requests[Endpoint.LOG_INFO] == 1

``TiledLog`` is a tiled log (C2SP tlog-tiles, like Rekor v2) and ``serve_tiles()`` its
static read API, with ``TileFaults`` (see ``testlog.tiles_server``). ``PublisherIndex`` is a
publisher's own endorsement index in Oak's layout (content-addressed files and links) and
``serve_index()`` serves it, with ``IndexFaults`` (see ``testlog.publisher``). ``testlog.tuf``
is a TUF repository serving a Sigstore trust config (Rekor v2 shards), with ``TufFaults``.
"""

from testlog.api import MAX_SEARCH_QUERIES, ApiError, RekorApi
from testlog.counter import RequestCounter
from testlog.faults import ContentFaults, Endpoint, Faults
from testlog.log import LogEntry, ManualClock, RekorLog, Shard
from testlog.merkle import MerkleTree, leaf_hash, node_hash
from testlog.publisher import PublisherIndex
from testlog.publisher_server import IndexFaults, RunningIndexServer, serve_index
from testlog.server import RunningServer, serve
from testlog.signing import LogSigner
from testlog.synthetic import Endorser, add_endorsements
from testlog.tiles import FulcioLikeIssuer, TiledLog, Witness, dsse_v002, hashedrekord_v002
from testlog.tiles_server import RequestKind, RunningTileServer, TileFaults, serve_tiles

__all__ = [
    "MAX_SEARCH_QUERIES",
    "ApiError",
    "ContentFaults",
    "Endorser",
    "Endpoint",
    "Faults",
    "FulcioLikeIssuer",
    "IndexFaults",
    "LogEntry",
    "LogSigner",
    "ManualClock",
    "MerkleTree",
    "PublisherIndex",
    "RekorApi",
    "RekorLog",
    "RequestCounter",
    "RequestKind",
    "RunningIndexServer",
    "RunningServer",
    "RunningTileServer",
    "Shard",
    "TileFaults",
    "TiledLog",
    "Witness",
    "add_endorsements",
    "dsse_v002",
    "hashedrekord_v002",
    "leaf_hash",
    "node_hash",
    "serve",
    "serve_index",
    "serve_tiles",
]
