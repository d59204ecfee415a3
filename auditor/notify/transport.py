"""One bounded HTTP exchange for the HTTP channels (webhook, GitHub).

`requests` bounds the connect and each read, not the whole exchange: a server that trickles a
byte a second never trips a read timeout. So the answer is read one socket read at a time
(urllib3's `read1`, which returns what arrived instead of waiting for a full chunk) against a
total deadline (overrun by at most one read timeout) and a size cap. The status line and
headers are bounded by the read timeout per read and urllib3's header limits, not the deadline.
Redirects are not followed: a webhook or API that redirects a POST is misconfigured or hostile,
and the answer says so.

Every failure is a `TransportError` whose message is one printable line that names the host,
never the full URL: a Slack webhook URL is itself the secret.

The lead moves this onto the shared HTTP module (retry, rate limit, deadline); each channel
calls `exchange` from one small method, so that is a one-line change per channel.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from auditor import __version__
from auditor.errors import InputError
from auditor.notify.interface import one_line

MAX_ANSWER_BYTES = 1024 * 1024
_CHUNK = 4096


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 10.0
    #: The whole exchange, from connecting to the last byte of the answer.
    total: float = 30.0


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; an `InputError` when it is not."""
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InputError(f"HTTP {self.status}: the answer is not JSON") from None


class TransportError(Exception):
    """The exchange did not complete; the message is one safe line."""


def host_of(url: str) -> str:
    """The part of a URL safe to print: scheme and host, never path, query or user info."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def exchange(session: requests.Session, method: str, url: str, *, timeouts: Timeouts,
             json_body: object = None, headers: dict[str, str] | None = None,
             params: dict[str, str] | None = None) -> Answer:
    deadline = time.monotonic() + timeouts.total
    sent_headers = {"User-Agent": f"auditor/{__version__}", **(headers or {})}
    where = host_of(url)
    try:
        with session.request(method, url, json=json_body, headers=sent_headers, params=params,
                             timeout=(timeouts.connect, timeouts.read), allow_redirects=False,
                             stream=True) as response:
            body = _read_bounded(response, deadline, where)
            return Answer(response.status_code, dict(response.headers), body)
    except (requests.Timeout, urllib3.exceptions.ReadTimeoutError):
        raise TransportError(f"{where}: timed out") from None
    except requests.exceptions.SSLError:
        raise TransportError(f"{where}: TLS handshake or certificate verification failed") from None
    except requests.ConnectionError:
        raise TransportError(f"{where}: cannot connect") from None
    except urllib3.exceptions.HTTPError as error:
        # Reading the body directly (read1) meets urllib3's exceptions, not requests' wrappers.
        raise TransportError(f"{where}: answer broken off ({type(error).__name__})") from None
    except requests.RequestException as error:
        # The exception text may quote the URL; only its type is safe to repeat.
        raise TransportError(f"{where}: {type(error).__name__}") from None


def _read_bounded(response: requests.Response, deadline: float, where: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := response.raw.read1(_CHUNK, decode_content=True):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise TransportError(f"{where}: answer larger than {MAX_ANSWER_BYTES} bytes")
        if time.monotonic() > deadline:
            raise TransportError(f"{where}: no complete answer within the deadline")
        chunks.append(chunk)
    return b"".join(chunks)


def answer_excerpt(answer: Answer, limit: int = 120) -> str:
    """A printable, one-line, bounded piece of an error answer for a failure reason."""
    return one_line(" ".join(answer.body.decode("utf-8", "replace").split()), limit)
