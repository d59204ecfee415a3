"""HTTP on 127.0.0.1 for a ``TiledLog`` (C2SP tlog-tiles), with fault switches and counters.

Serves ``<url>/checkpoint``, ``<url>/tile/<L>/<N>[.p/<W>]`` and
``<url>/tile/entries/<N>[.p/<W>]`` (``url`` ends in ``/api/v2`` like a Rekor v2 shard). A
partial tile is served when its width is the width at the served size, or a smaller one (the
partials of earlier checkpoints) unless the full tile exists and ``keep_partials`` is off; a
full tile only once it is full. ``TileFaults`` switches misbehaviour on while the server runs:

    with serve_tiles(log) as server:
        server.faults.corrupt("tile/1/000")          # a wrong tile hash
        server.faults.truncate_bundle(3)             # a cut-short entry bundle
        server.faults.pad("tile/entries/001", 10**8) # a bundle with 100 MB after it
        server.faults.fork = log.fork(100, others)   # serve another history
        server.faults.rollback(50)                   # an older, smaller checkpoint
        server.faults.overstate = 2**40              # a signed size the log does not hold
        server.faults.origin = "x" * 100_000         # a checkpoint signed under another name
        server.faults.bad_cosignature = "witness0.example"  # that witness's line, a bit flipped
        server.faults.rate_limit(2, retry_after=1)   # 429s with Retry-After
        server.faults.stall(1, seconds=5)            # a body that trickles
        server.faults.server_errors(3, status=503)
        assert server.requests[RequestKind.CHECKPOINT] == 1
"""

from __future__ import annotations

import enum
import re
import socket
import threading
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from testlog.counter import RequestCounter
from testlog.http_server import QuietServer
from testlog.tiles import TILE_WIDTH, TiledLog

