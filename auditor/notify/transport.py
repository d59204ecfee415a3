"""HTTP for the HTTP channels (webhook, GitHub): the shared client, with a notification's rules.

Every request goes through `auditor.http_client.HttpClient`, the one HTTP module of the auditor
(rate limit, retries with backoff and jitter, Retry-After, a deadline per attempt that cuts off
a trickling answer, a size cap, no redirects: a webhook or API that redirects a POST is
misconfigured or hostile). What a notification needs on top:

- A request that posts a message or opens an issue is sent with `idempotent=False`: it is
  retried only when the server surely did not act on it (no connection was made; 408, 429 or
  503), never after a timeout, a connection lost after sending, or another 5xx, where the
  message may already be posted and a retry would post it twice. Such a failure is recorded
  and the next run tries again: at most one duplicate per run instead of one per retry.
- No run deadline: a crawl that used up the run's deadline must not silence the alerts about
  what it found. Each request is bounded by its own deadline (`Timeouts.total`) instead.
- A failure reason is one printable line without the URL's path or query: a Slack webhook URL
  is itself the secret, and requests quotes the path in its errors (`redact`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from requests.utils import requote_uri

from auditor.errors import AuditorError, InputError
from auditor.http_client import Answer, HttpClient, RetryPolicy
from auditor.notify.interface import one_line

MAX_ANSWER_BYTES = 1024 * 1024
#: Attempts beyond the first, for what another attempt may cure.
RETRIES = 2
#: The longest Retry-After honoured at once, and in total over a channel's run.
RETRY_AFTER_MAX = 60.0
RETRY_AFTER_BUDGET = 120.0


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 10.0
    #: One attempt, from connecting to the last byte of the answer.
    total: float = 30.0


def channel_client(service: str, timeouts: Timeouts, requests_per_second: float,
                   session: requests.Session | None = None) -> HttpClient:
    """The shared HTTP client as a channel uses it (see the module's rules)."""
    policy = RetryPolicy(max_retries=RETRIES, backoff_base=0.5, backoff_max=8.0,
                         connect_timeout=timeouts.connect, read_timeout=timeouts.read,
                         request_deadline=timeouts.total, retry_after_max=RETRY_AFTER_MAX,
                         retry_after_budget=RETRY_AFTER_BUDGET)
    return HttpClient(service, requests_per_second=requests_per_second, policy=policy,
                      session=session)


class TransportError(Exception):
    """The exchange did not complete; the message is one safe line."""


def exchange(client: HttpClient, method: str, url: str, *, idempotent: bool,
             json_body: object = None, headers: dict[str, str] | None = None,
             params: dict[str, str] | None = None, success_body: bool = True) -> Answer:
    """One request through `client`; a TransportError when no answer came, saying why (the
    client's "<service> <method> <url>: " prefix dropped: the channel names the call).
    `success_body=False`: a 2xx answer's body is not read (see `HttpClient.exchange`)."""
    try:
        return client.exchange(method, url, headers=headers, params=params,
                               json_body=json_body, idempotent=idempotent,
                               max_bytes=MAX_ANSWER_BYTES, success_body=success_body)
    except AuditorError as error:
        where = f"{client.service} {method} {url}" + (f"?{urlencode(params)}" if params else "")
        raise TransportError(redact(str(error).removeprefix(f"{where}: "), url)) from None


def host_of(url: str) -> str:
    """The part of a URL safe to print: scheme and host, never path, query or user info."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def redact(text: str, url: str) -> str:
    """`text` as one safe line: the URL, and its path and query however quoted, replaced."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    secrets = [url, requote_uri(url)]
    if target not in ("", "/"):
        secrets += [target, requote_uri(target)]
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, host_of(url) + "/…" if secret.startswith(parts.scheme)
                            else "/…")
    return one_line(text, 300)


def answer_json(answer: Answer) -> Any:
    """The body as JSON; an `InputError` when it is not."""
    try:
        return json.loads(answer.content)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InputError(f"HTTP {answer.status}: the answer is not JSON") from None


def answer_excerpt(answer: Answer, limit: int = 120) -> str:
    """A printable, one-line, bounded piece of an error answer for a failure reason."""
    return one_line(" ".join(answer.content.decode("utf-8", "replace").split()), limit)
