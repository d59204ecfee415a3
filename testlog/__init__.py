"""A faithful local Rekor v1 log for tests and demos (never shipped in the wheel).

``RekorLog`` holds real RFC 6962 Merkle trees (several shards, virtual indexes) with
entries signed like Rekor v1 (ECDSA P-256 checkpoints and SETs); ``serve()`` exposes its
read API over HTTP on 127.0.0.1 with run-time fault switches (``Faults``) and request
counters. Pytest fixtures live in ``testlog.pytest_plugin``.
"""

from testlog.api import MAX_SEARCH_QUERIES, ApiError, RekorApi
from testlog.faults import ContentFaults, Endpoint, Faults
from testlog.log import LogEntry, ManualClock, RekorLog, Shard
from testlog.merkle import MerkleTree, leaf_hash, node_hash
from testlog.server import RequestCounter, RunningServer, serve
from testlog.signing import LogSigner
from testlog.synthetic import Endorser, add_endorsements

__all__ = [
    "MAX_SEARCH_QUERIES",
    "ApiError",
    "ContentFaults",
    "Endorser",
    "Endpoint",
    "Faults",
    "LogEntry",
    "LogSigner",
    "ManualClock",
    "MerkleTree",
    "RekorApi",
    "RekorLog",
    "RequestCounter",
    "RunningServer",
    "Shard",
    "add_endorsements",
    "leaf_hash",
    "node_hash",
    "serve",
]
