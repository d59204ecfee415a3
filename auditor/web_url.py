"""The one check of an http(s) URL the auditor is given: a log, a store, a webhook, an API."""

from __future__ import annotations

from urllib.parse import urlsplit

from auditor.errors import ConfigError


def checked_http_url(url: object, what: str, *, base: bool = False, shown: bool = True) -> str:
    """`url` if it is an http(s) URL with a host, else ConfigError naming `what`.

    `base`: names are appended to it (a store's files, a log's API), so nothing may follow its
    path (a query or fragment would swallow them). `shown=False` keeps the value out of the
    message: a webhook's URL is its secret.
    """
    quoted = f": {url!r}" if shown else ""
    valid = isinstance(url, str) and not any(char.isspace() for char in url)
    parts = None
    if valid:
        try:
            parts = urlsplit(str(url))
        except ValueError:  # e.g. an unclosed "[" IPv6 host
            parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} must be an http(s) URL with a host{quoted}")
    if base and (parts.query or parts.fragment):
        raise ConfigError(f"{what} must not have a query or fragment{quoted}")
    return str(url)
