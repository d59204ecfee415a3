"""Component keys: which endorser keys each component pins, and which claims it requires.

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
from typing import TYPE_CHECKING, Any, TypeVar

from auditor.errors import ConfigError, InputError
from auditor.toml_schema import STRING, STRINGS, Table, check, read_toml
from auditor.verify.keys import PublicKey, load_public_key

if TYPE_CHECKING:
    # Imported where used: they pull in protobuf, which a TOML-only key set does not need.
    from cryptography import x509

    from auditor.oak.messages import ComponentKeys
    from auditor.receipt_policy import TLogRequirement
    from auditor.verify.receipts import PesKeySource, ReceiptTrust, TlogPolicySource

T = TypeVar("T")

#: The deployment whose keys apply when no key source is configured.
DEFAULT_DEPLOYMENT = "oak_containers_release"

#: Keys of a component table that set the auditor's own receipt policy and trust (the
#: configuration's counterpart of Oak's TLogReferenceValues, see auditor.receipt_policy).
RECEIPT_SETTINGS = {"tlog": STRING, "receipts": STRINGS, "tlog_policy": STRING,
                    "pes_keys": STRINGS, "pes_roots": STRINGS}
COMPONENT_TABLE = Table({"keys": STRINGS, "required_claims": STRINGS, **RECEIPT_SETTINGS})
#: A key file: `[components.<name>]` tables, and the `[log]` the keys belong with (informative).
KEY_FILE = Table({
    "log": Table({"name": STRING, "url": STRING, "trusted_root": STRING}),
    "components": Table(each=COMPONENT_TABLE),
})


@dataclass
class ComponentSpec:
    name: str
    keys: list[PublicKey] = field(default_factory=list)
    required_claims: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    #: Receipt policies: Oak's TLogReferenceValues of each reference values source (for what
    #: its keys sign) and the config's own (for all of the component's endorsements).
    tlog: list[TLogRequirement] = field(default_factory=list)
    #: What its tlog-proofs and PES confirmations are verified under, each with its source.
    tlog_policies: list[TlogPolicySource] = field(default_factory=list)
    pes_keys: list[PesKeySource] = field(default_factory=list)
    pes_roots: list[x509.Certificate] = field(default_factory=list)


def _add_once(items: list[T], item: T) -> None:
    if item not in items:
        items.append(item)


@dataclass
class KeySet:
    components: dict[str, ComponentSpec] = field(default_factory=dict)

    def spec(self, component: str) -> ComponentSpec:
        return self.components.setdefault(component, ComponentSpec(component))

    def add(self, component: str, key: PublicKey, source: str, claims: Iterable[str] = ()) -> None:
        spec = self.spec(component)
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
        from auditor.verify.receipts import ReceiptKind

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


def add_toml_components(components: dict[str, Any], keyset: KeySet, source: str,
                        base: Path | None = None) -> None:
    """`[components.<name>]` tables (already checked against COMPONENT_TABLE); relative
    paths are relative to `base`."""
    for name, table in components.items():
        where = f"{source}: components.{name}"
        claims = table.get("required_claims", [])
        for i, pem in enumerate(table.get("keys", [])):
            keyset.add(name, load_public_key(pem.encode(), source=f"{where}.keys[{i}]"), source,
                       claims)
        if RECEIPT_SETTINGS.keys() & table.keys():
            _add_receipt_settings(keyset.spec(name), table, where, base or Path.cwd())


def _add_receipt_settings(spec: ComponentSpec, table: dict[str, Any], where: str,
                          base: Path) -> None:
    """The auditor's own receipt policy and trust for a component (`tlog`, `receipts`,
    `tlog_policy`, `pes_keys`, `pes_roots`)."""
    from auditor.oak.messages import TLogStrategy
    from auditor.receipt_policy import TLogRequirement
    from auditor.verify.receipts import (
        PesKeySource,
        ReceiptKind,
        TlogPolicySource,
        load_certificate,
        load_pes_key,
    )

    if "tlog" in table:
        strategy = _choice(table["tlog"], TLogStrategy, f"{where}.tlog")
        receipts = table.get("receipts")
        kinds = None if receipts is None else tuple(
            _choice(kind, ReceiptKind, f"{where}.receipts") for kind in receipts)
        _add_once(spec.tlog, TLogRequirement(f"config {where}", strategy, kinds))
    elif "receipts" in table:
        raise ConfigError(f"{where}.receipts chooses the receipts of a `tlog` policy: set tlog")
    if "tlog_policy" in table:
        path = _relative(base, table["tlog_policy"])
        _add_once(spec.tlog_policies, TlogPolicySource(f"config {where}.tlog_policy",
                                                       _tlog_policy(path, f"{where}.tlog_policy")))
    try:
        pes_keys = []
        for index, value in enumerate(table.get("pes_keys", [])):
            item = f"{where}.pes_keys[{index}]"
            pes_keys.append(load_pes_key(_pem_or_file(value, base, item), index, source=item))
        if pes_keys:
            _add_once(spec.pes_keys, PesKeySource(f"config {where}.pes_keys", tuple(pes_keys)))
        for index, value in enumerate(table.get("pes_roots", [])):
            item = f"{where}.pes_roots[{index}]"
            _add_once(spec.pes_roots, load_certificate(_pem_or_file(value, base, item),
                                                       source=item))
    except InputError as error:
        raise ConfigError(str(error)) from None


def _choice(value: str, choices: Any, where: str) -> Any:
    try:
        return choices(value)
    except ValueError:
        names = ", ".join(choice.value for choice in choices)
        raise ConfigError(f"{where} {value!r}: choose one of {names}") from None


def _relative(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _read(path: Path, where: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{where}: {path}: cannot read ({error.strerror})") from None


def _pem_or_file(value: str, base: Path, where: str) -> bytes:
    """Inline PEM text, or the path of a PEM or DER file."""
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    return _read(_relative(base, value), where)


def _tlog_policy(path: Path, where: str) -> Any:
    from auditor.verify.policy import parse_policy

    try:
        return parse_policy(_read(path, where).decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: {path}: not UTF-8 text") from None
    except InputError as error:
        raise ConfigError(f"{where}: {path}: {error}") from None


def _protobuf_keys(data: bytes, keyset: KeySet, source: str) -> None:
    from auditor.oak.messages import read_reference_values

    for component in read_reference_values(data):
        for raw in component.keys:
            keyset.add(component.component, load_public_key(raw, source=source), source,
                       component.required_claims)
        _add_oak_tlog(keyset.spec(component.component), component, source)


def _add_oak_tlog(spec: ComponentSpec, component: ComponentKeys, source: str) -> None:
    """Oak's TLogReferenceValues of one reference value: a policy for what its keys sign, and
    the tlog-policy and PES keys that its receipts are verified under."""
    from auditor.receipt_policy import oak_requirement
    from auditor.verify.policy import parse_policy
    from auditor.verify.receipts import PesKeySource, TlogPolicySource

    label = f"Oak reference values {source}"
    policy = component.tlog
    signers = [load_public_key(raw, source=source).key_id.hex() for raw in component.keys]
    # A Rekor v1 logID is the sha256 of the log key's SPKI.
    logs = [PublicKey(key.spki_der).key_id.hex() for key in policy.rekor.keys] \
        if policy.rekor is not None else []
    _add_once(spec.tlog, oak_requirement(policy, label, signers, logs))
    if policy.c2sp_policy is not None:
        try:
            parsed = parse_policy(policy.c2sp_policy)
        except InputError as error:
            raise InputError(f"{component.component} tlog c2sp policy: {error}") from None
        _add_once(spec.tlog_policies, TlogPolicySource(label, parsed))
    if policy.pes is not None:
        _add_once(spec.pes_keys, PesKeySource(label, policy.pes.keys))


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
            f"{path}: not a TOML key file or Oak reference values ({error})") from None


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
    keyset.add(component, load_public_key(data, source=pem_path), f"{flag} {component}")
