"""Component keys and log settings: shipped reference values, a user's TOML, or Oak protobuf.

A key source maps each component (`stage0`, `kernel`, ... or any name) to its pinned endorser
keys and required claims. Sources combine: keys for the same component add up.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError, InputError
from auditor.verify.keys import PublicKey, load_public_key


@dataclass
class ComponentSpec:
    name: str
    keys: list[PublicKey] = field(default_factory=list)
    required_claims: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


@dataclass
class LogSettings:
    name: str | None = None
    url: str | None = None
    trusted_root: str | None = None
    rekor_keys: list[str] = field(default_factory=list)


@dataclass
class KeySet:
    components: dict[str, ComponentSpec] = field(default_factory=dict)
    log: LogSettings = field(default_factory=LogSettings)

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

    def components_of(self, key: PublicKey) -> list[str]:
        return [name for name, spec in self.components.items() if key in spec.keys]


def shipped_reference_values() -> list[Path]:
    """The TOML key files shipped with the auditor (`reference_values/` in a checkout)."""
    installed = Path(str(resources.files("auditor"))) / "_reference_values"
    directory = installed if installed.is_dir() else Path(__file__).resolve().parents[1] / (
        "reference_values"
    )
    return sorted(directory.glob("*.toml"))


def _toml_keys(document: dict[str, Any], keyset: KeySet, source: str) -> None:
    components = document.get("components", {})
    if not isinstance(components, dict):
        raise ConfigError(f"{source}: [components] must be a table")
    for name, table in components.items():
        if not isinstance(table, dict) or not isinstance(table.get("keys", []), list):
            raise ConfigError(f"{source}: components.{name}.keys must be a list of PEM keys")
        claims = table.get("required_claims", [])
        if not isinstance(claims, list) or not all(isinstance(c, str) for c in claims):
            raise ConfigError(f"{source}: components.{name}.required_claims must be strings")
        for i, pem in enumerate(table.get("keys", [])):
            if not isinstance(pem, str):
                raise ConfigError(f"{source}: components.{name}.keys[{i}] is not a string")
            key = load_public_key(pem.encode(), source=f"{source}: components.{name}.keys[{i}]")
            keyset.add(name, key, source, claims)
    log = document.get("log", {})
    if isinstance(log, dict):
        keyset.log.name = log.get("name", keyset.log.name)
        keyset.log.url = log.get("url", keyset.log.url)
        keyset.log.trusted_root = log.get("trusted_root", keyset.log.trusted_root)
        keyset.log.rekor_keys.extend(log.get("rekor_keys", []))


def _protobuf_keys(data: bytes, keyset: KeySet, source: str) -> None:
    from auditor.oak.messages import read_reference_values

    for component in read_reference_values(data):
        for raw in component.keys:
            keyset.add(component.component, load_public_key(raw, source=source), source,
                       component.required_claims)


def load_key_sources(paths: Iterable[Path]) -> KeySet:
    """Read TOML key files and Oak `ReferenceValues` messages (binary or text) into one set."""
    keyset = KeySet()
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
        if path.suffix == ".toml":
            try:
                document = tomllib.loads(data.decode())
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
                raise ConfigError(f"{path}: not valid TOML ({error})") from None
            _toml_keys(document, keyset, str(path))
        else:
            try:
                _protobuf_keys(data, keyset, str(path))
            except InputError as error:
                raise ConfigError(f"{path}: not a TOML key file or Oak reference values "
                                  f"({error})") from None
    return keyset
