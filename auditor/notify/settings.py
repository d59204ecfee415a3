"""The `[notify]` config table, parsed strictly, and the channels it configures.

A misspelt key would silently switch an alert off, so every unknown key is an error that names
the nearest valid one. Secrets never sit in the file: the table names the environment variables
that hold them (`token_env`, `password_env`, `url_env`), read when the channels are built.

    [notify]
    channels = ["webhook", "github"]   # default: every channel with a table below
    min_severity = "high"              # info, low, medium, high, critical
    resolved = false                   # also say when a finding stops appearing
    report_url = "https://ci.example/audit/latest.html"

    [notify.webhook]
    url_env = "SLACK_WEBHOOK_URL"            # or url = "https://..."
    requests_per_second = 1

    [notify.email]
    host = "smtp.example.org"
    port = 587
    from = "auditor@example.org"
    to = ["sre@example.org"]
    username_env = "AUDITOR_SMTP_USERNAME"
    password_env = "AUDITOR_SMTP_PASSWORD"

    [notify.github]
    repository = "example/boot-audit"
    labels = ["auditor"]
    token_env = "GITHUB_TOKEN"
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError
from auditor.findings import Severity
from auditor.notify.email import EmailChannel, SmtpAccount
from auditor.notify.github import DEFAULT_API_URL, GitHubChannel
from auditor.notify.github import REQUESTS_PER_SECOND as GITHUB_RATE
from auditor.notify.interface import Channel
from auditor.notify.transport import Timeouts
from auditor.notify.webhook import REQUESTS_PER_SECOND as WEBHOOK_RATE
from auditor.notify.webhook import WebhookChannel
from auditor.web_url import checked_http_url

CHANNELS = ("webhook", "email", "github")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_HTTP_KEYS = ("connect_timeout", "read_timeout", "deadline", "requests_per_second")
_KEYS: dict[str, tuple[str, ...]] = {
    "notify": ("channels", "min_severity", "resolved", "report_url", *CHANNELS),
    "notify.webhook": ("url", "url_env", *_HTTP_KEYS),
    "notify.email": ("host", "port", "from", "to", "username_env", "password_env", "starttls",
                     "ca_file", "timeout"),
    "notify.github": ("repository", "api_url", "token_env", "labels", *_HTTP_KEYS),
}


@dataclass(frozen=True)
class WebhookSettings:
    url: str | None = None
    url_env: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    requests_per_second: float = WEBHOOK_RATE


@dataclass(frozen=True)
class EmailSettings:
    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 587
    username_env: str | None = None
    password_env: str | None = None
    starttls: bool = True
    ca_file: Path | None = None
    timeout: float = 30.0


@dataclass(frozen=True)
class GitHubSettings:
    repository: str
    api_url: str = DEFAULT_API_URL
    token_env: str = "GITHUB_TOKEN"  # noqa: S105 (the variable's name, not a secret)
    labels: tuple[str, ...] = ("auditor",)
    timeouts: Timeouts = field(default_factory=Timeouts)
    requests_per_second: float = GITHUB_RATE


@dataclass(frozen=True)
class NotifySettings:
    #: The channels that get alerts, in this order.
    channels: tuple[str, ...] = ()
    #: Findings below this severity never fire.
    min_severity: Severity = Severity.HIGH
    #: Also send a "resolved" message when an alerted finding stops appearing.
    resolved: bool = False
    #: Where the full report is published, named in every alert (else the report's path).
    report_url: str | None = None
    webhook: WebhookSettings | None = None
    email: EmailSettings | None = None
    github: GitHubSettings | None = None


def parse_notify(table: Any, source: str, base: Path) -> NotifySettings:
    """The `[notify]` table of the config file at `source` (relative paths from `base`)."""
    where = f"{source}: notify"
    values = _checked_table(table, "notify", where)
    webhook = _webhook(values["webhook"], f"{where}.webhook") if "webhook" in values else None
    email = _email(values["email"], f"{where}.email", base) if "email" in values else None
    github = _github(values["github"], f"{where}.github") if "github" in values else None
    configured = {"webhook": webhook, "email": email, "github": github}
    if "channels" in values:
        channels = tuple(_strings(values["channels"], f"{where}.channels"))
        for name in channels:
            if name not in CHANNELS:
                raise ConfigError(f"{where}.channels: {name!r} is not a channel"
                                  f"{_nearest(name, CHANNELS)}")
            if configured[name] is None:
                raise ConfigError(f"{where}.channels names {name!r} but there is no "
                                  f"[notify.{name}] table")
        if len(set(channels)) != len(channels):
            raise ConfigError(f"{where}.channels names a channel twice")
    else:
        channels = tuple(name for name in CHANNELS if configured[name] is not None)
    report_url = values.get("report_url")
    if report_url is not None:
        report_url = _url(report_url, f"{where}.report_url")
    return NotifySettings(
        channels=channels,
        min_severity=_severity(values.get("min_severity", "high"), f"{where}.min_severity"),
        resolved=_bool(values.get("resolved", False), f"{where}.resolved"),
        report_url=report_url,
        webhook=webhook, email=email, github=github)


def apply_flags(settings: NotifySettings, *, webhook_url: str | None = None,
                min_severity: str | None = None, webhook_from: str = "--notify-webhook",
                severity_from: str = "--notify-min-severity") -> NotifySettings:
    """`--notify-webhook URL` and `--notify-min-severity SEVERITY` over the file's settings
    (`*_from`: where the value came from, for the error message)."""
    if webhook_url is not None:
        hook = replace(settings.webhook or WebhookSettings(), url=_url(webhook_url, webhook_from),
                       url_env=None)
        channels = settings.channels + (() if "webhook" in settings.channels else ("webhook",))
        settings = replace(settings, webhook=hook, channels=channels)
    if min_severity is not None:
        settings = replace(settings, min_severity=_severity(min_severity, severity_from))
    return settings


def build_channels(settings: NotifySettings, environ: Mapping[str, str]) -> list[Channel]:
    """The configured channels, secrets read from `environ`; a missing one is a ConfigError."""
    channels: list[Channel] = []
    for name in settings.channels:
        if name == "webhook" and settings.webhook is not None:
            hook = settings.webhook
            url = hook.url if hook.url is not None else _url(
                _env(environ, hook.url_env, "notify.webhook.url_env"),
                f"the environment variable {hook.url_env}")
            channels.append(WebhookChannel(url, timeouts=hook.timeouts,
                                           requests_per_second=hook.requests_per_second))
        elif name == "email" and settings.email is not None:
            mail = settings.email
            if mail.ca_file is not None:
                _check_ca_file(mail.ca_file)
            channels.append(EmailChannel(SmtpAccount(
                host=mail.host, port=mail.port, sender=mail.sender, recipients=mail.recipients,
                starttls=mail.starttls, ca_file=mail.ca_file, timeout=mail.timeout,
                username=_env(environ, mail.username_env, "notify.email.username_env")
                if mail.username_env else None,
                password=_env(environ, mail.password_env, "notify.email.password_env")
                if mail.password_env else None)))
        elif name == "github" and settings.github is not None:
            hub = settings.github
            channels.append(GitHubChannel(
                hub.repository, _env(environ, hub.token_env, "notify.github.token_env"),
                api_url=hub.api_url, labels=hub.labels, timeouts=hub.timeouts,
                requests_per_second=hub.requests_per_second))
    return channels


# -- the three channel tables ------------------------------------------------------------------


def _webhook(table: Any, where: str) -> WebhookSettings:
    values = _checked_table(table, "notify.webhook", where)
    url, url_env = values.get("url"), values.get("url_env")
    if (url is None) == (url_env is None):
        raise ConfigError(f"{where}: give exactly one of url and url_env (the webhook URL is "
                          "a secret: url_env keeps it out of the file)")
    return WebhookSettings(
        url=_url(url, f"{where}.url") if url is not None else None,
        url_env=_env_name(url_env, f"{where}.url_env") if url_env is not None else None,
        timeouts=_timeouts(values, where),
        requests_per_second=_rate(values, where, WEBHOOK_RATE))


def _email(table: Any, where: str, base: Path) -> EmailSettings:
    values = _checked_table(table, "notify.email", where)
    for key in ("host", "from", "to"):
        if key not in values:
            raise ConfigError(f"{where}: {key} is required")
    recipients = tuple(_address(a, f"{where}.to") for a in _strings(values["to"], f"{where}.to"))
    if not recipients:
        raise ConfigError(f"{where}.to: at least one recipient")
    username_env = values.get("username_env")
    password_env = values.get("password_env")
    if (username_env is None) != (password_env is None):
        raise ConfigError(f"{where}: username_env and password_env go together")
    starttls = _bool(values.get("starttls", True), f"{where}.starttls")
    if username_env is not None and not starttls:
        raise ConfigError(f"{where}: credentials without starttls would cross the network in "
                          "clear text")
    ca_file = values.get("ca_file")
    if ca_file is not None:
        if not isinstance(ca_file, str):
            raise ConfigError(f"{where}.ca_file must be a path string")
        ca_file = Path(ca_file).expanduser()
        ca_file = ca_file if ca_file.is_absolute() else base / ca_file
    port = values.get("port", 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{where}.port must be a port number")
    return EmailSettings(
        host=_string(values["host"], f"{where}.host"),
        sender=_address(values["from"], f"{where}.from"),
        recipients=recipients, port=port,
        username_env=_env_name(username_env, f"{where}.username_env") if username_env else None,
        password_env=_env_name(password_env, f"{where}.password_env") if password_env else None,
        starttls=starttls, ca_file=ca_file,
        timeout=_seconds(values.get("timeout", 30.0), f"{where}.timeout"))


def _github(table: Any, where: str) -> GitHubSettings:
    values = _checked_table(table, "notify.github", where)
    repository = values.get("repository")
    if not isinstance(repository, str) or not _REPOSITORY.fullmatch(repository):
        raise ConfigError(f"{where}.repository must be OWNER/NAME")
    labels = tuple(_strings(values.get("labels", ["auditor"]), f"{where}.labels"))
    if any(not label.strip() or len(label) > 50 for label in labels):
        raise ConfigError(f"{where}.labels: a label is 1 to 50 characters")
    return GitHubSettings(
        repository=repository,
        api_url=_url(values.get("api_url", DEFAULT_API_URL), f"{where}.api_url"),
        token_env=_env_name(values.get("token_env", "GITHUB_TOKEN"), f"{where}.token_env"),
        labels=labels, timeouts=_timeouts(values, where),
        requests_per_second=_rate(values, where, GITHUB_RATE))


# -- checked values ----------------------------------------------------------------------------


def _nearest(key: str, valid: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else f"; valid: {', '.join(valid)}"


def _checked_table(table: Any, name: str, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    valid = _KEYS[name]
    for key in table:
        if key not in valid:
            raise ConfigError(f"{where}: unknown key {key!r}{_nearest(key, valid)}")
    return table


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return list(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false")
    return value


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise ConfigError(f"{where} must be a number of seconds (0 < s <= 3600)")
    return float(value)


def _timeouts(values: dict[str, Any], where: str) -> Timeouts:
    default = Timeouts()
    return Timeouts(
        connect=_seconds(values.get("connect_timeout", default.connect),
                         f"{where}.connect_timeout"),
        read=_seconds(values.get("read_timeout", default.read), f"{where}.read_timeout"),
        total=_seconds(values.get("deadline", default.total), f"{where}.deadline"))


def _rate(values: dict[str, Any], where: str, default: float) -> float:
    value = values.get("requests_per_second", default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1000:
        raise ConfigError(f"{where}.requests_per_second must be a number (0 < r <= 1000)")
    return float(value)


def _severity(value: Any, where: str) -> Severity:
    try:
        # Any case, as --fail-on, [run] fail_on and AUDITOR_NOTIFY_MIN_SEVERITY take it.
        return Severity(value.lower() if isinstance(value, str) else value)
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a severity (one of "
                          f"{', '.join(s.value for s in Severity)})") from None


def _url(value: Any, where: str) -> str:
    return checked_http_url(value, where, shown=False)  # a webhook's URL is its secret


def _env_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
        raise ConfigError(f"{where} must name an environment variable")
    return value


def _env(environ: Mapping[str, str], name: str | None, where: str) -> str:
    value = environ.get(name) if name else None
    if not value:
        raise ConfigError(f"{where} names {name}, which is not set in the environment")
    return value


def _address(value: Any, where: str) -> str:
    # An address from the config still reaches a header: no CR/LF, no spaces, one @.
    if (not isinstance(value, str) or value.count("@") != 1
            or any(c.isspace() or not c.isprintable() for c in value)):
        raise ConfigError(f"{where}: {value!r} is not an e-mail address")
    return value


def _check_ca_file(path: Path) -> None:
    """A CA file that cannot be read stops the run before it starts, like a missing secret:
    found only at the first STARTTLS, every alert of every run failed on it."""
    import ssl

    try:
        ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError, ValueError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
        raise ConfigError(f"notify.email.ca_file {str(path)!r}: not readable as CA certificates "
                          f"({reason})") from None
