"""Settings: one path from flags, environment and the config file to what a command uses.

Precedence is **flag > environment (`AUDITOR_*`) > config file > default**, for every command
and every setting, resolved here and nowhere else. The config file is TOML, read strictly
(`auditor.toml_schema`); relative paths in it are relative to the file. Settings that decide
what is trusted (log URL and keys, component keys) remember where they came from, so a run can
say that an environment variable, not the config file, chose them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.components import OBSERVED_COMPONENTS
from auditor.errors import ConfigError, InputError
from auditor.findings import COMPONENTLESS_RULES, RuleId, Severity, Suppression
from auditor.keyset import (
    COMPONENT_TABLE,
    KeySet,
    add_component_key,
    add_key_source,
    add_toml_components,
    shipped_reference_values,
)
from auditor.numbers import is_number
from auditor.report.kinds import DEFAULT_FORMATS as DEFAULT_REPORT_FORMATS
from auditor.report.kinds import FORMAT_NAMES as REPORT_FORMATS
from auditor.source.fields import INT64_MAX
from auditor.source.publisher_index import parse_typed_hash
from auditor.toml_schema import (
    BOOLEAN,
    DATE,
    INTEGER,
    INTEGERS,
    NUMBER,
    TEXT,
    TEXTS,
    Table,
    Tables,
    Value,
    check,
    read_toml,
)
from auditor.web_url import checked_http_url

if TYPE_CHECKING:
    from auditor.http_client import RetryPolicy
    from auditor.notify.settings import NotifySettings

SIGSTORE_PRODUCTION = "sigstore-production"
DEFAULT_REKOR_URL = "https://rekor.sigstore.dev"
#: A tiled log's default rate. Its read API is static files meant to be cached (C2SP
#: tlog-tiles: full tiles are immutable), served from object stores and CDNs rather than an API
#: server rate-limiting each address like Rekor v1's. 100/s is about what one core verifies and
#: stores (scripts/bench_tiles.py: ~108 bundles of Rekor v2 entries per CPU-second), so the
#: limit costs a scan little and more would only load the log in bursts; a 10-million-entry
#: shard (39,000 bundles) takes minutes, where Rekor v1's 4/s would take hours.
TILED_REQUESTS_PER_SECOND = 100.0
SIGSTORE_INSTANCES = ("production", "staging")

_TILED_LOG = Table({"url": TEXT, "verifier": TEXT, "policy": TEXT,
                    "requests_per_second": NUMBER, "cache": TEXT, "scan_range": INTEGER})

CONFIG_FILE = Table({
    "key_sources": TEXTS,
    "import": TEXTS,
    "database": Table({"url": TEXT}),
    "log": Table({
        "url": TEXT, "name": TEXT, "trusted_root": TEXT, "rekor_keys": TEXTS,
        "requests_per_second": NUMBER, "max_retries": INTEGER, "backoff_base": NUMBER,
        "request_deadline": NUMBER, "follow": BOOLEAN, "refresh": BOOLEAN, "tuf_url": TEXT,
        "tuf_root": TEXT,
    }),
    "statements": Table({"source": TEXT}),
    "components": Table(each=COMPONENT_TABLE),
    "crawl": Table({"uuids": TEXTS, "log_indexes": INTEGERS}),
    "tiled_logs": Tables(_TILED_LOG),
    "rekor_v2": Table({"instance": TEXT, "requests_per_second": NUMBER, "cache": TEXT,
                       "refresh": BOOLEAN, "tuf_url": TEXT, "tuf_root": TEXT}),
    "releases": Tables(Table({"name": TEXT, "manifest": TEXT})),
    "reconcile": Table({"expected_since": DATE}),
    "suppressions": Tables(Table({"rule": TEXT, "component": TEXT, "entry": TEXT,
                                  "reason": TEXT, "expires": DATE})),
    "reports": Table({"directory": TEXT, "formats": TEXTS}),
    "run": Table({"deadline": NUMBER, "fail_on": TEXT}),
    # Checked key by key by auditor.notify.settings.parse_notify (nearest-key errors too).
    "notify": Value((dict,), "a table ([notify])"),
    "metrics": Table({"file": TEXT}),
    "index": Table({"files": TEXT, "links": TEXT, "keysets": TEXTS,
                    "requests_per_second": NUMBER}),
})

#: Each setting's environment variable (the flag of the same name overrides it).
ENV = {
    "config": "AUDITOR_CONFIG",
    "db": "AUDITOR_DB",
    "rekor_url": "AUDITOR_REKOR_URL",
    "rekor_keys": "AUDITOR_REKOR_KEY",
    "trusted_root": "AUDITOR_TRUSTED_ROOT",
    "keys": "AUDITOR_KEY",
    "statements": "AUDITOR_STATEMENTS",
    "rate": "AUDITOR_RATE",
    "offline": "AUDITOR_OFFLINE",
    "fail_on": "AUDITOR_FAIL_ON",
    "report_dir": "AUDITOR_REPORT_DIR",
    "deadline": "AUDITOR_DEADLINE",
    "notify_webhook": "AUDITOR_NOTIFY_WEBHOOK",
    "notify_min_severity": "AUDITOR_NOTIFY_MIN_SEVERITY",
    "metrics_file": "AUDITOR_METRICS_FILE",
    "index_files": "AUDITOR_INDEX_FILES",
    "index_links": "AUDITOR_INDEX_LINKS",
    "index_keysets": "AUDITOR_INDEX_KEYSET",
    "tiled_log": "AUDITOR_TILED_LOG",
    "log_verifier": "AUDITOR_LOG_VERIFIER",
    "tlog_policy": "AUDITOR_TLOG_POLICY",
}


@dataclass
class LogSettings:
    url: str = DEFAULT_REKOR_URL
    name: str | None = None
    #: A trusted_root.json path, or "sigstore-production": Sigstore's, brought up to date from
    #: its TUF repository at each crawl (Rekor v1's keys rotate there too).
    trusted_root: str = SIGSTORE_PRODUCTION
    rekor_keys: list[Path] = field(default_factory=list)
    #: Sigstore's trusted root: refreshed at each crawl (False: the copy cached), from another
    #: TUF repository than Sigstore's if `tuf_url` (anchored by the root.json `tuf_root`).
    refresh: bool = True
    tuf_url: str | None = None
    tuf_root: Path | None = None
    requests_per_second: float = 4.0
    #: The retry budget: attempts beyond the first, and the first backoff delay (seconds).
    max_retries: int = 6
    backoff_base: float = 0.5
    #: The longest one request may take, body included (seconds).
    request_deadline: float = 120.0

    def retry_policy(self) -> RetryPolicy:
        from auditor.http_client import RetryPolicy

        return RetryPolicy(max_retries=self.max_retries, backoff_base=self.backoff_base,
                           request_deadline=self.request_deadline)


@dataclass
class IndexSettings:
    """The publisher's own endorsement index (Oak: the `oak-files` and `oak-index` buckets)."""

    #: Base URLs of the content-addressed files and of the link index; both or neither.
    files: str | None = None
    links: str | None = None
    #: Keysets whose keys (link 22) are listed: keyset hash (hex) -> its component, if named.
    keysets: dict[str, str | None] = field(default_factory=dict)
    #: Static files in a bucket, not a rate-limited API: a higher default than a log's.
    requests_per_second: float = 20.0

    @property
    def configured(self) -> bool:
        return self.files is not None and self.links is not None


