"""The one HTTP client every networked source uses: rate limit, retries, deadlines.

Every call goes through one retry loop: a client-side rate limit (a thread-safe token bucket
shared by all calls of the client), connect and read timeouts, a total deadline per attempt (a
body trickling in one byte at a time must not hold the run: RFC 9110 says nothing about how
long a server may take, so we do), exponential backoff with full jitter on connection errors,
timeouts, 408, 429, 5xx and unusable 200 bodies, and ``Retry-After`` (RFC 9110 §10.2.3) capped
per attempt and in total per run. A run may also carry one overall deadline. When the retry
budget or a deadline is spent the call raises ``IncompleteError`` (exit 3): the audit could not
finish, and nothing verified so far is lost.

Sources (the Rekor v1 client, statement stores, tiled logs, the publisher's index) decide what a
200 answer means through a ``decode`` callable; a decoder that finds a cut or garbled answer
raises ``Retryable`` to ask for another attempt. Callers that judge every status themselves
(alert channels: a 201, a 204, an error page to quote) use ``exchange``; a request that is not
idempotent (a webhook POST) is retried only when the server surely did not act on it.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

import requests
from requests import Response
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.response import BaseHTTPResponse

from auditor import __version__
from auditor.errors import ConfigError, IncompleteError

if TYPE_CHECKING:
    from requests.sessions import _Settings

Clock = Callable[[], float]
Sleep = Callable[[float], None]
T = TypeVar("T")

#: The largest answer read by default. An unpaginated Rekor index search for a key with
#: 100,000 entries is about 8 MB; anything far larger is the server misbehaving, not data.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024
#: Prepared requests kept per client (see HttpClient._prepared).
_TEMPLATES = 64


class Retryable(Exception):
    """One attempt failed in a way that another attempt may not.

    ``unsent``: the server surely did not act on the request (no connection was made, or it
    answered 408, 429 or 503), so even a request that is not idempotent may be sent again.
    """

    def __init__(self, reason: str, retry_after: float | None = None, *,
                 unsent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.unsent = unsent


class HttpRefused(IncompleteError):
    """The server refused a request (a 4xx other than a 404 meaning "absent", or a redirect).

    Exit 3 like every IncompleteError, not 2: requests are built from validated values, so a
    refusal means the source misbehaves (or changed its API) and the audit is incomplete.
    """

    def __init__(self, what: str, status: int, code: int | None, message: str | None) -> None:
        detail = f"HTTP {status}"
        if message:
            detail += f": {message}"
        if code is not None and code != status:
            detail += f" (code {code})"
        super().__init__(f"{what} was refused: {detail}")
        self.status = status
        self.code = code
        self.message = message


class ResponseTooLarge(IncompleteError):
    """A 200 answer larger than the caller allows: the source misbehaves."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one client tries. Every value is in seconds except ``max_retries``."""

    #: Attempts beyond the first.
    max_retries: int = 6
    #: The first backoff ceiling; it doubles per attempt up to ``backoff_max``.
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    connect_timeout: float = 5.0
    #: The longest silence between two reads of one answer.
    read_timeout: float = 30.0
    #: The longest one attempt may take, body included (a trickling body is cut off).
    request_deadline: float = 120.0
    #: The longest one ``Retry-After`` is honoured for, and the total over the client's life.
    retry_after_max: float = 120.0
    retry_after_budget: float = 600.0

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) \
                or self.max_retries < 0:
            raise ConfigError(
                f"max_retries must be a non-negative integer, not {self.max_retries!r}")
        for name in ("backoff_base", "backoff_max", "connect_timeout", "read_timeout",
                     "request_deadline", "retry_after_max", "retry_after_budget"):
            value = getattr(self, name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or math.isnan(value) or value < 0 or math.isinf(value) or (
                    value == 0 and name not in ("backoff_base", "retry_after_budget")):
                raise ConfigError(f"{name} must be a positive finite number, not {value!r}")


class Deadline:
    """A point in time after which no more requests start (the run's overall budget)."""

    def __init__(self, seconds: float | None, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self.seconds = seconds
        self._end = None if seconds is None else clock() + seconds

    def remaining(self) -> float:
        return math.inf if self._end is None else self._end - self._clock()

    def expired(self) -> bool:
        return self.remaining() <= 0


class TokenBucket:
    """A thread-safe token bucket: at most ``rate`` acquisitions per second on average.

    Each caller reserves the next slot under the lock and sleeps outside it, so concurrent
    callers are spaced ``1/rate`` apart instead of waking together. ``math.inf`` disables it.
    """

    def __init__(self, rate: float, *, capacity: float = 1.0, clock: Clock, sleep: Sleep) -> None:
        if not rate > 0 or not capacity >= 1:
            raise ValueError("a token bucket needs rate > 0 and capacity >= 1")
        self._rate = rate
        self._capacity = capacity
        self._tokens = capacity
        self._last: float | None = None
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until it is available; returns the time slept."""
        if math.isinf(self._rate):
            return 0.0
        with self._lock:
            now = self._clock()
            if self._last is not None:
                elapsed = max(0.0, now - self._last)
                self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._last = now
            self._tokens -= 1.0
            # A negative balance is a debt that the earlier reservations will have paid off.
            wait = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


@dataclass
class HttpStats:
    """Requests sent (retries included) and attempts beyond the first, for run summaries."""

    requests: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, *, retry: bool) -> None:
        with self._lock:
            if retry:
                self.retries += 1
            else:
                self.requests += 1
        if not retry:
            with _SENT_LOCK:
                _SENT[0] += 1


_SENT_LOCK = threading.Lock()
_SENT = [0]


def requests_sent() -> int:
    """Every request any client of this process has sent: what a progress display shows
    while the sources, each with clients of its own, work."""
    return _SENT[0]


@dataclass(frozen=True)
class Answer:
    """A complete HTTP answer: status, the headers we use, and the body bytes."""

    status: int
    retry_after: str | None
    content: bytes
    #: Every response header, names in lower case (for callers that judge answers themselves).
    headers: Mapping[str, str] = field(default_factory=dict)


#: Statuses that say the request was not processed: RFC 9110 §15.5.9 (408: not received
#: complete), RFC 6585 §4 (429: refused, too many), RFC 9110 §15.6.4 (503: unable to handle).
UNPROCESSED = frozenset({408, 429, 503})


class EnvironmentOnce(requests.Session):
    """A requests session that reads the proxy and CA-bundle environment once per origin.

    requests re-reads it for every request (`merge_environment_settings`: every `*_proxy`
    variable, `no_proxy` matched against the host, `REQUESTS_CA_BUNDLE`), which costs more CPU
    than sending a small request on a kept-alive connection. The answer depends only on the
    environment, the origin and the arguments, and a process's environment is its own, so it
    is remembered per (origin, arguments).
    """

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[tuple[Any, ...], _Settings] = {}

    def merge_environment_settings(self, url: str | bytes | None, proxies: Any, stream: Any,
                                   verify: Any, cert: Any) -> _Settings:
        if proxies or self.proxies or not isinstance(url, str):  # explicit proxies: as given
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, self.trust_env, stream, verify, cert, self.stream,
               self.verify, self.cert)
        if key not in self._settings:
            self._settings[key] = super().merge_environment_settings(url, proxies, stream,
                                                                     verify, cert)
        settings = self._settings[key].copy()  # the caller's to change
        settings["proxies"] = dict(settings["proxies"])
        return settings


class HttpClient:
    """Requests to one service with retries, a rate limit and deadlines.

    ``service`` names the source in every diagnostic ("Rekor", "statement store", ...). The
    client is thread-safe: tiled-log scans fetch in parallel through one client, sharing its
    rate limit. ``sleep``, ``clock`` and ``rng`` are injectable so tests neither wait nor
    depend on wall-clock timing.
    """

    def __init__(
        self,
        service: str,
        *,
        requests_per_second: float = 4.0,
        policy: RetryPolicy | None = None,
        deadline: Deadline | None = None,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        rate = requests_per_second
        if isinstance(rate, bool) or not isinstance(rate, int | float) or math.isnan(rate) \
                or not rate > 0:
            raise ConfigError(f"requests_per_second must be a positive number, not {rate!r}")
        self.service = service
        self.policy = policy or RetryPolicy()
        self.deadline = deadline or Deadline(None, clock)
        self.stats = HttpStats()
        self._own_session = session is None
        self._session = session if session is not None else EnvironmentOnce()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._bucket = TokenBucket(rate, clock=clock, sleep=sleep)
        self._budget_lock = threading.Lock()
        self._templates: dict[tuple[Any, ...], requests.PreparedRequest] = {}
        self._retry_after_spent = 0.0
        self._closed = threading.Event()

    def close(self) -> None:
        """Stop: calls still retrying on other threads (requests fetched ahead) end at their
        next attempt or backoff, so that an interrupted run does not wait out their retries;
        close the HTTP session if this client made it (a caller's session stays open)."""
        self._closed.set()
        if self._own_session:
            self._session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- calls --------------------------------------------------------------------------------

    def get(self, url: str, *, max_bytes: int = MAX_RESPONSE_BYTES) -> bytes | None:
        """GET ``url``: the body of a 200, None for a 404; anything else retried or refused."""
        return self.call("GET", url, decode=lambda content, _where: content, absent=True,
                         max_bytes=max_bytes)

    def call(
        self,
        method: str,
        url: str,
        *,
        decode: Callable[[bytes, str], T],
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        absent: bool = False,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> T | None:
        """One call with retries: ``decode(body, where)`` on a 200; None on a 404 if ``absent``."""
        where = f"{method} {url}" + (f"?{urlencode(params)}" if params else "")

        def once() -> T | None:
            answer = self._attempt(method, url, params, json_body, where, max_bytes)
            if answer.status == 200:
                return decode(answer.content, where)
            if answer.status == 404 and absent:
                return None
            raise self._refusal(answer, where)

        return self._retrying(where, once)

    def exchange(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        idempotent: bool = True,
        max_bytes: int = MAX_RESPONSE_BYTES,
        success_body: bool = True,
    ) -> Answer:
        """The answer to one request, whatever its status, after retries of what another
        attempt may cure; the caller judges the status.

        ``idempotent=False`` (a POST that posts a message or opens an issue): a timeout, a
        connection lost after sending or a 5xx other than 503 is not retried, since the
        server may have acted on it and a retry would act twice; it raises IncompleteError
        (a 500, 502 or 504 is returned as the answer instead, to be quoted).

        ``success_body=False``: a 2xx answer's body is not read (its content is empty), for a
        caller to whom the status says all: a body that trickles past the deadline or is
        oversized must not turn a request the server took into a failure.
        """
        where = f"{method} {url}" + (f"?{urlencode(params)}" if params else "")
        return self._retrying(where, lambda: self._attempt(
            method, url, params, json_body, where, max_bytes, headers, idempotent,
            success_body), idempotent=idempotent)

    # -- the retry loop -------------------------------------------------------------------

    def _retrying(self, where: str, once: Callable[[], T], *, idempotent: bool = True) -> T:
        last = ""
        for attempt in range(self.policy.max_retries + 1):
            self._check_deadline(where, last)
            if self._closed.is_set():
                raise IncompleteError(f"{self.service} {where}: stopped: the client was closed")
            try:
                return once()
            except Retryable as failure:
                last = failure.reason
                if not (idempotent or failure.unsent):
                    raise IncompleteError(f"{self.service} {where}: {last} (not retried: the "
                                          "server may have acted on it)") from None
                if attempt == self.policy.max_retries:
                    break
                self._back_off(attempt, failure.retry_after, where, last)
        attempts = self.policy.max_retries + 1
        raise IncompleteError(f"{self.service} {where}: gave up after {attempts} "
                              f"attempt{'s' * (attempts != 1)}; last: {last}")

    def _check_deadline(self, where: str, last: str) -> None:
        if self.deadline.expired():
            tail = f"; last: {last}" if last else ""
            raise IncompleteError(f"{self.service} {where}: the run's deadline of "
                                  f"{self.deadline.seconds:g} s has passed{tail}")

    def _back_off(self, attempt: int, retry_after: float | None, where: str, last: str) -> None:
        delay = self._delay(attempt, retry_after, where, last)
        if delay >= self.deadline.remaining():
            raise IncompleteError(f"{self.service} {where}: waiting {delay:.1f} s more would "
                                  f"pass the run's deadline; last: {last}")
        self.stats.count(retry=True)
        if self._sleep is time.sleep:
            self._closed.wait(delay)  # close() ends the wait
        else:
            self._sleep(delay)

    def _delay(self, attempt: int, retry_after: float | None, where: str, last: str) -> float:
        """Seconds to wait before attempt ``attempt + 1``.

        A ``Retry-After`` is waited out (up to ``retry_after_max``) or not retried at all: once
        the client's budget cannot cover the wait, an earlier retry is one the server said not
        to make, which cannot succeed (it was sent at once, hammering the server).
        """
        if retry_after is not None:
            wait = min(retry_after, self.policy.retry_after_max)
            with self._budget_lock:
                left = max(0.0, self.policy.retry_after_budget - self._retry_after_spent)
                if wait > left:
                    raise IncompleteError(
                        f"{self.service} {where}: asked to wait {retry_after:g} s (Retry-After)"
                        f", more than the {left:g} s left of the client's Retry-After budget of"
                        f" {self.policy.retry_after_budget:g} s; last: {last}")
                self._retry_after_spent += wait
            return wait
        # Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
        # and Jitter", 2015): clients that failed together do not retry together.
        # The exponent stops at 64, past any backoff_max: 2.0**1024 overflows, which ended a
        # client with max_retries over 1,023 in an internal error at its 1,025th attempt.
        ceiling = min(self.policy.backoff_max, self.policy.backoff_base * 2.0**min(attempt, 64))
        return self._rng.uniform(0.0, ceiling)

    def _attempt(self, method: str, url: str, params: Mapping[str, str] | None,
                 json_body: object, where: str, max_bytes: int,
                 headers: Mapping[str, str] | None = None, idempotent: bool = True,
                 success_body: bool = True) -> Answer:
        """Send once; the complete answer, or Retryable for what another attempt may cure."""
        self._bucket.acquire()
        self.stats.count(retry=False)
        answer = self._send(method, url, params, json_body, where, max_bytes, headers,
                            success_body)
        if answer.status in UNPROCESSED or (idempotent and 500 <= answer.status <= 599):
            # 429 and 502-504 usually come from a proxy with an HTML page: never parse them.
            raise Retryable(f"HTTP {answer.status}",
                            retry_after_seconds(answer.retry_after, time.time()),
                            unsent=answer.status in UNPROCESSED)
        return answer

    def _send(self, method: str, url: str, params: Mapping[str, str] | None, json_body: object,
              where: str, max_bytes: int, extra: Mapping[str, str] | None = None,
              success_body: bool = True) -> Answer:
        headers = {"Accept": "application/json", "User-Agent": f"auditor/{__version__}",
                   **(extra or {})}
        data = None
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        budget = min(self.policy.request_deadline, max(0.001, self.deadline.remaining()))
        started = self._clock()
        try:
            request = self._prepared(method, url, params, headers, data)
            settings = self._session.merge_environment_settings(request.url, {}, True, None, None)
            with self._sent(request, settings, budget) as response:
                taken = 200 <= response.status_code <= 299
                content = self._read(response, where, max_bytes, started + budget) \
                    if success_body or not taken else b""
                return Answer(response.status_code, response.headers.get("Retry-After"),
                              content, {k.lower(): v for k, v in response.headers.items()})
        except requests.exceptions.SSLError as error:
            # A certificate problem does not heal with retries.
            raise IncompleteError(f"{self.service} {where}: TLS error: {one_line(error)}") \
                from None
        except requests.Timeout as error:
            raise Retryable(f"timeout ({one_line(_cause(error))})",
                            unsent=never_connected(error)) from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as error:
            raise Retryable(f"connection error ({one_line(_cause(error))})",
                            unsent=never_connected(error)) from None
        except requests.RequestException as error:
            raise IncompleteError(f"{self.service} {where}: {one_line(error)}") from None

    def _sent(self, request: requests.PreparedRequest, settings: Mapping[str, Any],
              budget: float) -> requests.Response:
        try:
            return self._session.send(
                request, **settings,
                timeout=(self.policy.connect_timeout, min(self.policy.read_timeout, budget)),
                allow_redirects=False,  # no API we read redirects; never follow a hostile one
            )
        except (UnicodeError, ValueError) as error:
            # requests parses a redirect's Location even when it is not to follow it: one
            # that is no UTF-8 or no URL raised past every requests exception, an internal
            # error. The redirect is refused, as any other is (`HTTP 302`).
            raise requests.exceptions.InvalidHeader(
                f"a redirect to a malformed Location ({one_line(error)})") from None

    def _prepared(self, method: str, url: str, params: Mapping[str, str] | None,
                  headers: Mapping[str, str], data: bytes | None) -> requests.PreparedRequest:
        """The request, prepared by the session; one with a body from a copy of the session's
        preparation of its request line and headers, made once per distinct one.

        A crawl sends thousands of POSTs to one URL that differ only in their bodies; requests
        would prepare each from scratch (parse the URL, merge the session's headers, look for
        a .netrc), which cost a third of the client's CPU per request. The session's cookies
        are taken when first prepared: no API we read uses them. A GET names its resource in
        its URL (a tile, a statement), so each is prepared as requests prepares it.
        """
        key = (method, url, tuple(sorted(params.items())) if params else (),
               tuple(headers.items()))
        template = self._templates.get(key) if data is not None else None
        if template is None:
            template = self._session.prepare_request(
                requests.Request(method, url, params=params, headers=headers))
            if data is None:
                return template
            if len(self._templates) >= _TEMPLATES:  # a bound, should a caller vary its URLs
                self._templates.clear()
            self._templates[key] = template
        request = template.copy()
        request.prepare_body(data, None)
        return request

    def _read(self, response: Response, where: str, max_bytes: int,
              deadline: float) -> bytes:
        """The whole body, within ``max_bytes`` and before ``deadline`` (a monotonic time)."""
        chunks: list[bytes] = []
        size = 0
        raw = response.raw
        while True:
            if self._clock() > deadline:
                raise Retryable(f"the answer took longer than {self.policy.request_deadline:g} "
                                "s to arrive (stalled)")
            chunk = _read_some(raw)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > max_bytes:
                if response.status_code == 200:
                    raise ResponseTooLarge(
                        f"{self.service} {where}: answer larger than {max_bytes} bytes")
                return b"".join(chunks)  # an error page: its beginning says enough
            chunks.append(chunk)

    def _refusal(self, answer: Answer, where: str) -> HttpRefused:
        code, message = error_document(answer.content)
        return HttpRefused(f"{self.service} {where}", answer.status, code, message)


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def _read_some(raw: BaseHTTPResponse | _Readable) -> bytes:
    """Whatever part of the body has arrived, at most one read of the socket.

    `read1`, not `read(n)`: a body trickling in a byte at a time would otherwise block until n
    bytes came, past every deadline, while each single read stays within the read timeout.
    """
    if isinstance(raw, BaseHTTPResponse):
        return raw.read1(_CHUNK, decode_content=True)
    return raw.read(_CHUNK)  # a file-like transport (test adapters)


def never_connected(error: requests.RequestException) -> bool:
    """No connection was made (refused, unreachable, no such host, connect timeout), so the
    request never reached the server. requests wraps urllib3's MaxRetryError whose reason
    says which phase failed; a connection lost after sending is a ProtocolError instead."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    cause = error.args[0] if error.args else None
    return isinstance(cause, MaxRetryError) and isinstance(
        cause.reason, NewConnectionError | ConnectTimeoutError)


def _cause(error: requests.RequestException) -> BaseException:
    """What failed, without urllib3's "Max retries exceeded with url: <path>" wrapper (it
    never retries for us, and the path may be a secret: a webhook URL)."""
    cause = error.args[0] if error.args else None
    return cause.reason if isinstance(cause, MaxRetryError) and cause.reason else error


#: What a ``Retry-After`` of 12 or more digits (over 3,000 years) is read as: longer than any
#: client waits, so capped like any long wait (``retry_after_max``, the budget). Read as no
#: Retry-After at all, it was retried after a backoff of seconds, which the server said not to do.
RETRY_AFTER_LONGEST = 1e11


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; None if unusable.

    ``now`` is the wall-clock time (seconds since the epoch), for the HTTP-date form.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit() and value.isascii():
        return float(value) if len(value) < 12 else RETRY_AFTER_LONGEST
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 §5.6.7: HTTP-dates are in GMT
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now)


def error_document(content: bytes) -> tuple[int | None, str | None]:
    """``{code, message}`` of an error answer when it is that JSON; (None, None) otherwise."""
    if len(content) > 65536:
        return None, None
    try:
        document = json.loads(content)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(document, dict):
        return None, None
    code = document.get("code")
    message = document.get("message")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        one_line(message, 200) if isinstance(message, str) and message else None,
    )


def one_line(error: BaseException | str, limit: int = 300) -> str:
    """Text from the network, fit for a one-line diagnostic: printable, bounded."""
    text = " ".join(str(error)[: limit * 4].split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
