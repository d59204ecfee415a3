"""Component keys: which endorser keys each component pins, which claims it requires, and which
transparency receipts its endorsements need (auditor.receipt_policy).

A key source maps each component (`stage0`, `kernel`, ... or any name) to its pinned endorser
keys and required claims: a TOML key file, an Oak `ReferenceValues` message, a `--key
COMPONENT=PEM` flag, or `[components.*]` tables of the config. Sources combine. The shipped key
files (`reference_values/keys/<deployment>.toml`) are kept per deployment: a Restricted Kernel
key must never vouch for an Oak Containers kernel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.errors import ConfigError, InputError
from auditor.toml_schema import TEXT, TEXTS, Table, check, read_toml

if TYPE_CHECKING:
    # Imported where used: they pull in protobuf and cryptography, which a TOML-only key set
    # (or a query, which reads no key) does not need.
    from cryptography import x509

    from auditor.receipt_policy import TLogRequirement
    from auditor.verify.keys import PublicKey
    from auditor.verify.receipts import PesKeySource, ReceiptTrust, TlogPolicySource

#: The deployment whose keys apply when no key source is configured.
DEFAULT_DEPLOYMENT = "oak_containers_release"

#: The one endorser key type (`PublicKey.algorithm`): Oak signs endorsements with ECDSA P-256 /
#: SHA-256 (`KEY_TYPE_ECDSA_P256_SHA256`), and its reference values refuse any other endorser key
#: (auditor.oak.messages). A P-384, RSA or Ed25519 key pins no Oak endorsement.
ENDORSER_ALGORITHM = "ecdsa-secp256r1"

#: Keys of a component table that set the auditor's own receipt policy and trust (the
#: configuration's counterpart of Oak's TLogReferenceValues, see auditor.receipt_policy).
RECEIPT_SETTINGS = {"tlog": TEXT, "receipts": TEXTS, "tlog_policy": TEXT,
                    "pes_keys": TEXTS, "pes_roots": TEXTS}
COMPONENT_TABLE = Table({"keys": TEXTS, "required_claims": TEXTS, **RECEIPT_SETTINGS})
#: A key file: `[components.<name>]` tables, and the `[log]` the keys belong with (informative).
KEY_FILE = Table({
    "log": Table({"name": TEXT, "url": TEXT, "trusted_root": TEXT}),
    "components": Table(each=COMPONENT_TABLE),
})


@dataclass
class ComponentSpec:
    name: str
    keys: list[PublicKey] = field(default_factory=list)
    required_claims: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    #: Where each key came from (SPKI DER -> sources): a key is credited only to the sources
    #: that name it, not to every source of its component.
    key_sources: dict[bytes, list[str]] = field(default_factory=dict)
    #: Receipt policies: Oak's TLogReferenceValues of each reference values source (for what
    #: its keys sign) and the config's own (for all of the component's endorsements).
    tlog: list[TLogRequirement] = field(default_factory=list)
    #: What its tlog-proofs and PES confirmations are verified under, each with its source.
    tlog_policies: list[TlogPolicySource] = field(default_factory=list)
    pes_keys: list[PesKeySource] = field(default_factory=list)
    pes_roots: list[x509.Certificate] = field(default_factory=list)


def require_endorser_key(key: PublicKey, where: str) -> PublicKey:
    """`key`, if it is of the one endorser key type; else a ConfigError naming `where` it came
    from and its type. Every endorser key is checked here: the pinned ones (`KeySet.add`) and
    `audit verify-entry --key`."""
    if key.algorithm != ENDORSER_ALGORITHM:
        raise ConfigError(f"{where}: its key is {key.algorithm}, where endorser keys are ECDSA "
                          "P-256 (ecdsa-secp256r1), the one type Oak signs endorsements with")
    return key


@dataclass
class KeySet:
    components: dict[str, ComponentSpec] = field(default_factory=dict)

    def spec(self, component: str) -> ComponentSpec:
        return self.components.setdefault(component, ComponentSpec(component))

    def add(self, component: str, key: PublicKey, source: str, claims: Iterable[str] = ()) -> None:
        claims = tuple(claims)
        _require_text(component, claims, source)
        # Every key source comes through here: a config table, a key file, `--key`.
        require_endorser_key(key, f"{source}: component {component!r}")
        spec = self.spec(component)
        if key not in spec.keys:
            spec.keys.append(key)
        spec.required_claims.extend(c for c in claims if c not in spec.required_claims)
        if source not in spec.sources:
            spec.sources.append(source)
        named_by = spec.key_sources.setdefault(key.spki_der, [])
        if source not in named_by:
            named_by.append(source)

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

    def signer_component(self, key: PublicKey | None) -> tuple[str | None, bool]:
        """(component, pinned) for a signing key: the one component that pins it (None when
        no component or several do), and whether any component does."""
        if key is None:
            return None, False
        components = self.components_of(key)
        return (components[0] if len(components) == 1 else None), bool(components)

    def all_keys(self) -> list[tuple[str, PublicKey]]:
        return [(name, key) for name, spec in self.components.items() for key in spec.keys]

    def pinned_key_ids(self) -> set[str]:
        return {key.key_id.hex() for _, key in self.all_keys()}

    def requirements_for(self, component: str | None,
                         signer_sha256: str | None) -> list[TLogRequirement]:
        """The receipt policies that apply to an endorsement of `component` by this signer."""
        from auditor.verify.receipt_state import ReceiptKind

        spec = self.components.get(component) if component else None
        if spec is None:
            return []
        trusted = [kind for kind, sources in ((ReceiptKind.C2SP, spec.tlog_policies),
                                              (ReceiptKind.PES, spec.pes_keys)) if sources]
        return [r.resolved(trusted) for r in spec.tlog if r.applies_to(signer_sha256)]

    def receipt_trust(self, component: str | None) -> ReceiptTrust:
        """What the component's tlog-proofs and PES confirmations are verified under."""
        from auditor.verify.receipts import ReceiptTrust

        spec = self.components.get(component) if component else None
        if spec is None:
            return ReceiptTrust()
        return ReceiptTrust(tuple(spec.tlog_policies), tuple(spec.pes_keys),
                            tuple(spec.pes_roots))