def add_keyset(index: IndexSettings, spec: str, where: str) -> None:
    """`sha2-256:<hex>`, or `COMPONENT=sha2-256:<hex>` to name the component whose keys the
    keyset holds (findings about its keys name it)."""
    component, _, name = spec.rpartition("=")
    try:
        index.keysets[parse_typed_hash(name.strip(), where)] = component.strip() or None
    except InputError as error:
        raise ConfigError(f"{error}; expected sha2-256:<hex> or COMPONENT=sha2-256:<hex>") \
            from None


@dataclass(frozen=True)
class TiledLogSettings:
    """A tiled log to follow (C2SP tlog-tiles), e.g. an Oak-operated Tessera log."""

    #: The tlog-tiles prefix: `<url>/checkpoint`, `<url>/tile/...`.
    url: str
    #: The signed-note verifier key of its checkpoints: `<name>+<8 hex>+<base64(0x01 ‖ key)>`.
    verifier: str
    #: A C2SP tlog-policy file: the witnesses whose cosignatures a checkpoint needs.
    policy: Path | None = None
    requests_per_second: float = TILED_REQUESTS_PER_SECOND
    #: A directory keeping full tiles, so that no rescan fetches one twice.
    cache: Path | None = None
    #: Entries per claimed range (None: the default).
    scan_range: int | None = None


@dataclass(frozen=True)
class RekorV2Settings:
    """Sigstore's Rekor v2 shards, from its signing config and trusted root."""

    instance: str = "production"
    requests_per_second: float = TILED_REQUESTS_PER_SECOND
    cache: Path | None = None
    #: Bring the signing config and trusted root up to date from the TUF repository at each
    #: crawl (shards are added and retired there); False: the copy cached, as offline.
    refresh: bool = True
    #: A TUF repository other than the instance's own (a mirror, a private Sigstore), and the
    #: root.json that anchors trust in it (Sigstore's own come with the `sigstore` package).
    tuf_url: str | None = None
    tuf_root: Path | None = None


@dataclass(frozen=True)
class ReleaseRef:
    #: The config's name for it; None: the manifest's own `name`, else its file name.
    name: str | None
    manifest: Path


