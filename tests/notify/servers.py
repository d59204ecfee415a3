"""Real servers on 127.0.0.1 for the channel tests: a webhook receiver, a GitHub REST endpoint,
an SMTP server with STARTTLS and AUTH, and the certificates it needs.

The fake GitHub answers the way GitHub's REST API (version 2022-11-28) shapes its answers:
`POST /repos/{owner}/{repo}/issues` returns 201 and the issue object (`number`, `html_url`,
`state`, `labels` as objects, ...), `GET /search/issues` returns `total_count`,
`incomplete_results` and `items`, 401 `{"message": "Bad credentials"}` without a valid token,
422 "Validation Failed" for a title over 256 characters or a body over 65,536, and 403 with
`x-ratelimit-remaining: 0` when rate limited. Its search implements the qualifiers the
channel uses (`repo:`, `is:issue`, `is:pr`, `is:open`, `is:closed`, `in:body`) and quoted or
bare terms, case-insensitively.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import shlex
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from testlog.http_server import QuietServer


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain"})
    #: Seconds to wait before answering (a hung server).
    delay: float = 0.0
    #: Send the body one byte at a time, this many seconds apart (a trickling server).
    trickle: float = 0.0


Route = Callable[[Request], Reply]


class LocalServer:
    """An HTTP server in a thread; every request is recorded, `route` makes each answer."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Buffered: the status line, headers and body leave in one write (flushed after
            # each request), not as two segments a kept-alive client's delayed ACK holds 40 ms.
            wbufsize = -1

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def do_PATCH(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request(self.command, parts.path, parse_qs(parts.query),
                                  {k.lower(): v for k, v in self.headers.items()},
                                  self.rfile.read(length))
                server.requests.append(request)
                try:
                    reply = server.route(request)
                except Exception as error:  # a bug of the fake, reported by the fixture
                    server.errors.append(error)
                    reply = Reply(500, b"fake server error")
                time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if reply.trickle:
                        for byte in reply.body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(reply.trickle)
                    else:
                        self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, which is what some tests want

        self._httpd = QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def unused_port() -> int:
    """A port nothing listens on (bound, then released): connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def strict_json_receiver(request: Request) -> Reply:
    """A webhook receiver holding its input to I-JSON (RFC 7493 §2.1: no lone surrogate), as
    Rust's serde_json or a PostgreSQL jsonb column does: 400 for a message it cannot read."""
    try:
        json.dumps(request.json(), ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError):
        return Reply(400, b"invalid JSON")
    return Reply()


def json_reply(status: int, document: object, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(document).encode(),
                 {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


# -- GitHub -----------------------------------------------------------------------------------

#: GitHub refuses a longer issue body or comment (422 "body is too long").
BODY_CHARS = 65536


class FakeGitHub:
    """Issues of repositories held in memory, served through GitHub's REST shapes."""

    def __init__(self, token: str, repositories: tuple[str, ...] = ("example/boot-audit",)):
        self.token = token
        self.issues: dict[str, list[dict[str, Any]]] = {r: [] for r in repositories}
        self.comments: dict[tuple[str, int], list[str]] = {}
        self.has_issues = True
        self.rate_limited = False
        #: Replaces the search answer's items (to serve malformed answers).
        self.search_items_override: object = None
        #: The search timed out: `incomplete_results` true and no items, as GitHub answers
        #: ("Timeouts and incomplete results", REST API search docs).
        self.search_timed_out = False
        #: Refuse to change an issue (403, as for a token without write access to issues).
        self.refuse_changes = False
        #: Refuse comments (403, as for a locked issue).
        self.refuse_comments = False
        self.web = "https://github.test"

    def route(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return json_reply(401, {"message": "Bad credentials",
                                    "documentation_url": "https://docs.github.com/rest"})
        if self.rate_limited:
            return json_reply(403, {"message": "API rate limit exceeded"}, {
                "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1767225600"})
        if request.method == "GET" and request.path == "/search/issues":
            return self._search(request.query.get("q", [""])[0], request.query)
        match = re.fullmatch(r"/repos/([^/]+/[^/]+)(/issues(?:/(\d+)(/comments)?)?)?",
                             request.path)
        if not match or match.group(1) not in self.issues:
            return json_reply(404, {"message": "Not Found"})
        repo, issues, number, comments = match.groups()
        if request.method == "GET" and issues is None:
            return json_reply(200, {"full_name": repo, "html_url": f"{self.web}/{repo}",
                                    "has_issues": self.has_issues, "private": True})
        if request.method == "POST" and number is None and issues:
            return self._create(repo, request.json())
        issue = self._issue(repo, int(number)) if number else None
        if issue is None:
            return json_reply(404, {"message": "Not Found"})
        if request.method == "POST" and comments and self.refuse_comments:
            return json_reply(403, {"message": "Unable to create comment because issue is "
                                               "locked."})
        if request.method == "POST" and comments:
            self.comments.setdefault((repo, issue["number"]), []).append(request.json()["body"])
            return json_reply(201, {"id": 1, "body": request.json()["body"]})
        if request.method == "PATCH" and not comments and self.refuse_changes:
            return json_reply(403, {"message": "Resource not accessible by integration"})
        if request.method == "PATCH" and not comments:
            change = request.json()
            issue["state"] = change.get("state", issue["state"])
            issue["state_reason"] = change.get("state_reason")
            return json_reply(200, issue)
        return json_reply(404, {"message": "Not Found"})

    def add_issue(self, repo: str, title: str, body: str, *, state: str = "open",
                  pull_request: bool = False, author: str = "auditor-bot",
                  author_association: str = "COLLABORATOR",
                  author_type: str = "User") -> dict[str, Any]:
        """An issue as GitHub serves it; by default opened by the token's user, a collaborator
        (`author_association` is how GitHub says what the author may do in the repository:
        `NONE` or `CONTRIBUTOR` for anyone who may open an issue in a public one)."""
        number = sum(len(v) for v in self.issues.values()) + 1
        issue: dict[str, Any] = {
            "id": 1000 + number, "node_id": f"I_{number}", "number": number,
            "url": f"https://api.github.test/repos/{repo}/issues/{number}",
            "html_url": f"{self.web}/{repo}/{'pull' if pull_request else 'issues'}/{number}",
            "title": title, "body": body, "state": state, "state_reason": None,
            "labels": [], "user": {"login": author, "type": author_type}, "comments": 0,
            "author_association": author_association,
            "created_at": "2026-01-01T00:00:00Z", "repository_url": f"{self.web}/{repo}",
        }
        if pull_request:
            issue["pull_request"] = {"url": issue["url"].replace("issues", "pulls")}
        self.issues[repo].append(issue)
        return issue

    def open_issues(self, repo: str = "example/boot-audit") -> list[dict[str, Any]]:
        return [i for i in self.issues[repo] if i["state"] == "open" and "pull_request" not in i]

    def _issue(self, repo: str, number: int) -> dict[str, Any] | None:
        return next((i for i in self.issues[repo] if i["number"] == number), None)

    def _create(self, repo: str, document: dict[str, Any]) -> Reply:
        title = document.get("title")
        if not isinstance(title, str) or not title or len(title) > 256:
            return json_reply(422, {"message": "Validation Failed", "errors": [
                {"resource": "Issue", "code": "custom", "field": "title",
                 "message": "title is too long (maximum is 256 characters)"}]})
        body = document.get("body") or ""
        if len(body) > BODY_CHARS:
            return json_reply(422, {"message": "Validation Failed", "errors": [
                {"resource": "Issue", "code": "custom", "field": "body",
                 "message": f"body is too long (maximum is {BODY_CHARS} characters)"}]})
        issue = self.add_issue(repo, title, body)
        issue["labels"] = [{"id": i, "name": name, "color": "ededed", "default": False}
                           for i, name in enumerate(document.get("labels") or [])]
        return json_reply(201, issue)

    def _search(self, query: str, params: dict[str, list[str]]) -> Reply:
        repo, kind, state, terms = None, None, None, []
        for token in shlex.split(query):
            key, _, value = token.partition(":")
            if key == "repo" and value:
                repo = value
            elif key == "is" and value in ("issue", "pr"):
                kind = value
            elif key == "is" and value in ("open", "closed"):
                state = value
            elif key == "in" and value == "body":
                pass  # the only field this fake searches
            else:
                terms.append(token.lower())
        if repo is None:  # GitHub searches everything; the channel must always scope it
            return json_reply(422, {"message": "Validation Failed"})
        items = [dict(i, score=1.0) for i in self.issues.get(repo, [])
                 if (state is None or i["state"] == state)
                 and (kind is None or ("pull_request" in i) == (kind == "pr"))
                 and all(t in (i["body"] or "").lower() for t in terms)]
        if self.search_items_override is not None:
            return json_reply(200, {"total_count": 1, "incomplete_results": False,
                                    "items": self.search_items_override})
        # As GitHub: one page (per_page, at most 100), best match first, which for hits
        # alike is anyone's guess (here the newest); `sort=created&order=asc` oldest first.
        oldest_first = (params.get("sort") == ["created"] and params.get("order") == ["asc"])
        items = sorted(items, key=lambda i: i["number"], reverse=not oldest_first)
        per_page = min(int(params.get("per_page", ["30"])[0]), 100)
        if self.search_timed_out:
            return json_reply(200, {"total_count": 0, "incomplete_results": True, "items": []})
        return json_reply(200, {"total_count": len(items), "incomplete_results": False,
                                "items": items[:per_page]})


# -- TLS and SMTP -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA and a server certificate it signed for 127.0.0.1."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(directory: Path, name: str = "test") -> Certificates:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} throwaway CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(
              digital_signature=False, content_commitment=False, key_encipherment=False,
              data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
              encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    files = Certificates(directory / f"{name}-ca.pem", directory / f"{name}-cert.pem",
                         directory / f"{name}-key.pem")
    files.ca_file.write_bytes(ca.public_bytes(pem))
    files.cert_file.write_bytes(cert.public_bytes(pem))
    files.key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return files


class MailSink:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        #: Recipients refused at RCPT TO (a mailbox that does not exist, or is over quota).
        self.refused: set[str] = set()
        #: The reply to QUIT, when not "221 Bye" (a server shutting down answers 421).
        self.quit_reply: str | None = None

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self.quit_reply or "221 Bye"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.refused:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@dataclass
class SmtpServer:
    port: int
    sink: MailSink
    username: str
    password: str


@contextmanager
def smtp_server(*, tls: Certificates | None, username: str = "auditor",
                password: str = "s3cret") -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1; with `tls`, STARTTLS and AUTH (only after STARTTLS) required."""

    def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == username.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)

    sink = MailSink()
    port = unused_port()
    options: dict[str, Any] = {}
    if tls is not None:
        options = {"tls_context": tls.server_context(), "require_starttls": True,
                   "auth_required": True, "auth_require_tls": True,
                   "authenticator": authenticate}
    controller = Controller(sink, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield SmtpServer(port, sink, username, password)
    finally:
        controller.stop()
