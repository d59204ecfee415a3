"""HTTP on 127.0.0.1 for a ``PublisherIndex``: ``<url>/files/sha2-256:<hex>`` and
``<url>/links/<type>/sha2-256:<hex>``, like Oak's ``oak-files`` and ``oak-index`` buckets (a
missing file or link is a 404), with fault switches and request counters:

    with serve_index(index) as server:
        server.faults.alter(sha256_hex)      # serve other bytes under the name
        server.faults.hide(sha256_hex)       # 404 for a file that links still name
        server.faults.server_errors(3, status=503)
        server.faults.cut_links(1)           # a link answer cut short in transit
        server.faults.relink(16, signature_hex, [other_key_hex])  # a link lists other files
        server.faults.drop(21, key_hex, endorsement_hex)  # a link no longer lists one file
        assert server.requests.links(21) == 3
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from testlog.counter import RequestCounter
from testlog.http_server import QuietServer
from testlog.publisher import PublisherIndex

_FILE = re.compile(r"/files/sha2-256:(?P<hash>[0-9a-f]{64})")
_LINK = re.compile(r"/links/(?P<type>[0-9]{1,3})/sha2-256:(?P<hash>[0-9a-f]{64})")


@dataclass
class IndexFaults:
    """Thread-safe fault switches for the served store."""

    #: Seconds before every answer (a bucket far away); may be assigned directly.
    delay: float = 0.0
    _altered: set[str] = field(default_factory=set)
    _hidden: set[str] = field(default_factory=set)
    #: (status, kind or None for any) of the next failing answers
    _errors: list[tuple[int, str | None]] = field(default_factory=list)
    _cut: int = 0
    #: (link type, source) -> the targets served instead of the index's own
    _relinked: dict[tuple[int, str], list[str]] = field(default_factory=dict)
    #: (link type, source) -> targets left out of the link as served
    _dropped: dict[tuple[int, str], set[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def alter(self, sha256_hex: str) -> None:
        """Serve file ``sha256_hex`` with its last byte flipped."""
        with self._lock:
            self._altered.add(sha256_hex)

    def hide(self, sha256_hex: str) -> None:
        """Answer 404 for file ``sha256_hex`` (links naming it stay)."""
        with self._lock:
            self._hidden.add(sha256_hex)

    def server_errors(self, count: int = 1, *, status: int = 503,
                      kind: str | None = None) -> None:
        """The next ``count`` requests (of ``kind``: "files" or "links/<type>", if given) get
        ``status`` (a 5xx)."""
        if not 500 <= status <= 599 or count < 1:
            raise ValueError("server_errors takes a 5xx status and a count of at least 1")
        with self._lock:
            self._errors.extend([(status, kind)] * count)

    def cut_links(self, count: int = 1) -> None:
        """The next ``count`` link answers lose their last 3 bytes (status 200)."""
        with self._lock:
            self._cut += count

    def relink(self, link_type: int, source_hex: str, targets: list[str]) -> None:
        """Serve link ``<link_type>/sha2-256:<source_hex>`` as listing ``targets`` (hex), the
        index's own files and links unchanged: an index that names the wrong file."""
        with self._lock:
            self._relinked[(link_type, source_hex)] = list(targets)

    def drop(self, link_type: int, source_hex: str, target_hex: str) -> None:
        """Serve link ``<link_type>/sha2-256:<source_hex>`` without ``target_hex``: an index
        that withdraws a file it listed (a key's list dropping an endorsement)."""
        with self._lock:
            self._dropped.setdefault((link_type, source_hex), set()).add(target_hex)

    def clear(self) -> None:
        with self._lock:
            self._altered.clear()
            self._relinked.clear()
            self._dropped.clear()
            self._hidden.clear()
            self._errors.clear()
            self._cut = 0
            self.delay = 0.0

    def take_cut(self) -> bool:
        with self._lock:
            self._cut, cut = max(0, self._cut - 1), self._cut > 0
            return cut

    def take_error(self, kind: str) -> int | None:
        with self._lock:
            for at, (status, only) in enumerate(self._errors):
                if only in (None, kind):
                    del self._errors[at]
                    return status
            return None

    def link(self, link_type: int, source_hex: str, body: bytes | None) -> bytes | None:
        """What the store serves for a link: the index's own body, or a relinked one."""
        with self._lock:
            targets = self._relinked.get((link_type, source_hex))
            dropped = self._dropped.get((link_type, source_hex), set())
        if targets is None and not dropped:
            return body
        if targets is None:
            if body is None:
                return None
            targets = [line[len("sha2-256:"):] for line in body.decode().split()]
        return "".join(f"sha2-256:{target}\n" for target in targets
                       if target not in dropped).encode()

    def file(self, sha256_hex: str, content: bytes | None) -> bytes | None:
        """What the store serves for a file: None (404), its bytes, or altered bytes."""
        with self._lock:
            if content is None or sha256_hex in self._hidden:
                return None
            if sha256_hex in self._altered:
                return content[:-1] + bytes([content[-1] ^ 1])
            return content


class IndexRequests(RequestCounter[str]):
    """Requests received, by ``"files"`` or ``"links/<type>"``."""

    def files(self) -> int:
        return self["files"]

    def links(self, link_type: int) -> int:
        return self[f"links/{link_type}"]


class _IndexServer(QuietServer):
    block_on_close = False

    def __init__(self, address: tuple[str, int], index: PublisherIndex,
                 faults: IndexFaults) -> None:
        super().__init__(address, _Handler)
        self.index = index
        self.faults = faults
        self.requests = IndexRequests()


class _Handler(BaseHTTPRequestHandler):
    server: _IndexServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        file, link = _FILE.fullmatch(path), _LINK.fullmatch(path)
        kind = "files" if file else f"links/{link['type']}" if link else "other"
        with self.server.requests.answering(kind):
            if self.server.faults.delay:
                time.sleep(self.server.faults.delay)
            self._answer(kind, file, link)

    def _answer(self, kind: str, file: re.Match[str] | None,
                link: re.Match[str] | None) -> None:
        server = self.server
        status = server.faults.take_error(kind)
        if status is not None:
            self._send(status, b"<html><body>server error</body></html>\n")
            return
        body = None
        if file is not None:
            with server.index.lock:
                content = server.index.files.get(file["hash"])
            body = server.faults.file(file["hash"], content)
        elif link is not None:
            link_type, source = int(link["type"]), link["hash"]
            body = server.faults.link(link_type, source,
                                      server.index.link_body(link_type, source))
            if body is not None and server.faults.take_cut():
                body = body[:-3]
        if body is None:
            self._send(404, b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>")
            return
        self._send(200, body)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class RunningIndexServer:
    """A served publisher index: ``files_url`` and ``links_url`` are the two base URLs."""

    def __init__(self, server: _IndexServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self.files_url = f"{self.url}/files"
        self.links_url = f"{self.url}/links"

    @property
    def index(self) -> PublisherIndex:
        return self._server.index

    @property
    def faults(self) -> IndexFaults:
        return self._server.faults

    @property
    def requests(self) -> IndexRequests:
        return self._server.requests

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningIndexServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def serve_index(index: PublisherIndex, host: str = "127.0.0.1", port: int = 0, *,
                faults: IndexFaults | None = None) -> RunningIndexServer:
    """Serve ``index`` in a background thread."""
    server = _IndexServer((host, port), index, faults or IndexFaults())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              name="publisher-index", daemon=True)
    thread.start()
    return RunningIndexServer(server, thread)