@dataclass
class ReportSettings:
    directory: Path | None = None
    formats: list[str] = field(default_factory=list)

    def formats_to_write(self) -> list[str]:
        return self.formats or list(DEFAULT_REPORT_FORMATS)


@dataclass(frozen=True)
class Flags:
    """What the command line said; None (or empty) where it said nothing."""

    config: Path | None = None
    db: str | None = None
    rekor_url: str | None = None
    rekor_keys: tuple[Path, ...] = ()
    trusted_root: Path | None = None
    keys: tuple[str, ...] = ()
    statements: str | None = None
    rate: float | None = None
    offline: bool | None = None
    fail_on: str | None = None
    report_dir: Path | None = None
    formats: tuple[str, ...] = ()
    deadline: float | None = None
    notify_webhook: str | None = None
    notify_min_severity: str | None = None
    metrics_file: Path | None = None
    index_files: str | None = None
    index_links: str | None = None
    index_keysets: tuple[str, ...] = ()
    tiled_log: str | None = None
    log_verifier: str | None = None
    tlog_policy: Path | None = None
    #: Components a one-off release names (`audit reconcile MANIFEST`): a suppression may name them.
    release_components: tuple[str, ...] = ()


@dataclass
class Settings:
    config_path: Path | None = None
    database_url: str = ""
    log: LogSettings = field(default_factory=LogSettings)
    #: Whether to follow the Rekor v1 log (`log`): `[log] follow`, off when a flag names one
    #: tiled log.
    rekor_v1: bool = True
    tiled_logs: list[TiledLogSettings] = field(default_factory=list)
    rekor_v2: RekorV2Settings | None = None
    #: Content-addressed statement store: a base URL or a directory.
    statements: str | None = None
    keyset: KeySet = field(default_factory=KeySet)
    uuids: list[str] = field(default_factory=list)
    log_indexes: list[int] = field(default_factory=list)
    releases: list[ReleaseRef] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    reports: ReportSettings = field(default_factory=ReportSettings)
    #: Files `audit run` imports (idempotently) before it reconciles: a shipped snapshot.
    imports: list[Path] = field(default_factory=list)
    #: Endorsements integrated before this are not reported as unexpected.
    expected_since: datetime | None = None
    offline: bool = False
    fail_on: Severity = Severity.LOW
    #: The whole run's deadline in seconds (None: none).
    deadline: float | None = None
    #: Trust decisions not taken by the config file: setting -> "flag --x" / "environment X".
    overrides: dict[str, str] = field(default_factory=dict)
    #: Whether the component keys were chosen (config or flags), not the shipped defaults.
    keys_chosen: bool = False
    #: Alert channels (`[notify]`, `--notify-*`); None when nothing configures any. Parsed
    #: only then, so commands without alerts do not load the channels' modules.
    notify: NotifySettings | None = None
    #: Where `audit run` writes its Prometheus metrics (`[metrics] file`, `--metrics-file`).
    metrics_file: Path | None = None
    index: IndexSettings = field(default_factory=IndexSettings)

    @property
    def config_name(self) -> str | None:
        """The config file as reports name it: relative to the working directory if inside."""
        if self.config_path is None:
            return None
        try:
            return str(self.config_path.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(self.config_path)

    def has_work(self) -> bool:
        """Whether a run would do anything: reconcile a release, import, crawl for keys, or
        judge the store under keys someone chose (offline, the shipped defaults alone judge
        nothing anyone asked about)."""
        if self.releases or self.imports:
            return True
        if not self.offline:
            return bool(self.keyset.components or self.uuids or self.log_indexes)
        return self.keys_chosen and bool(self.keyset.components)


def default_database_url() -> str:
    import platformdirs

    data_dir = Path(platformdirs.user_data_dir("auditor", appauthor=False))
    # The one directory the auditor makes for a database: its own. A directory named in --db
    # or a URL must exist (a typo made one, anywhere the user could write, even at /).
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'auditor.db'}"


def database_url(value: str) -> str:
    """A SQLAlchemy URL; a plain path (`/var/lib/auditor.db`, `audit.db`) means that SQLite
    file exactly: escaped into the URL, so that a `?`, `#` or `%` in it is the file's (pasted
    as is, `what?.db` opened `what` with a query, `a%41.db` opened `aA.db`)."""
    if "://" in value:
        return value
    from sqlalchemy.engine import URL

    from auditor.measure.cmdline import utf8

    path = str(Path(value).expanduser().resolve())
    # A path's bytes that are not UTF-8 (PEP 383) no URL encodes: an internal error.
    utf8(path, f"database path {path.encode('utf-8', 'surrogateescape')!r}")
    return URL.create("sqlite", database=path).render_as_string(hide_password=False)


