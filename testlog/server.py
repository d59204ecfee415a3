"""An HTTP server speaking the Rekor v1 read API over a ``RekorLog``, with fault switches.

Standard library ``ThreadingHTTPServer``, HTTP/1.1 with keep-alive (like the real
service behind its proxy). ``serve()`` runs it in a background thread.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from testlog.api import ApiError, RekorApi, Unanswered
from testlog.counter import RequestCounter
from testlog.faults import Endpoint, FailureKind, Faults, ScheduledFailure
from testlog.http_server import QuietServer
from testlog.log import RekorLog

API = "/api/v1"

# The per-IP rate limit is enforced by the proxy in front of Rekor, which answers in HTML.
RATE_LIMIT_PAGE = (
    b"<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n"
    b"<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_GATEWAY_PAGE = (
    b"<html>\r\n<head><title>%d Server Error</title></head>\r\n<body>\r\n"
    b"<center><h1>%d Server Error</h1></center>\r\n</body>\r\n</html>\r\n"
)


class _Response:
    def __init__(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


def _json(status: int, document: object) -> _Response:
    # Go's json.Encoder ends every document with a newline; so does this server.
    return _Response(status, json.dumps(document, separators=(",", ":")).encode() + b"\n")


def _error(exc: ApiError) -> _Response:
    if exc.empty:
        return _Response(exc.status, b"", content_type="")
    return _json(exc.status, {"code": exc.code, "message": exc.message})


class RekorServer(QuietServer):
    block_on_close = False

    def __init__(self, address: tuple[str, int], log: RekorLog, faults: Faults) -> None:
        super().__init__(address, _Handler)
        self.log = log
        self.faults = faults
        self.requests: RequestCounter[Endpoint] = RequestCounter()
        #: Content-addressed files served at /files/<name> (name: `sha2-256:<hex>`), like a
        #: publisher's statement store next to the log.
        self.files: dict[str, bytes] = {}
        self.closing = threading.Event()
        self.errors: list[str] = []  # tracebacks of unexpected exceptions while answering
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
    server: RekorServer
    protocol_version = "HTTP/1.1"
    # One write per response and no Nagle: otherwise delayed ACKs cost 40 ms per request.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    timeout = 30  # idle keep-alive connections are closed after this long

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read counters, not access logs

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        endpoint, route = _route(method, url.path)
        server = self.server
        with server.requests.answering(endpoint):
            self._answer(server, endpoint, route, url, body)

    def _answer(self, server: RekorServer, endpoint: Endpoint, route: Route,
                url: SplitResult, body: bytes) -> None:
        if server.faults.delay > 0 and self._wait(server.faults.delay):
            return
        failure = server.faults.take_failure(endpoint)
        if failure is not None and failure.kind is FailureKind.REPLACE:
            self._send(_Response(200, failure.body))
            return
        if failure is not None and failure.kind not in (FailureKind.TRUNCATE,
                                                        FailureKind.TRICKLE):
            self._fail(failure)
            return
        try:
            response = route(self, parse_qs(url.query), body)
        except ApiError as exc:
            response = _error(exc)
        except Unanswered:
            self._fail(ScheduledFailure(FailureKind.HANG, 1, endpoint))
            return
        except Exception as exc:  # a bug in the test log: answer, and keep it for the test
            server.errors.append(traceback.format_exc())
            response = _json(500, {"code": 500, "message": f"test log error: {exc!r}"})
        if failure is not None and failure.kind is FailureKind.TRICKLE:
            self._trickle(response, failure.interval)
            return
        if failure is not None and response.status == 200:
            response.body = response.body[: len(response.body) // 2]
        self._send(response)

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _wait(self, seconds: float) -> bool:
        """Sleep; True if the server is closing (then drop the request)."""
        if self.server.closing.wait(seconds):
            self.close_connection = True
            return True
        return False

    def _fail(self, failure: ScheduledFailure) -> None:
        if failure.kind is FailureKind.HANG:
            # Never answer: the client must time out. Bounded so the thread always ends.
            self._wait(self.server.faults.hang_limit)
            self.close_connection = True
            return
        if failure.kind is FailureKind.RATE_LIMIT:
            headers = {"Retry-After": str(failure.retry_after)}
            self._send(_Response(429, RATE_LIMIT_PAGE, "text/html", headers))
            return
        if failure.kind is FailureKind.REDIRECT:  # http.server writes headers as Latin-1
            location = failure.body.decode("latin-1")
            self._send(_Response(302, b"", "text/plain", {"Location": location}))
            return
        if failure.status == 500:  # Rekor itself: JSON; 502-504 come from the proxy: HTML
            self._send(_json(500, {"code": 500, "message": "Internal Server Error"}))
        else:
            page = _GATEWAY_PAGE % (failure.status, failure.status)
            self._send(_Response(failure.status, page, "text/html"))

    def _trickle(self, response: _Response, interval: float) -> None:
        """Headers at once, then the body one byte per `interval` (until the client leaves)."""
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.flush()
        for byte in response.body:
            if self._wait(interval):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:  # the client gave up, as it should
                self.close_connection = True
                return

    def _send(self, response: _Response) -> None:
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    # -- routes ---------------------------------------------------------------------------

    def api(self) -> RekorApi:
        return RekorApi(self.server.log, self.server.faults.content())

    def get_log_info(self, query: dict[str, list[str]], body: bytes) -> _Response:
        with self.server.log.lock:
            return _json(200, self.api().log_info())

    def get_consistency(self, query: dict[str, list[str]], body: bytes) -> _Response:
        first = _int_param(query, "firstSize", default=1, minimum=1)
        last = _int_param(query, "lastSize", minimum=1)
        tree_id = _tree_id_param(query)
        with self.server.log.lock:
            return _json(200, self.api().consistency_proof(first, last, tree_id))

    def get_public_key(self, query: dict[str, list[str]], body: bytes) -> _Response:
        tree_id = _tree_id_param(query)
        with self.server.log.lock:
            pem = self.api().public_key(tree_id)
        return _Response(200, pem, "application/x-pem-file")

    def get_entry_by_index(self, query: dict[str, list[str]], body: bytes) -> _Response:
        index = _int_param(query, "logIndex", minimum=0)
        with self.server.log.lock:
            return _json(200, self.api().entry_by_index(index))

    def post_retrieve(self, query: dict[str, list[str]], body: bytes) -> _Response:
        request = _json_body(body)
        with self.server.log.lock:
            results = self.api().retrieve(request)
        faults = self.server.faults
        if faults.duplicate_batches:
            results = [r for r in results for _ in (0, 1)]
        if faults.shuffle_batches:
            random.shuffle(results)
        return _json(200, results)

    def post_search_index(self, query: dict[str, list[str]], body: bytes) -> _Response:
        request = _json_body(body)
        with self.server.log.lock:
            return _json(200, self.api().search_index(request))


Route = Callable[[_Handler, dict[str, list[str]], bytes], _Response]


def _route(method: str, path: str) -> tuple[Endpoint, Route]:
    table: dict[tuple[str, str], tuple[Endpoint, Route]] = {
        ("GET", f"{API}/log"): (Endpoint.LOG_INFO, _Handler.get_log_info),
        ("GET", f"{API}/log/proof"): (Endpoint.CONSISTENCY, _Handler.get_consistency),
        ("GET", f"{API}/log/publicKey"): (Endpoint.PUBLIC_KEY, _Handler.get_public_key),
        ("GET", f"{API}/log/entries"): (Endpoint.ENTRY_BY_INDEX, _Handler.get_entry_by_index),
        ("POST", f"{API}/log/entries/retrieve"): (Endpoint.RETRIEVE, _Handler.post_retrieve),
        ("POST", f"{API}/index/retrieve"): (Endpoint.SEARCH_INDEX, _Handler.post_search_index),
    }
    if (method, path) in table:
        return table[(method, path)]
    if method == "GET" and path.startswith("/files/"):
        return Endpoint.FILES, _file(path[len("/files/"):])
    prefix = f"{API}/log/entries/"
    if method == "GET" and path.startswith(prefix) and "/" not in path[len(prefix) :]:
        return Endpoint.ENTRY_BY_UUID, _entry_by_uuid(path[len(prefix) :])
    if any(p == path for _, p in table) or path.startswith(prefix):
        return Endpoint.OTHER, _raise(ApiError(405, f"method {method} is not allowed"))
    return Endpoint.OTHER, _raise(ApiError(404, f"path {path} was not found"))


def _file(name: str) -> Route:
    def route(handler: _Handler, query: dict[str, list[str]], body: bytes) -> _Response:
        content = handler.server.files.get(name)
        if content is None:
            raise ApiError(404, f"no file {name}")
        return _Response(200, content, "application/octet-stream")

    return route


def _entry_by_uuid(uuid: str) -> Route:
    def route(handler: _Handler, query: dict[str, list[str]], body: bytes) -> _Response:
        with handler.server.log.lock:
            return _json(200, handler.api().entry_by_uuid(uuid))

    return route


def _raise(exc: ApiError) -> Route:
    def route(handler: _Handler, query: dict[str, list[str]], body: bytes) -> _Response:
        raise exc

    return route


def _int_param(
    query: dict[str, list[str]], name: str, *, minimum: int, default: int | None = None
) -> int:
    values = query.get(name)
    if not values:
        if default is None:
            # go-swagger's validation error: HTTP 422 with its own code 602 (required).
            raise ApiError(422, f"{name} in query is required", code=602)
        return default
    try:
        value = int(values[0])
    except ValueError:
        raise ApiError(400, f"{name} in query must be of type int64: {values[0]!r}") from None
    if value < minimum:
        raise ApiError(422, f"{name} in query should be greater than or equal to {minimum}",
                       code=604)  # fmt: skip
    return value


def _tree_id_param(query: dict[str, list[str]]) -> int | None:
    values = query.get("treeID")
    if not values:
        return None
    if not values[0].isdigit():
        raise ApiError(422, f"treeID in query should match '^[0-9]+$': {values[0]!r}", code=605)
    return int(values[0])


def _json_body(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        raise ApiError(400, "the request body is not valid JSON") from None


class RunningServer:
    """A running local Rekor: ``url`` is the base (``http://127.0.0.1:PORT``)."""

    def __init__(self, server: RekorServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        host, port = server.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.url = f"http://{self.host}:{self.port}"

    @property
    def log(self) -> RekorLog:
        return self._server.log

    @property
    def faults(self) -> Faults:
        return self._server.faults

    @property
    def requests(self) -> RequestCounter[Endpoint]:
        return self._server.requests

    @property
    def files(self) -> dict[str, bytes]:
        """Served at ``files_url`` + name (``sha2-256:<hex>``): a statement store."""
        return self._server.files

    @property
    def files_url(self) -> str:
        return f"{self.url}/files/"

    @property
    def errors(self) -> list[str]:
        """Tracebacks of requests the test log failed to answer (a bug: should stay empty)."""
        return list(self._server.errors)

    def close(self) -> None:
        """Stop serving; wakes hung and delayed requests so every thread ends. Idempotent."""
        if self._server.closing.is_set():
            return
        self._server.closing.set()
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve(
    log: RekorLog | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    faults: Faults | None = None,
) -> RunningServer:
    """Start serving ``log`` (a new empty one by default) in a background thread."""
    server = RekorServer((host, port), log or RekorLog(), faults or Faults())
    # A short poll interval makes close() (which waits for one poll) quick in tests.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="testlog", daemon=True
    )
    thread.start()
    return RunningServer(server, thread)