API = "/api/v2"
_PATH = re.compile(
    r"/tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


class RequestKind(enum.StrEnum):
    CHECKPOINT = "checkpoint"
    TILE = "tile"
    BUNDLE = "bundle"
    OTHER = "other"


class FailureKind(enum.Enum):
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    STALL = "stall"


@dataclass
class _Scheduled:
    kind: FailureKind
    remaining: int
    target: RequestKind | None
    status: int = 503
    retry_after: int = 1
    seconds: float = 0.0


@dataclass
class TileFaults:
    """Thread-safe fault switches; ``fork``, ``keep_partials`` may be assigned directly."""

    #: Serve this log instead (another history under the same key): a split view.
    fork: TiledLog | None = None
    #: Keep serving partial tiles once the full tile exists (real logs MAY delete them).
    keep_partials: bool = True
    #: Sign and serve a checkpoint of this size over the log's current root (its tiles are
    #: those of the size it holds): a log that claims entries it does not have.
    overstate: int | None = None
    #: Sign and serve checkpoints under this origin instead of the log's name.
    origin: str | None = None
    #: Serve checkpoints whose cosignature by the witness of this name has a flipped bit: a
    #: log (or witness) that serves a known witness's line the witness never made.
    bad_cosignature: str | None = None
    _corrupt: set[str] = field(default_factory=set)
    _truncated: set[int] = field(default_factory=set)
    _padded: dict[str, int] = field(default_factory=dict)
    _rollback: int | None = None
    _scheduled: list[_Scheduled] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def corrupt(self, tile: str) -> None:
        """Flip a bit in hash tile or bundle ``tile`` (``tile/1/000``, partial or not)."""
        with self._lock:
            self._corrupt.add(tile.split(".p/")[0])

    def truncate_bundle(self, index: int) -> None:
        """Serve entry bundle ``index`` cut in half."""
        with self._lock:
            self._truncated.add(index)

    def pad(self, tile: str, size: int) -> None:
        """Serve ``tile`` (``tile/entries/001``, partial or not) with ``size`` zero bytes after
        it: an answer longer than any tile or bundle can be."""
        with self._lock:
            self._padded[tile.split(".p/")[0]] = size

    def rollback(self, size: int | None) -> None:
        """Serve the log as if it had ``size`` entries (None: switch off)."""
        with self._lock:
            self._rollback = size

    def rate_limit(self, count: int = 1, *, retry_after: int = 1,
                   kind: RequestKind | None = None) -> None:
        self._schedule(_Scheduled(FailureKind.RATE_LIMIT, count, kind, 429, retry_after))

    def server_errors(self, count: int = 1, *, status: int = 503,
                      kind: RequestKind | None = None) -> None:
        if not 500 <= status <= 599:
            raise ValueError("server_errors takes a 5xx status")
        self._schedule(_Scheduled(FailureKind.SERVER_ERROR, count, kind, status))

    def stall(self, count: int = 1, *, seconds: float = 5.0,
              kind: RequestKind | None = None) -> None:
        """The next ``count`` answers trickle their body out over ``seconds``."""
        self._schedule(_Scheduled(FailureKind.STALL, count, kind, 200, seconds=seconds))

    def clear(self) -> None:
        with self._lock:
            self._corrupt.clear()
            self._truncated.clear()
            self._padded.clear()
            self._rollback = None
            self._scheduled.clear()
            self.fork = None
            self.keep_partials = True
            self.overstate = None
            self.origin = None
            self.bad_cosignature = None

    def take(self, kind: RequestKind) -> _Scheduled | None:
        with self._lock:
            for failure in self._scheduled:
                if failure.remaining > 0 and failure.target in (None, kind):
                    failure.remaining -= 1
                    return failure
            return None

    def padding(self, tile: str) -> int:
        with self._lock:
            return self._padded.get(tile, 0)

    def snapshot(self) -> tuple[frozenset[str], frozenset[int], int | None]:
        with self._lock:
            return frozenset(self._corrupt), frozenset(self._truncated), self._rollback

    def _schedule(self, failure: _Scheduled) -> None:
        if failure.remaining < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._scheduled.append(failure)


class _TileServer(QuietServer):
    block_on_close = False

    def __init__(self, address: tuple[str, int], log: TiledLog, faults: TileFaults) -> None:
        super().__init__(address, _Handler)
        self.log = log
        self.faults = faults
        self.requests: RequestCounter[RequestKind] = RequestCounter()
        self.closing = threading.Event()
        self.errors: list[str] = []
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def track(self, conn: socket.socket, is_open: bool) -> None:
        with self._open_lock:
            (self._open.add if is_open else self._open.discard)(conn)

    def drop_connections(self) -> None:
        with self._open_lock:
            for conn in self._open:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Handler(BaseHTTPRequestHandler):
    server: _TileServer
    protocol_version = "HTTP/1.1"
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    timeout = 30

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        kind = _kind(path)
        server = self.server
        server.requests.add(kind)
        failure = server.faults.take(kind)
        if failure is not None and failure.kind is FailureKind.RATE_LIMIT:
            self._send(429, b"<html><body>429 Too Many Requests</body></html>\n", "text/html",
                       {"Retry-After": str(failure.retry_after)})
            return
        if failure is not None and failure.kind is FailureKind.SERVER_ERROR:
            self._send(failure.status, b"server error\n", "text/plain")
            return
        try:
            status, body = self._answer(path, kind)
        except Exception as exc:  # a bug in the test log: answer, and keep it for the test
            server.errors.append(traceback.format_exc())
            status, body = 500, f"test log error: {exc!r}\n".encode()
        content_type = "text/plain; charset=utf-8" if kind is RequestKind.CHECKPOINT else (
            "application/octet-stream")
        stall = failure.seconds if failure is not None and status == 200 else 0.0
        self._send(status, body, content_type, stall=stall)

    def _answer(self, path: str, kind: RequestKind) -> tuple[int, bytes]:
        faults = self.server.faults
        corrupt, truncated, rollback = faults.snapshot()
        log = faults.fork or self.server.log
        with log.lock:
            size = log.size if rollback is None else min(rollback, log.size)
            if kind is RequestKind.CHECKPOINT:
                signed = size if faults.overstate is None else faults.overstate
                return 200, log.sign(signed, log.root(size), origin=faults.origin,
                                     corrupt_witness=faults.bad_cosignature).encode()
            match = _PATH.fullmatch(path.removeprefix(API))
            if match is None:
                return 404, b"not found\n"
            level = -1 if match["level"] == "entries" else int(match["level"])
            index = int(match["index"].replace("x", "").replace("/", ""))
            width = TILE_WIDTH if match["width"] is None else int(match["width"])
            available = log.tile_width(max(level, 0), index, size)
            # tlog-tiles: partial tiles of earlier checkpoints are served until the full tile
            # exists; then a log MAY delete them (keep_partials off).
            earlier = width < available and (faults.keep_partials or available < TILE_WIDTH)
            if not (width == available or earlier):
                return 404, b"not found\n"
            if level < 0:
                body = log.entry_bundle(index, width)
                if index in truncated:
                    body = body[: len(body) // 2]
            else:
                body = log.hash_tile(level, index, width)
        name = path.removeprefix(API).lstrip("/").split(".p/")[0]
        if name in corrupt:
            body = body[:-1] + bytes([body[-1] ^ 1])
        return 200, body + bytes(faults.padding(name))

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None, *, stall: float = 0.0) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not stall:
            self.wfile.write(body)
            return
        # A body that trickles: small pieces spread over `stall` seconds.
        pieces = max(1, min(len(body), 50))
        step = -(-len(body) // pieces)
        for start in range(0, len(body), step):
            self.wfile.write(body[start : start + step])
            self.wfile.flush()
            if self.server.closing.wait(stall / pieces):
                self.close_connection = True
                return


def _kind(path: str) -> RequestKind:
    if path == f"{API}/checkpoint":
        return RequestKind.CHECKPOINT
    if path.startswith(f"{API}/tile/entries/"):
        return RequestKind.BUNDLE
    if path.startswith(f"{API}/tile/"):
        return RequestKind.TILE
    return RequestKind.OTHER


class RunningTileServer:
    """A running tiled log: ``url`` is the prefix (``http://127.0.0.1:PORT/api/v2``)."""

    def __init__(self, server: _TileServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{port}{API}"

    @property
    def log(self) -> TiledLog:
        return self._server.log

    @property
    def faults(self) -> TileFaults:
        return self._server.faults

    @property
    def requests(self) -> RequestCounter[RequestKind]:
        return self._server.requests

    @property
    def errors(self) -> list[str]:
        return list(self._server.errors)

    def close(self) -> None:
        if self._server.closing.is_set():
            return
        self._server.closing.set()
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningTileServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def serve_tiles(log: TiledLog, host: str = "127.0.0.1", port: int = 0, *,
                faults: TileFaults | None = None) -> RunningTileServer:
    """Serve ``log`` in a background thread."""
    server = _TileServer((host, port), log, faults or TileFaults())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              name="tiled-testlog", daemon=True)
    thread.start()
    return RunningTileServer(server, thread)