class _Chooser:
    """flag > environment > config > default, remembering where trust-relevant values came from."""

    def __init__(self, flags: Flags, environ: Mapping[str, str]) -> None:
        self.flags = flags
        self.environ = environ

    def env(self, name: str) -> str | None:
        value = self.environ.get(ENV[name])
        return value if value not in (None, "") else None

    def origin(self, name: str, flag: str) -> str | None:
        """Where a flag-or-environment value came from; None when neither gave it."""
        given = getattr(self.flags, name)
        # `is`, not `in`: a flag given as 0 (0 == False) was given all the same.
        if given is not None and given != () and (given is not False or name == "offline"):
            return f"flag {flag}"
        if self.env(name) is not None:
            return f"environment {ENV[name]}"
        return None

    def positive(self, name: str, flag: str) -> float | None:
        """A positive number from the flag or else the environment (None: neither gave one);
        a value that is not positive is refused naming where it came from, `--rate 0` or
        `AUDITOR_RATE='0'` (the library would name a key of the config file)."""
        given = getattr(self.flags, name)
        if given is None:
            return _env_number(ENV[name], value) if (value := self.env(name)) else None
        if not 0 < given < math.inf:  # NaN too
            raise ConfigError(f"{flag} {given:g}: expected a positive number")
        return float(given)


def _named(origin: str) -> str:
    """An origin as an error names it: `--fail-on`, `AUDITOR_FAIL_ON`."""
    return origin.removeprefix("flag ").removeprefix("environment ")


def _env_list(value: str | None) -> tuple[str, ...]:
    # Lists in environment variables are whitespace-separated, as typer and click split them.
    return tuple(value.split()) if value else ()


def _env_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r}: expected true or false")


def _env_number(name: str, value: str) -> float:
    if not is_number(value):  # float() also takes `1_0`, `1e3`, `inf`, ` 7\n`
        raise ConfigError(f"{name}={value[:40]!r}: expected a number (decimal digits, "
                          "e.g. 2.5)")
    number = float(value)
    if not 0 < number < math.inf:
        raise ConfigError(f"{name}={value!r}: expected a positive number")
    return number


def resolve(flags: Flags, environ: Mapping[str, str] | None = None, *,
            default_keys: bool = True) -> Settings:
    """The settings a command runs with (`default_keys`: shipped keys when none configured)."""
    environ = os.environ if environ is None else environ
    choose = _Chooser(flags, environ)
    config_path = flags.config or (Path(p) if (p := choose.env("config")) else None)
    settings = load_config_file(config_path, default_keys=default_keys and not (
        (flags.keys or choose.env("keys")) and config_path is None))
    _apply_database(settings, flags, choose)
    _apply_log(settings, flags, choose)
    _apply_tiled(settings, flags, choose)
    _apply_keys(settings, flags, choose, config_path)
    _apply_run(settings, flags, choose)
    _apply_notify(settings, flags, choose)
    _apply_index(settings, flags, choose)
    _check_suppressed_components(settings, flags.release_components)
    return settings


def _apply_database(settings: Settings, flags: Flags, choose: _Chooser) -> None:
    url = flags.db or choose.env("db") or settings.database_url or default_database_url()
    settings.database_url = database_url(url)


def _apply_log(settings: Settings, flags: Flags, choose: _Chooser) -> None:
    url = flags.rekor_url or choose.env("rekor_url")
    if url:
        settings.log.url = url
        settings.overrides["log URL"] = choose.origin("rekor_url", "--rekor-url") or ""
    keys, root = _log_keys(flags, choose)
    if keys:
        settings.log.rekor_keys = list(keys)
        settings.log.trusted_root = SIGSTORE_PRODUCTION
        settings.overrides["log keys"] = choose.origin("rekor_keys", "--rekor-key") or ""
    if root:
        settings.log.trusted_root = str(root)
        settings.log.rekor_keys = []
        settings.overrides["log keys"] = choose.origin("trusted_root", "--trusted-root") or ""
    statements = flags.statements or choose.env("statements")
    if statements:
        settings.statements = statement_store(
            statements, choose.origin("statements", "--statements") or "--statements")
    rate = _rate(flags, choose)
    if rate is not None:
        settings.log.requests_per_second = rate
        settings.index.requests_per_second = rate


def _log_keys(flags: Flags, choose: _Chooser) -> tuple[tuple[Path, ...], Path | None]:
    """The log keys or trusted root the flags give, else those the environment gives: the two
    are one setting, so a flag overrides either variable (`--rekor-key` run where the service
    environment sets AUDITOR_TRUSTED_ROOT was refused as giving both)."""
    if flags.rekor_keys or flags.trusted_root:
        if flags.rekor_keys and flags.trusted_root:
            raise ConfigError("give either --rekor-key or --trusted-root, not both")
        return flags.rekor_keys, flags.trusted_root
    keys = tuple(Path(p) for p in _env_list(choose.env("rekor_keys")))
    root = Path(p) if (p := choose.env("trusted_root")) else None
    if keys and root:
        raise ConfigError(f"set either {ENV['rekor_keys']} or {ENV['trusted_root']}, not both")
    return keys, root


