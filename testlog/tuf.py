"""A TUF repository serving a Sigstore trust config, as Sigstore's ``tuf-repo-cdn`` does: TUF
metadata (root, timestamp, snapshot, targets, signed with python-tuf's own API) and the targets
``trusted_root.json`` and ``signing_config.v0.2.json``, on 127.0.0.1, with fault switches:

    repository = TufRepository()
    repository.publish(trust_config(shards=[(tiled_log, tiles_url)],
                                    rekor_v1=[(rekor_log.signer, rekor_url)]))
    with serve_tuf(repository) as server:     # server.url; repository.root_json() anchors it
        server.faults.server_errors(2)        # the next answers are 503
        server.faults.tamper("trusted_root.json")   # a target altered, metadata unchanged
        server.faults.forge_timestamp = True  # timestamp.json signed by another key
        assert server.requests["trusted_root.json"] == 1
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from testlog.http_server import QuietServer
from testlog.signing import LogSigner
from testlog.tiles import TiledLog

TRUSTED_ROOT = "trusted_root.json"
SIGNING_CONFIG = "signing_config.v0.2.json"
_ROLES = ("root", "targets", "snapshot", "timestamp")


class TufRepository:
    """One Ed25519 key for every role, metadata not consistent-snapshot (plain file names)."""

    def __init__(self, lifetime: timedelta = timedelta(days=7)) -> None:
        self.signer = CryptoSigner.generate_ed25519()
        self.lifetime = lifetime
        root = Root(expires=self._expiry(), consistent_snapshot=False)
        for role in _ROLES:
            root.add_key(self.signer.public_key, role)
        self._root = self._signed(root)
        #: What is served, by path below the repository's URL.
        self.files: dict[str, bytes] = {"1.root.json": self._root}
        self._version = 0

    def root_json(self) -> bytes:
        """The root metadata a client is bootstrapped with."""
        return self._root

    def publish(self, targets: dict[str, bytes]) -> None:
        """Serve `targets` from now on: new targets, snapshot and timestamp metadata."""
        self._version += 1
        version, expires = self._version, self._expiry()
        listed = Targets(version=version, expires=expires, targets={
            name: TargetFile.from_data(name, data, ["sha256"]) for name, data in targets.items()})
        snapshot = Snapshot(version=version, expires=expires,
                            meta={"targets.json": MetaFile(version=version)})
        timestamp = Timestamp(version=version, expires=expires,
                              snapshot_meta=MetaFile(version=version))
        files = {f"targets/{name}": data for name, data in targets.items()}
        files.update({"targets.json": self._signed(listed), "snapshot.json": self._signed(snapshot),
                      "timestamp.json": self._signed(timestamp), "1.root.json": self._root})
        self.files = files

    def forged_timestamp(self) -> bytes:
        """timestamp.json as served, signed again by a key the root does not know."""
        metadata = Metadata[Timestamp].from_bytes(self.files["timestamp.json"])
        metadata.signatures.clear()
        metadata.sign(CryptoSigner.generate_ed25519())
        return metadata.to_bytes(JSONSerializer())

    def _expiry(self) -> datetime:
        return (datetime.now(UTC) + self.lifetime).replace(microsecond=0)

    def _signed(self, signed: Root | Targets | Snapshot | Timestamp) -> bytes:
        metadata: Metadata[Any] = Metadata(signed)  # T is one role type, not a union of them
        metadata.sign(self.signer)
        return metadata.to_bytes(JSONSerializer())


def trust_config(shards: list[tuple[TiledLog, str]],
                 retired: dict[str, datetime] | None = None, *,
                 rekor_v1: Sequence[tuple[LogSigner, str]] = ()) -> dict[str, bytes]:
    """The two targets for Rekor v2 `shards` (a tiled log and the URL that serves it, whose
    host is the log's name): the trusted root with each shard's key (valid until
    `retired[url]`, if given) and a signing config listing each with API version 2; and for
    each Rekor v1 log in `rekor_v1` (its signer and URL), its ECDSA key, listed with API
    version 1."""
    retired = retired or {}
    tlogs = [_tlog(log, url, retired.get(url)) for log, url in shards]
    tlogs += [_rekor_v1_tlog(signer, url) for signer, url in rekor_v1]
    root = {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": tlogs, "certificateAuthorities": [], "ctlogs": []}
    since = {"start": "2025-01-01T00:00:00Z"}
    config = {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
              "caUrls": [{"url": "https://fulcio.example", "majorApiVersion": 1,
                          "operator": "example", "validFor": since}],
              "rekorTlogUrls": [{"url": url, "majorApiVersion": version, "operator": "example",
                                 "validFor": since}
                                for version, urls in ((2, [u for _, u in shards]),
                                                      (1, [u for _, u in rekor_v1]))
                                for url in urls]}
    return {TRUSTED_ROOT: json.dumps(root).encode(), SIGNING_CONFIG: json.dumps(config).encode()}


def _tlog(log: TiledLog, url: str, until: datetime | None) -> dict[str, Any]:
    spki = log.public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    valid: dict[str, str] = {"start": "2025-01-01T00:00:00Z"}
    if until is not None:
        valid["end"] = until.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": base64.b64encode(spki).decode(),
                          "keyDetails": "PKIX_ED25519", "validFor": valid},
            "logId": {"keyId": base64.b64encode(log.key_id).decode()}}


def _rekor_v1_tlog(signer: LogSigner, url: str) -> dict[str, Any]:
    return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": base64.b64encode(signer.spki_der).decode(),
                          "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": {"start": "2025-01-01T00:00:00Z"}},
            "logId": {"keyId": base64.b64encode(signer.log_id_bytes).decode()}}


@dataclass
class TufFaults:
    """Thread-safe fault switches for the served repository."""

    #: timestamp.json signed by a key the root does not know.
    forge_timestamp: bool = False
    _errors: int = 0
    _tampered: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def server_errors(self, count: int = 1) -> None:
        """The next `count` answers are 503."""
        with self._lock:
            self._errors += count

    def tamper(self, target: str) -> None:
        """Serve target `target` with its last byte flipped (its metadata unchanged)."""
        with self._lock:
            self._tampered.add(target)

    def clear(self) -> None:
        with self._lock:
            self.forge_timestamp, self._errors = False, 0
            self._tampered.clear()

    def failing(self) -> bool:
        with self._lock:
            if self._errors:
                self._errors -= 1
                return True
            return False

    def tampered(self, target: str) -> bool:
        with self._lock:
            return target in self._tampered


class _TufServer(QuietServer):

    def __init__(self, address: tuple[str, int], repository: TufRepository) -> None:
        super().__init__(address, _Handler)
        self.repository = repository
        self.faults = TufFaults()
        self.requests: Counter[str] = Counter()



class _Handler(BaseHTTPRequestHandler):
    server: _TufServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        server = self.server
        name = self.path.lstrip("/")
        server.requests[name.removeprefix("targets/")] += 1
        if server.faults.failing():
            return self._answer(503, b"unavailable")
        body = server.repository.files.get(name)
        if body is None:
            return self._answer(404, b"not found")
        if name == "timestamp.json" and server.faults.forge_timestamp:
            body = server.repository.forged_timestamp()
        if name.startswith("targets/") and server.faults.tampered(name.removeprefix("targets/")):
            body = body[:-1] + bytes([body[-1] ^ 1])
        self._answer(200, body)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class RunningTufServer:
    """A running repository: `url` is its base (metadata at `url/`, targets at `url/targets/`)."""

    def __init__(self, server: _TufServer, thread: threading.Thread) -> None:
        self._server, self._thread = server, thread
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{int(port)}"

    @property
    def faults(self) -> TufFaults:
        return self._server.faults

    @property
    def requests(self) -> Counter[str]:
        return self._server.requests

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningTufServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def serve_tuf(repository: TufRepository, host: str = "127.0.0.1",
              port: int = 0) -> RunningTufServer:
    """Serve `repository` in a background thread."""
    server = _TufServer((host, port), repository)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              name="tuf-testlog", daemon=True)
    thread.start()
    return RunningTufServer(server, thread)
