"""Configuration: the TOML file, the shipped reference values, and key sources.

Precedence is flag > environment (`AUDITOR_*`) > file > default; the CLI applies flags and the
environment on top of what `load_config` reads. A key source maps each component (`stage0`,
`kernel`, ... or any name) to its pinned endorser keys and required claims; sources combine.
Relative paths in a config file are relative to that file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError, InputError
from auditor.findings import RULES, Suppression
from auditor.verify.body import BodyError, parse_body
from auditor.verify.keys import PublicKey, load_public_key

SIGSTORE_PRODUCTION = "sigstore-production"
DEFAULT_REKOR_URL = "https://rekor.sigstore.dev"


@dataclass
class ComponentSpec:
    name: str
    keys: list[PublicKey] = field(default_factory=list)
    required_claims: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


@dataclass
class LogSettings:
    url: str = DEFAULT_REKOR_URL
    name: str | None = None
    #: A trusted_root.json path, or "sigstore-production" (the root embedded in `sigstore`).
    trusted_root: str = SIGSTORE_PRODUCTION
    rekor_keys: list[Path] = field(default_factory=list)
    requests_per_second: float = 4.0
    #: The retry budget: attempts beyond the first, and the first backoff delay (seconds).
    max_retries: int = 6
    backoff_base: float = 0.5


@dataclass
class KeySet:
    components: dict[str, ComponentSpec] = field(default_factory=dict)

    def add(self, component: str, key: PublicKey, source: str, claims: Iterable[str] = ()) -> None:
        spec = self.components.setdefault(component, ComponentSpec(component))
        if key not in spec.keys:
            spec.keys.append(key)
        spec.required_claims.extend(c for c in claims if c not in spec.required_claims)
        if source not in spec.sources:
            spec.sources.append(source)

    def keys_for(self, component: str | None) -> tuple[PublicKey, ...]:
        if component is None:
            return ()
        spec = self.components.get(component)
        return tuple(spec.keys) if spec else ()

    def claims_for(self, component: str | None) -> tuple[str, ...]:
        spec = self.components.get(component) if component else None
        return tuple(spec.required_claims) if spec else ()

    def components_of(self, key: PublicKey) -> list[str]:
        return [name for name, spec in self.components.items() if key in spec.keys]

    def signer_component(self, body: bytes) -> tuple[str | None, bool]:
        """(component, pinned) for a log entry body: the one component whose key signed it
        (None when no key or several components pin it), and whether any component does."""
        try:
            key = parse_body(body).key
        except BodyError:
            return None, False
        components = self.components_of(key)
        return (components[0] if len(components) == 1 else None), bool(components)

    def all_keys(self) -> list[tuple[str, PublicKey]]:
        return [(name, key) for name, spec in self.components.items() for key in spec.keys]


@dataclass(frozen=True)
class ReleaseRef:
    name: str
    manifest: Path


@dataclass
class ReportSettings:
    directory: Path | None = None
    formats: list[str] = field(default_factory=list)


@dataclass
class AuditConfig:
    path: Path | None = None
    database_url: str | None = None
    log: LogSettings = field(default_factory=LogSettings)
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


def reference_values_dir() -> Path:
    """Shipped reference data: `auditor/_reference_values` in a wheel, `reference_values/` in a
    checkout."""
    installed = Path(str(resources.files("auditor"))) / "_reference_values"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[1] / (
        "reference_values")


#: The deployment whose keys apply when no key source is configured.
DEFAULT_DEPLOYMENT = "oak_containers_release"


def shipped_deployments() -> dict[str, Path]:
    """Shipped key files, one per deployment (`reference_values/keys/<name>.toml`).

    Each deployment's keys stay apart: a kernel key of Oak Restricted Kernel must never vouch
    for an Oak Containers kernel, and required claims differ per deployment.
    """
    return {p.stem: p for p in sorted((reference_values_dir() / "keys").glob("*.toml"))}


def shipped_reference_values() -> list[Path]:
    """The default deployment's key file."""
    return [shipped_deployments()[DEFAULT_DEPLOYMENT]]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return list(value)


def add_toml_components(document: dict[str, Any], keyset: KeySet, source: str) -> None:
    components = document.get("components", {})
    if not isinstance(components, dict):
        raise ConfigError(f"{source}: [components] must be a table")
    for name, table in components.items():
        where = f"{source}: components.{name}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table")
        claims = _strings(table.get("required_claims", []), f"{where}.required_claims")
        for i, pem in enumerate(_strings(table.get("keys", []), f"{where}.keys")):
            keyset.add(name, load_public_key(pem.encode(), source=f"{where}.keys[{i}]"), source,
                       claims)


def _protobuf_keys(data: bytes, keyset: KeySet, source: str) -> None:
    from auditor.oak.messages import read_reference_values

    for component in read_reference_values(data):
        for raw in component.keys:
            keyset.add(component.component, load_public_key(raw, source=source), source,
                       component.required_claims)


def add_key_source(keyset: KeySet, path: Path) -> None:
    """A TOML key file or an Oak `ReferenceValues` message (binary or text protobuf)."""
    if path.suffix == ".toml":
        add_toml_components(_read_toml(path), keyset, str(path))
        return
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    try:
        _protobuf_keys(data, keyset, str(path))
    except InputError as error:
        raise ConfigError(
            f"{path}: not a TOML key file or Oak reference values ({error})") from None