def _rate(flags: Flags, choose: _Chooser) -> float | None:
    return choose.positive("rate", "--rate")


def _apply_tiled(settings: Settings, flags: Flags, choose: _Chooser) -> None:
    """`--tiled-log` (with its `--log-verifier`) is the one log a command follows."""
    url = flags.tiled_log or choose.env("tiled_log")
    verifier = flags.log_verifier or choose.env("log_verifier")
    policy = flags.tlog_policy or (Path(p) if (p := choose.env("tlog_policy")) else None)
    if url is None and (verifier or policy):
        raise ConfigError("--log-verifier and --tlog-policy go with --tiled-log")
    if url is not None:
        if not verifier:
            raise ConfigError("--tiled-log needs --log-verifier VKEY, the signed-note verifier "
                              "key of the log's checkpoints")
        # Checked now, as every URL is: an "ftp:" log was a crawl that could never finish
        # (exit 3 on every run), and a query swallowed the tile paths appended to it.
        checked_http_url(url, choose.origin("tiled_log", "--tiled-log") or "--tiled-log",
                         base=True)
        settings.tiled_logs = [TiledLogSettings(url, verifier, policy)]
        settings.rekor_v1, settings.rekor_v2 = False, None
        settings.overrides["tiled log"] = choose.origin("tiled_log", "--tiled-log") or ""
        settings.overrides["tiled log key"] = choose.origin("log_verifier",
                                                            "--log-verifier") or ""
        if policy is not None:
            settings.overrides["witness policy"] = choose.origin("tlog_policy",
                                                                 "--tlog-policy") or ""
    rate = _rate(flags, choose)
    if rate is not None:  # --rate is every followed log's rate
        settings.tiled_logs = [replace(t, requests_per_second=rate) for t in settings.tiled_logs]
        if settings.rekor_v2 is not None:
            settings.rekor_v2 = replace(settings.rekor_v2, requests_per_second=rate)


def _apply_keys(settings: Settings, flags: Flags, choose: _Chooser,
                config_path: Path | None) -> None:
    """`--key` flags alone define the components without a config file; with one, they add."""
    specs = flags.keys or _env_list(choose.env("keys"))
    if not specs:
        return
    if config_path is None:
        settings.keyset.components.clear()
    settings.keys_chosen = True
    origin = choose.origin("keys", "--key") or ""
    for spec in specs:
        # Named as given: an AUDITOR_KEY the service sets was reported as a `--key` flag.
        add_component_key(settings.keyset, spec, flag=_named(origin))
    settings.overrides["component keys"] = origin


def _apply_run(settings: Settings, flags: Flags, choose: _Chooser) -> None:
    offline = flags.offline if flags.offline is not None else (
        _env_bool(ENV["offline"], o) if (o := choose.env("offline")) else None)
    if offline is not None:
        settings.offline = offline
    fail_on = flags.fail_on or choose.env("fail_on")
    if fail_on:
        settings.fail_on = parse_severity(
            fail_on, _named(choose.origin("fail_on", "--fail-on") or "--fail-on"))
    report_dir = flags.report_dir or (Path(d) if (d := choose.env("report_dir")) else None)
    if report_dir:
        settings.reports.directory = report_dir
    if flags.formats:
        if settings.reports.directory is None:  # else the flag would be passed over in silence
            raise ConfigError("--format names a report to write into --report-dir DIR (or "
                              "[reports] directory), and none is given")
        settings.reports.formats = _report_formats(flags.formats, "--format")
    deadline = choose.positive("deadline", "--deadline")
    if deadline is not None:
        settings.deadline = deadline


def _apply_notify(settings: Settings, flags: Flags, choose: _Chooser) -> None:
    webhook = flags.notify_webhook or choose.env("notify_webhook")
    severity = flags.notify_min_severity or choose.env("notify_min_severity")
    if webhook or severity:
        from auditor.notify.settings import NotifySettings, apply_flags

        settings.notify = apply_flags(
            settings.notify or NotifySettings(), webhook_url=webhook,
            min_severity=severity.lower() if severity else None,
            webhook_from=choose.origin("notify_webhook", "--notify-webhook") or "",
            severity_from=choose.origin("notify_min_severity", "--notify-min-severity") or "")
    metrics = flags.metrics_file or (Path(m) if (m := choose.env("metrics_file")) else None)
    if metrics:
        settings.metrics_file = metrics
    if settings.metrics_file is not None and settings.metrics_file.is_dir():
        # Said now, not after the whole run (an empty --metrics-file is ".", the directory
        # the run started in).
        where = (choose.origin("metrics_file", "--metrics-file")
                 or "the configuration's metrics.file")
        raise ConfigError(f"{where}: {str(settings.metrics_file)!r} is a directory; the metrics "
                          "file needs a file name (e.g. auditor.prom)")