def reference_values_dir() -> Path:
    """Shipped reference data: `auditor/_reference_values` in a wheel, `reference_values/` in a
    checkout."""
    installed = Path(str(resources.files("auditor"))) / "_reference_values"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[1] / (
        "reference_values")


def shipped_deployments() -> dict[str, Path]:
    """Shipped key files, one per deployment (`reference_values/keys/<name>.toml`)."""
    return {p.stem: p for p in sorted((reference_values_dir() / "keys").glob("*.toml"))}


def shipped_reference_values() -> list[Path]:
    """The default deployment's key file."""
    return [shipped_deployments()[DEFAULT_DEPLOYMENT]]


def _require_text(component: str, claims: tuple[str, ...], source: str) -> None:
    """Component names and required claims end up in stored rows and check details: a U+0000
    (a protobuf string or a TOML escape may hold one) stopped the import at PostgreSQL."""
    from auditor.source.json_input import is_text

    for what, value in (("component name", component),
                        *((f"required claim of {component}", claim) for claim in claims)):
        if not is_text(value):
            raise InputError(f"{source}: {what} {value!r} holds U+0000 or an unpaired "
                             "surrogate, which no database holds")


def _public_key(data: bytes, source: str) -> PublicKey:
    # Loaded here, not at import: cryptography is not needed by the commands that resolve
    # settings without reading any key (the queries).
    from auditor.verify.keys import load_pinned_key

    return load_pinned_key(data, source=source)


def add_toml_components(components: dict[str, Any], keyset: KeySet, source: str,
                        base: Path | None = None) -> None:
    """`[components.<name>]` tables (already checked against COMPONENT_TABLE); relative
    paths are relative to `base`."""
    for name, table in components.items():
        where = f"{source}: components.{name}"
        claims = table.get("required_claims", [])
        for i, pem in enumerate(table.get("keys", [])):
            keyset.add(name, _public_key(pem.encode(), f"{where}.keys[{i}]"), source,
                       claims)
        if RECEIPT_SETTINGS.keys() & table.keys():
            from auditor.receipt_policy import add_config_receipts

            add_config_receipts(keyset.spec(name), table, where, base or Path.cwd())


def _protobuf_keys(data: bytes, keyset: KeySet, source: str) -> None:
    from auditor.oak.messages import read_reference_values
    from auditor.receipt_policy import add_oak_receipts

    for component in read_reference_values(data):
        for raw in component.keys:
            keyset.add(component.component, _public_key(raw, source), source,
                       component.required_claims)
        add_oak_receipts(keyset.spec(component.component), component, source)


def add_key_source(keyset: KeySet, path: Path) -> None:
    """A TOML key file or an Oak `ReferenceValues` message (binary or text protobuf)."""
    if path.suffix == ".toml":
        document = read_toml(path, "TOML key file")
        check(document, KEY_FILE, str(path))
        add_toml_components(document.get("components", {}), keyset, str(path),
                            path.resolve().parent)
        return
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such key file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    try:
        _protobuf_keys(data, keyset, str(path))
    except InputError as error:
        raise ConfigError(
            f"{path}: not a TOML key file or Oak reference values "
            f"({str(error).removeprefix(f'{path}: ')})") from None


def load_key_sources(paths: Iterable[Path]) -> KeySet:
    keyset = KeySet()
    for path in paths:
        add_key_source(keyset, path)
    return keyset


def add_component_key(keyset: KeySet, spec: str, *, flag: str = "--key") -> None:
    """`--key COMPONENT=PEM_FILE`."""
    component, sep, pem_path = spec.partition("=")
    if not sep or not component or not pem_path:
        raise ConfigError(f"{flag} {spec!r}: expected COMPONENT=PEM_FILE")
    try:
        data = Path(pem_path).read_bytes()
    except OSError as error:
        raise ConfigError(f"{flag} {spec!r}: cannot read {pem_path} ({error.strerror})") \
            from None
    keyset.add(component, _public_key(data, pem_path), f"{flag} {component}")