def load_key_sources(paths: Iterable[Path]) -> KeySet:
    keyset = KeySet()
    for path in paths:
        add_key_source(keyset, path)
    return keyset


def add_component_key(keyset: KeySet, spec: str) -> None:
    """`--key COMPONENT=PEM_FILE`."""
    component, sep, pem_path = spec.partition("=")
    if not sep or not component or not pem_path:
        raise ConfigError(f"--key {spec!r}: expected COMPONENT=PEM_FILE")
    try:
        data = Path(pem_path).read_bytes()
    except OSError as error:
        raise ConfigError(f"--key {spec!r}: cannot read {pem_path} ({error.strerror})") from None
    keyset.add(component, load_public_key(data, source=pem_path), f"--key {component}")


def _suppression(item: Any, index: int, source: str) -> Suppression:
    where = f"{source}: suppressions[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a table")
    rule, reason, expires = item.get("rule"), item.get("reason"), item.get("expires")
    if rule not in RULES:
        raise ConfigError(f"{where}.rule {rule!r} is not a known rule id")
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError(f"{where}: a suppression needs a reason")
    if not isinstance(expires, date):
        raise ConfigError(f"{where}: a suppression needs an expiry date (expires = 2026-12-31)")
    component, entry = item.get("component"), item.get("entry")
    return Suppression(rule=rule, component=str(component) if component else None,
                       reason=reason, expires=expires, entry=str(entry) if entry else None)


def _path(base: Path, value: Any, where: str) -> Path:
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a path string")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _log_settings(table: Any, base: Path, source: str) -> LogSettings:
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [log] must be a table")
    settings = LogSettings()
    settings.url = str(table.get("url", settings.url))
    settings.name = table.get("name")
    root = table.get("trusted_root", SIGSTORE_PRODUCTION)
    settings.trusted_root = root if root == SIGSTORE_PRODUCTION else str(
        _path(base, root, f"{source}: log.trusted_root"))
    where = f"{source}: log.rekor_keys"
    settings.rekor_keys = [_path(base, p, where)
                           for p in _strings(table.get("rekor_keys", []), where)]
    rate = table.get("requests_per_second", settings.requests_per_second)
    if not isinstance(rate, int | float) or rate <= 0:
        raise ConfigError(f"{source}: log.requests_per_second must be a positive number")
    settings.requests_per_second = float(rate)
    retries = table.get("max_retries", settings.max_retries)
    backoff = table.get("backoff_base", settings.backoff_base)
    if not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"{source}: log.max_retries must be a non-negative integer")
    if not isinstance(backoff, int | float) or backoff < 0:
        raise ConfigError(f"{source}: log.backoff_base must be a non-negative number")
    settings.max_retries, settings.backoff_base = retries, float(backoff)
    return settings


def load_config(path: Path | None) -> AuditConfig:
    """Read a config file; without one, the defaults: shipped keys, Sigstore production."""
    if path is None:
        return AuditConfig(keyset=load_key_sources(shipped_reference_values()))
    document = _read_toml(path)
    base, source = path.resolve().parent, str(path)
    config = AuditConfig(path=path)
    database = document.get("database", {})
    config.database_url = database.get("url") if isinstance(database, dict) else None
    config.log = _log_settings(document.get("log", {}), base, source)
    statements = document.get("statements", {})
    if isinstance(statements, dict) and statements.get("source"):
        value = str(statements["source"])
        config.statements = value if "://" in value else str(_path(base, value, source))
    key_sources = [_path(base, p, f"{source}: key_sources")
                   for p in _strings(document.get("key_sources", []), f"{source}: key_sources")]
    has_inline = bool(document.get("components"))
    for key_source in key_sources or ([] if has_inline else shipped_reference_values()):
        add_key_source(config.keyset, key_source)
    add_toml_components(document, config.keyset, source)
    crawl = document.get("crawl", {})
    if isinstance(crawl, dict):
        config.uuids = _strings(crawl.get("uuids", []), f"{source}: crawl.uuids")
        config.log_indexes = [int(i) for i in crawl.get("log_indexes", [])]
    for i, release in enumerate(document.get("releases", [])):
        if not isinstance(release, dict) or "manifest" not in release:
            raise ConfigError(f"{source}: releases[{i}] needs a manifest path")
        manifest = _path(base, release["manifest"], f"{source}: releases[{i}].manifest")
        config.releases.append(ReleaseRef(str(release.get("name", manifest.stem)), manifest))
    config.suppressions = [_suppression(item, i, source)
                           for i, item in enumerate(document.get("suppressions", []))]
    config.imports = [_path(base, p, f"{source}: import")
                      for p in _strings(document.get("import", []), f"{source}: import")]
    reconcile = document.get("reconcile", {})
    since = reconcile.get("expected_since") if isinstance(reconcile, dict) else None
    if since is not None:
        if isinstance(since, date) and not isinstance(since, datetime):
            since = datetime(since.year, since.month, since.day, tzinfo=UTC)
        if not isinstance(since, datetime):
            raise ConfigError(f"{source}: reconcile.expected_since must be a date")
        config.expected_since = since if since.tzinfo else since.replace(tzinfo=UTC)
    reports = document.get("reports", {})
    if isinstance(reports, dict):
        if reports.get("directory"):
            config.reports.directory = _path(base, reports["directory"], source)
        config.reports.formats = _strings(reports.get("formats", []), f"{source}: reports.formats")
    return config