def _apply_index(settings: Settings, flags: Flags, choose: _Chooser) -> None:
    """The index's URLs replace the config's; keysets given by flag add to them."""
    index = settings.index
    for name, flag in (("files", "--index-files"), ("links", "--index-links")):
        value = getattr(flags, f"index_{name}") or choose.env(f"index_{name}")
        if value:
            setattr(index, name, value)
            settings.overrides["publisher index"] = choose.origin(f"index_{name}", flag) or ""
    where = _named(choose.origin("index_keysets", "--index-keyset") or "--index-keyset")
    for spec in flags.index_keysets or _env_list(choose.env("index_keysets")):
        add_keyset(index, spec, where)
    check_index(index, "--index-files/--index-links")


def statement_store(value: str, where: str) -> str:
    """An http(s) base URL or a directory (one not made yet is taken: statements may be synced
    into it later). Anything else was a store that never held a statement: `ftp://...` or a
    file was read as an empty directory, every statement unavailable with no word of why."""
    if "://" in value:
        return checked_http_url(value, where, base=True)
    if Path(value).exists() and not Path(value).is_dir():
        raise ConfigError(f"{where}: {value!r} is not a directory (the statement store is a "
                          "directory or an http(s) URL)")
    return value


def check_index(index: IndexSettings, where: str) -> None:
    if (index.files is None) != (index.links is None):
        raise ConfigError(f"{where}: the publisher's index needs both its files URL and its "
                          "links URL")
    if index.keysets and not index.configured:
        raise ConfigError(f"{where}: keysets are listed in the publisher's index: give its "
                          "files and links URLs too")
    for name in ("files", "links"):
        url = getattr(index, name)
        if url is not None:
            checked_http_url(url, f"{where}: the publisher's {name} URL", base=True)


def parse_severity(value: str, where: str) -> Severity:
    try:
        return Severity(value.lower())
    except ValueError:
        choices = ", ".join(s.value for s in Severity)
        raise ConfigError(f"{where} {value!r}: choose one of {choices}") from None


def _report_formats(values: Sequence[str], where: str) -> list[str]:
    """The formats named, each once (`--format json --format json` wrote one file twice)."""
    for value in values:
        if value not in REPORT_FORMATS:
            raise ConfigError(f"{where}: unknown report format {value!r}; choose from "
                              f"{', '.join(REPORT_FORMATS)}")
    return list(dict.fromkeys(values))


# --- the config file ---------------------------------------------------------------------------


def _path(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def load_config_file(path: Path | None, *, default_keys: bool = True) -> Settings:
    """Read a config file; without one, the defaults (shipped keys unless `default_keys` is
    False, Sigstore production)."""
    if path is None:
        settings = Settings()
        if default_keys:
            for key_file in shipped_reference_values():
                add_key_source(settings.keyset, key_file)
        return settings
    document = read_toml(path, "TOML config")
    source = str(path)
    check(document, CONFIG_FILE, source)
    base = path.resolve().parent
    settings = Settings(config_path=path)
    if "url" in document.get("database", {}):
        settings.database_url = _database_url(document["database"]["url"], base)
    settings.log = _log_settings(document.get("log", {}), base, source)
    settings.rekor_v1 = document.get("log", {}).get("follow", True)
    statements = document.get("statements", {}).get("source")
    if statements:
        settings.statements = statement_store(
            statements if "://" in statements else str(_path(base, statements)),
            f"{source}: statements.source")
    key_sources = [_path(base, p) for p in document.get("key_sources", [])]
    components = document.get("components", {})
    # A component table that only sets a receipt policy pins no key: the defaults still apply.
    settings.keys_chosen = bool(key_sources or components)
    if not key_sources and not any("keys" in t for t in components.values()) and default_keys:
        key_sources = shipped_reference_values()
    for key_source in key_sources:
        add_key_source(settings.keyset, key_source)
    add_toml_components(components, settings.keyset, source, base)
    crawl = document.get("crawl", {})
    settings.uuids = list(crawl.get("uuids", []))
    if settings.uuids:
        # Checked now, not at the crawl's first request (an --offline trial passed them).
        from auditor.source.rekor_client import check_uuid

        for i, uuid in enumerate(settings.uuids):
            try:
                check_uuid(uuid)
            except InputError as error:
                raise ConfigError(f"{source}: crawl.uuids[{i}]: {error}") from None
    settings.log_indexes = list(crawl.get("log_indexes", []))
    for i, index in enumerate(settings.log_indexes):
        if not 0 <= index <= INT64_MAX:
            raise ConfigError(f"{source}: crawl.log_indexes[{i}] {index} is out of range: it "
                              f"takes 0 to {INT64_MAX}")
    settings.tiled_logs = [_tiled_log(table, base, f"{source}: tiled_logs[{i}]")
                           for i, table in enumerate(document.get("tiled_logs", []))]
    if "rekor_v2" in document:
        settings.rekor_v2 = _rekor_v2(document["rekor_v2"], base, f"{source}: rekor_v2")
    for i, release in enumerate(document.get("releases", [])):
        if "manifest" not in release:
            raise ConfigError(f"{source}: releases[{i}] needs a manifest path")
        manifest = _path(base, release["manifest"])
        settings.releases.append(ReleaseRef(release.get("name"), manifest))
    settings.suppressions = [_suppression(item, i, source)
                             for i, item in enumerate(document.get("suppressions", []))]
    settings.imports = [_path(base, p) for p in document.get("import", [])]
    since = document.get("reconcile", {}).get("expected_since")
    if since is not None:
        settings.expected_since = _moment(since)
    reports = document.get("reports", {})
    if reports.get("directory"):
        settings.reports.directory = _path(base, reports["directory"])
    settings.reports.formats = _report_formats(reports.get("formats", []),
                                               f"{source}: reports.formats")
    settings.index = _index_settings(document.get("index", {}), source)
    run = document.get("run", {})
    if "deadline" in run:
        settings.deadline = _positive(run["deadline"], f"{source}: run.deadline")
    if "fail_on" in run:
        settings.fail_on = parse_severity(run["fail_on"], f"{source}: run.fail_on")
    if "notify" in document:
        from auditor.notify.settings import parse_notify

        settings.notify = parse_notify(document["notify"], source, base)
    if "file" in document.get("metrics", {}):
        settings.metrics_file = _path(base, document["metrics"]["file"])
    return settings


def _database_url(value: str, base: Path) -> str:
    """`[database] url`: a SQLite file named by a relative path (`auditor.db`,
    `sqlite:///auditor.db`) is relative to the config file, as every path in it is (it was
    relative to the working directory: `/` under systemd, the home directory under cron)."""
    sqlite = "sqlite:///"
    if "://" not in value:
        return database_url(str(_path(base, value)))
    path = value.removeprefix(sqlite)
    if value.startswith(sqlite) and path and not path.startswith(("/", ":memory:")):
        return sqlite + str(_path(base, path))
    return value


def _moment(value: date) -> datetime:
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _positive(value: float, where: str) -> float:
    if not value > 0:
        raise ConfigError(f"{where} must be a positive number")
    return float(value)


def _log_settings(table: dict[str, Any], base: Path, source: str) -> LogSettings:
    settings = LogSettings()
    settings.url = table.get("url", settings.url)
    settings.name = table.get("name")
    root = table.get("trusted_root", SIGSTORE_PRODUCTION)
    settings.trusted_root = root if root == SIGSTORE_PRODUCTION else str(_path(base, root))
    settings.rekor_keys = [_path(base, p) for p in table.get("rekor_keys", [])]
    settings.refresh = table.get("refresh", True)
    settings.tuf_url, settings.tuf_root = _tuf_repository(table, base, f"{source}: log")
    if settings.tuf_url is not None and (settings.rekor_keys or root != SIGSTORE_PRODUCTION):
        raise ConfigError(f"{source}: log.tuf_url is where Sigstore's trusted root comes from: "
                          "it goes with neither rekor_keys nor a trusted_root file")
    settings.requests_per_second = _positive(
        table.get("requests_per_second", settings.requests_per_second),
        f"{source}: log.requests_per_second")
    settings.max_retries = table.get("max_retries", settings.max_retries)
    settings.backoff_base = float(table.get("backoff_base", settings.backoff_base))
    settings.request_deadline = float(table.get("request_deadline", settings.request_deadline))
    _check_retries(settings, f"{source}: log.")
    return settings


def _check_retries(settings: LogSettings, where: str) -> None:
    """The retry settings, checked now by the client's own rules (they were checked at the
    first request: an `--offline` trial passed a config every online run refused)."""
    try:
        settings.retry_policy()
    except ConfigError as error:
        raise ConfigError(f"{where}{error}") from None


def _index_settings(table: dict[str, Any], source: str) -> IndexSettings:
    index = IndexSettings(files=table.get("files"), links=table.get("links"))
    for i, spec in enumerate(table.get("keysets", [])):
        add_keyset(index, spec, f"{source}: index.keysets[{i}]")
    index.requests_per_second = _positive(
        table.get("requests_per_second", index.requests_per_second),
        f"{source}: index.requests_per_second")
    check_index(index, f"{source}: [index]")
    return index


def _tiled_log(table: dict[str, Any], base: Path, where: str) -> TiledLogSettings:
    if "url" not in table or "verifier" not in table:
        raise ConfigError(f"{where} needs a url and a verifier (the log's signed-note key)")
    return TiledLogSettings(
        url=checked_http_url(table["url"], f"{where}.url", base=True), verifier=table["verifier"],
        policy=_path(base, table["policy"]) if "policy" in table else None,
        requests_per_second=_positive(
            table.get("requests_per_second", TILED_REQUESTS_PER_SECOND),
            f"{where}.requests_per_second"),
        cache=_path(base, table["cache"]) if "cache" in table else None,
        scan_range=table.get("scan_range"))


def _rekor_v2(table: dict[str, Any], base: Path, where: str) -> RekorV2Settings:
    instance = table.get("instance", "production")
    if instance not in SIGSTORE_INSTANCES:
        raise ConfigError(f"{where}.instance {instance!r}: choose production or staging")
    tuf_url, tuf_root = _tuf_repository(table, base, where)
    return RekorV2Settings(
        instance, _positive(table.get("requests_per_second", TILED_REQUESTS_PER_SECOND),
                            f"{where}.requests_per_second"),
        _path(base, table["cache"]) if "cache" in table else None,
        refresh=table.get("refresh", True), tuf_url=tuf_url, tuf_root=tuf_root)


def _tuf_repository(table: dict[str, Any], base: Path, where: str) -> tuple[str | None,
                                                                           Path | None]:
    """`tuf_url` and `tuf_root`: a TUF repository other than Sigstore's, and the root.json that
    anchors trust in it; both or neither."""
    tuf_url = table.get("tuf_url")
    if tuf_url is not None:
        tuf_url = checked_http_url(tuf_url, f"{where}.tuf_url", base=True).rstrip("/")
        if "tuf_root" not in table:
            raise ConfigError(f"{where}.tuf_url needs tuf_root: the repository's root.json "
                              "that anchors trust in it")
    elif "tuf_root" in table:
        raise ConfigError(f"{where}.tuf_root goes with tuf_url (Sigstore's own roots come "
                          "with the sigstore package)")
    return tuf_url, _path(base, table["tuf_root"]) if "tuf_root" in table else None


def _suppression(item: dict[str, Any], index: int, source: str) -> Suppression:
    where = f"{source}: suppressions[{index}]"
    rule, reason, expires = item.get("rule"), item.get("reason"), item.get("expires")
    if rule is None:
        raise ConfigError(f"{where}: a suppression needs the rule it suppresses (rule = ...)")
    if rule not in set(RuleId):
        raise ConfigError(f"{where}.rule {rule!r} is not a known rule id")
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError(f"{where}: a suppression needs a reason")
    if expires is None:
        raise ConfigError(f"{where}: a suppression needs an expiry date (expires = 2026-12-31)")
    component = item.get("component")
    if component is not None and rule in COMPONENTLESS_RULES:
        raise ConfigError(f"{where}: {rule} findings name no component, so component "
                          f"{component!r} never matches one (leave it out)")
    expiry = expires.date() if isinstance(expires, datetime) else expires
    return Suppression(rule=RuleId(rule), component=component, reason=reason,
                       expires=expiry, entry=_suppressed_entry(item.get("entry"), where))


def _suppressed_entry(entry: str | None, where: str) -> str | None:
    """A suppression's entry as findings name it: a Rekor entry UUID (64 or 80 hex, any case)
    or a log index in decimal. An entry not logged yet is taken: only the form is checked,
    since any other text (`0x1f`, `+7`, a digest) could never match a finding."""
    if entry is None:
        return None
    uuid = entry.lower()
    if _ENTRY_UUID.fullmatch(uuid):
        return uuid
    if _LOG_INDEX.fullmatch(entry) and int(entry) <= INT64_MAX:
        return entry
    raise ConfigError(f"{where}.entry {entry[:90]!r} is neither a Rekor entry UUID (64 or 80 "
                      "hex) nor a log index (decimal), so it never matches a finding")


_ENTRY_UUID = re.compile(r"(?:[0-9a-f]{16})?[0-9a-f]{64}")
_LOG_INDEX = re.compile(r"0|[1-9][0-9]{0,18}")


def _check_suppressed_components(settings: Settings, release_components: tuple[str, ...]) -> None:
    """Refuse a suppression naming a component no finding can name: none of the keys, the
    publisher's index keysets, the configured releases or an Oak evidence message names it
    (a typo suppressed nothing, silently). Without keys (a query run with none configured),
    the components are not known here: nothing is refused."""
    named = {s.component for s in settings.suppressions} - {None}
    if not named or not settings.keyset.components:
        return
    known = set(settings.keyset.components) | OBSERVED_COMPONENTS | set(release_components) | {
        c for c in settings.index.keysets.values() if c is not None}
    if named <= known:
        return
    from auditor.reconcile.manifest import load_manifest  # read only when needed

    for release in settings.releases:
        known |= set(load_manifest(release.manifest, release.name).components)
    for index, suppression in enumerate(settings.suppressions):
        if suppression.component is not None and suppression.component not in known:
            raise ConfigError(
                f"{settings.config_path}: suppressions[{index}].component "
                f"{suppression.component[:90]!r} is not a configured component (known: "
                f"{', '.join(sorted(known))}), so it never matches a finding")
