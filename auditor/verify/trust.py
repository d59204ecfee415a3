"""Transparency-log keys we trust: pinned PEMs or a Sigstore trusted root.

A log key is trusted only inside its validity window (trusted_root.json `validFor`), judged at
the entry's integration time: a retired shard's key must not vouch for entries made after it
was retired. Sigstore's own roots come through `sigstore`'s public API (`ClientTrustConfig`),
offline; so do the Rekor v1 keys and the Rekor v2 shards a crawl follows, brought up to date
from Sigstore's TUF repository (or another) first when the crawl asks for it.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

from cryptography.hazmat.primitives.asymmetric import ed25519

from auditor.errors import InputError
from auditor.source.fields import b64_field
from auditor.source.json_input import loads
from auditor.verify.checkpoint import ed25519_key_id
from auditor.verify.keys import PublicKey, load_pinned_key, load_public_key

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig, SigningConfig, TrustedRoot

log = logging.getLogger(__name__)

SigstoreInstance = Literal["production", "staging"]


@dataclass(frozen=True)
class LogKey:
    """One log's verifying key, with the name its checkpoints are signed under."""

    key: PublicKey
    log_id: bytes
    #: Checkpoint signer name and origin host (`rekor.sigstore.dev`, or `host:port` for a log
    #: served on an explicit port); None when unknown.
    name: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def valid_at(self, when: datetime | None) -> bool:
        if when is None:
            return True
        if self.valid_from is not None and when < self.valid_from:
            return False
        return not (self.valid_until is not None and when > self.valid_until)

    @property
    def is_ed25519(self) -> bool:
        return isinstance(self.key.crypto, ed25519.Ed25519PublicKey)


def c2sp_key_id(name: str, key: ed25519.Ed25519PublicKey) -> bytes:
    """The full 32-byte C2SP signed-note key id (c2sp.org/signed-note).

    Sigstore's trusted root uses it as the logId of Rekor v2 shards; the checkpoint key hint
    (`checkpoint.ed25519_key_hint`) is its first 4 bytes.
    """
    return ed25519_key_id(name, key)


def log_key_from_pem(data: bytes, *, name: str | None = None, source: str = "log key") -> LogKey:
    key = load_pinned_key(data, source=source)
    crypto = key.crypto
    if isinstance(crypto, ed25519.Ed25519PublicKey):
        if name is None:
            raise InputError(f"{source}: an Ed25519 (Rekor v2) log key needs the log's name")
        return LogKey(key=key, log_id=c2sp_key_id(name, crypto), name=name)
    return LogKey(key=key, log_id=key.key_id, name=name)


@dataclass(frozen=True)
class LogKeyring:
    keys: tuple[LogKey, ...]
    source: str

    def candidates(self, log_id: bytes) -> list[LogKey]:
        return [k for k in self.keys if k.log_id == log_id]

    def find(self, log_id: bytes, when: datetime | None) -> tuple[LogKey | None, str]:
        """The key for `log_id` valid at `when`, or None with the reason."""
        matching = self.candidates(log_id)
        if not matching:
            return None, f"logID {log_id.hex()} is not a pinned log key ({self.source})"
        for key in matching:
            if key.valid_at(when):
                return key, f"logID {log_id.hex()} is pinned ({self.source})"
        return None, (
            f"logID {log_id.hex()} is pinned ({self.source}) but its key was not valid at "
            f"{when.isoformat() if when else 'the entry time'}"
        )

    def by_name(self, name: str) -> list[LogKey]:
        return [k for k in self.keys if k.name == name]

    @classmethod
    def from_pems(cls, pems: Sequence[bytes], sources: Sequence[str]) -> LogKeyring:
        return cls(
            tuple(log_key_from_pem(p, source=s) for p, s in zip(pems, sources, strict=True)),
            source="--rekor-key",
        )


def _parse_time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{where}: timestamp is not a string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{where}: {value!r} is not an RFC 3339 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _tlog_key(entry: Any, index: int, source: str) -> LogKey:
    where = f"{source}: tlogs[{index}]"
    if not isinstance(entry, dict):
        raise InputError(f"{where} is not an object")
    base_url = entry.get("baseUrl")
    if isinstance(base_url, str):
        where = f"{where} ({base_url!r})"
    public_key = entry.get("publicKey")
    if not isinstance(public_key, dict) or not isinstance(public_key.get("rawBytes"), str):
        raise InputError(f"{where}: publicKey.rawBytes missing")
    try:
        key = load_public_key(base64.b64decode(public_key["rawBytes"], validate=True), source=where)
    except ValueError:
        raise InputError(f"{where}: publicKey.rawBytes is not base64") from None
    log_id = entry.get("logId")
    key_id = b64_field(log_id.get("keyId") if isinstance(log_id, dict) else None,
                       f"{where}: logId.keyId")
    valid_for = public_key.get("validFor")
    if not isinstance(valid_for, dict) or valid_for.get("start") is None:
        # A missing bound is not an open one: a key must say since when it vouches (protobuf-
        # specs TimeRange.start is required; Sigstore conformance
        # trust-root-tlog-missing-validity-start_fail).
        raise InputError(f"{where}: publicKey.validFor.start missing; a log key without a "
                         "validity start is not trusted")
    return LogKey(
        key=key,
        log_id=key_id,
        name=_log_name(base_url, where) if isinstance(base_url, str) else None,
        valid_from=_parse_time(valid_for["start"], where),
        valid_until=_parse_time(valid_for.get("end"), where),
    )


def _log_name(base_url: str, where: str) -> str | None:
    """The name a log signs its checkpoints under, from its base URL: the host, with the port
    when the URL gives one (`rekor.sigstore.dev`, `127.0.0.1:3000`); None without a host."""
    parsed = urlparse(base_url)
    try:
        port = parsed.port
    except ValueError:
        raise InputError(f"{where}: {base_url!r} has an invalid port") from None
    host = parsed.hostname
    if host is None:
        return None
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets before a port
    return f"{host}:{port}" if port is not None else host


def keyring_from_trusted_root(data: bytes, *, source: str) -> LogKeyring:
    """Parse a Sigstore `trusted_root.json` (media type ...trustedroot+json;version=0.1)."""
    return _keyring(loads(data, source), source)


def _keyring(document: Any, source: str) -> LogKeyring:
    keys = tuple(_tlog_key(t, i, source) for i, t in enumerate(_tlogs(document, source)))
    if not keys:
        raise InputError(f"{source}: the trusted root lists no transparency logs")
    return LogKeyring(keys, source=source)


def _tlogs(document: Any, source: str) -> list[Any]:
    if not isinstance(document, dict) or not isinstance(document.get("tlogs"), list):
        raise InputError(f"{source}: not a Sigstore trusted root (no tlogs list)")
    tlogs: list[Any] = document["tlogs"]
    return tlogs


# --- Sigstore's own roots, through sigstore's public API -------------------------------------


#: The TUF repositories of Sigstore's instances (their root.json comes with `sigstore`).
SIGSTORE_TUF_URLS: dict[str, str] = {"production": "https://tuf-repo-cdn.sigstore.dev",
                                     "staging": "https://tuf-repo-cdn.sigstage.dev"}


def sigstore_trust_config(instance: SigstoreInstance,
                          tuf_url: str | None = None) -> ClientTrustConfig:
    """Sigstore's production or staging trust config (trusted root and signing config), or
    that of the TUF repository at `tuf_url`, offline.

    Offline, `sigstore` reads its TUF cache (platformdirs' user cache directory): what the last
    refresh fetched, or for its own instances the roots embedded in the package.
    """
    from sigstore.errors import Error as SigstoreError

    try:
        with _quiet("sigstore"):
            return _trust_config(instance, tuf_url, offline=True)
    except (SigstoreError, OSError, ValueError) as error:
        raise InputError(f"{tuf_url or f'sigstore {instance}'} trust config (offline): "
                         f"{error}") from None


def refreshed_trust_config(instance: SigstoreInstance, tuf_url: str | None = None,
                           tuf_root: Path | None = None) -> ClientTrustConfig:
    """The trust config brought up to date from its TUF repository now: Sigstore's for
    `instance`, or the one at `tuf_url` anchored by the root.json `tuf_root`. `sigstore`
    verifies every piece of TUF metadata (signatures, versions, expiry) and caches what it
    fetched, which later offline reads use. InputError naming the repository and why, if not.
    """
    url = tuf_url or SIGSTORE_TUF_URLS[instance]
    try:
        with _quiet("sigstore"), _quiet("tuf"):
            return _trust_config(instance, tuf_url, offline=False, tuf_root=tuf_root)
    # Whatever the repository or the network does (sigstore wraps most of it in TUFError,
    # not all): the refresh failed, which the crawl reports; nothing unverified is used.
    except Exception as error:
        raise InputError(f"TUF repository {url}: {_causes(error)}") from None


@dataclass
class _Refresh:
    """One TUF repository's refresh in a crawl: its trust config, or why it failed, and what
    each user of it does instead (`the shards of the cached copy are followed`)."""

    config: ClientTrustConfig | None
    error: str | None
    users: dict[str, str]


class TrustRefreshes:
    """A crawl's refreshes of TUF repositories: each (instance, repository, root) is asked once
    and its answer shared by every user (Rekor v1's log keys and the Rekor v2 shards both read
    Sigstore production's): asked twice, an outage was two incomplete reasons for one fault."""

    def __init__(self) -> None:
        self._refreshes: dict[tuple[SigstoreInstance, str | None, Path | None], _Refresh] = {}

    def config(self, user: str, fallback: str, instance: SigstoreInstance,
               tuf_url: str | None = None, tuf_root: Path | None = None
               ) -> ClientTrustConfig | None:
        """The trust config `user` reads, refreshed now (see `refreshed_trust_config`), or None
        if the refresh failed: `fallback` says what `user` does instead, in `failures`."""
        key = (instance, tuf_url, tuf_root)
        refresh = self._refreshes.get(key)
        if refresh is None:
            try:
                refresh = _Refresh(refreshed_trust_config(instance, tuf_url, tuf_root), None, {})
            except InputError as error:
                refresh = _Refresh(None, str(error), {})
            self._refreshes[key] = refresh
        refresh.users[user] = fallback
        return refresh.config

    def failures(self) -> list[tuple[str, str]]:
        """Each failed refresh as (its users, why and what they do instead), one per
        repository."""
        return [(" and ".join(refresh.users),
                 f"not refreshed: {refresh.error}; {', '.join(refresh.users.values())}")
                for refresh in self._refreshes.values() if refresh.error is not None]


def _trust_config(instance: SigstoreInstance, tuf_url: str | None, *, offline: bool,
                  tuf_root: Path | None = None) -> ClientTrustConfig:
    """Sigstore's own instance's trust config, or the TUF repository at `tuf_url`'s."""
    # Deferred: importing sigstore.models costs about 0.15 s, which only this path pays.
    from sigstore.models import ClientTrustConfig

    if tuf_url is not None:
        return ClientTrustConfig.from_tuf(tuf_url, offline=offline, bootstrap_root=tuf_root)
    load = ClientTrustConfig.production if instance == "production" else ClientTrustConfig.staging
    return load(offline=offline)


def _causes(error: BaseException) -> str:
    """`error` and what caused it, on one line (sigstore's "Failed to refresh TUF metadata"
    says nothing of why without its cause)."""
    reasons: list[str] = []
    cause: BaseException | None = error
    while cause is not None and len(reasons) < 4:
        text = " ".join(str(cause).split()) or type(cause).__name__
        if text not in reasons:
            reasons.append(text[:300])
        cause = cause.__cause__ or cause.__context__
    return ": ".join(reasons)


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Keep a library's log records away from Python's last-resort stderr handler.

    sigstore warns on every offline load that it will not update, which is what we asked for;
    with no logging configured (our CLI) the warning would land on stderr. A configured
    handler still receives it.
    """
    logger = logging.getLogger(logger_name)
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def sigstore_keyring(instance: SigstoreInstance = "production",
                     tuf_url: str | None = None) -> LogKeyring:
    """The log keys of Sigstore's production or staging trusted root (or that of the TUF
    repository at `tuf_url`) as cached, offline: what the last refresh fetched, else for
    Sigstore's own the root the `sigstore` package embeds."""
    root = sigstore_trust_config(instance, tuf_url).trusted_root
    return keyring_from_sigstore(root, source=f"{_repository(instance, tuf_url)} trusted root "
                                              "(cached)")


def refreshed_keyring(config: ClientTrustConfig, instance: SigstoreInstance,
                      tuf_url: str | None = None) -> LogKeyring:
    """The log keys of a trust config brought up to date from its TUF repository (see
    `TrustRefreshes`): a log key Sigstore rotates in is trusted from the next crawl."""
    return keyring_from_sigstore(config.trusted_root, source=f"{_repository(instance, tuf_url)} "
                                                             "trusted root (refreshed)")


def _repository(instance: SigstoreInstance, tuf_url: str | None) -> str:
    return tuf_url or f"sigstore {instance}"


def production_keyring() -> LogKeyring:
    return sigstore_keyring("production")


def keyring_from_sigstore(root: TrustedRoot, *, source: str) -> LogKeyring:
    """The log keys of a `sigstore.models.TrustedRoot`, each inside its validity window."""
    return _keyring(_protobuf_json(root), source)


def _protobuf_json(value: TrustedRoot | SigningConfig) -> Any:
    """The protobuf-specs JSON of a sigstore TrustedRoot or SigningConfig.

    sigstore 4.5 gives no public read access to a trusted root's transparency logs (TrustedRoot
    offers keyrings selected by a `sigstore._internal` enum, without URLs or validity windows)
    nor to a signing config's full Rekor list (SigningConfig.get_tlogs() returns only the
    services valid now, as `_internal` clients), and neither class has a to_json(). Each wraps
    its protobuf-specs message, a `sigstore_models` model whose to_json() is that package's
    public API: we serialise that and parse it like any trusted_root.json, relying on nothing
    else of sigstore's internals.
    """
    to_json = getattr(getattr(value, "_inner", None), "to_json", None)
    if not callable(to_json):
        raise InputError(f"this sigstore's {type(value).__name__} no longer wraps a "
                         "protobuf-specs message; the auditor reads sigstore 4.x")
    return json.loads(to_json())


@dataclass(frozen=True)
class RekorShard:
    """A Rekor v2 shard (C2SP tlog-tiles): where to read it and the key that signs it."""

    #: Base URL, without a trailing slash; the checkpoint and tiles are under `<url>/api/v2/`.
    url: str
    #: The checkpoint origin and signer name (host[:port] of the URL).
    origin: str
    #: Key, C2SP log id and the key's validity window; `valid_until` is set once the shard
    #: is retired.
    log_key: LogKey


def rekor_v2_shards(signing_config: SigningConfig, trusted_root: TrustedRoot) -> list[RekorShard]:
    """The Rekor v2 shards a signing config and trusted root name, oldest first.

    The trusted root holds the key of every shard, retired ones with their end date, but no API
    version; the signing config has versions but lists only the shards clients write to
    (production's embedded one lists no v2 shard yet). So a trusted-root log is a v2 shard when
    the signing config lists its URL with major API version 2, or, unlisted, when its key is
    Ed25519: Rekor v2 signs C2SP notes with Ed25519, Rekor v1 with ECDSA.
    A listed v2 shard without a key in the trusted root cannot be verified: it is left out, with
    a warning.
    """
    versions = _rekor_versions(_protobuf_json(signing_config))
    source = "trusted root"
    shards = []
    for index, tlog in enumerate(_tlogs(_protobuf_json(trusted_root), source)):
        log_key = _tlog_key(tlog, index, source)
        if log_key.name is None:
            continue  # no base URL: nothing to read
        url = str(tlog["baseUrl"]).rstrip("/")
        version = versions.pop(url, None)
        if version == 2 or (version is None and log_key.is_ed25519):
            shards.append(RekorShard(url, log_key.name, log_key))
    for url, version in versions.items():
        if version == 2:
            log.warning("signing config lists Rekor v2 shard %s, which has no key in the trusted "
                        "root: left out", url)
    return sorted(shards, key=lambda s: s.log_key.valid_from or datetime.min.replace(tzinfo=UTC))


def _rekor_versions(signing_config: Any) -> dict[str, int]:
    """Each Rekor URL of a signing config (protobuf-specs JSON) and its major API version."""
    services = signing_config.get("rekorTlogUrls", []) if isinstance(signing_config, dict) else []
    versions: dict[str, int] = {}
    for index, service in enumerate(services if isinstance(services, list) else []):
        url = service.get("url") if isinstance(service, dict) else None
        version = service.get("majorApiVersion") if isinstance(service, dict) else None
        if not isinstance(url, str) or not isinstance(version, int):
            raise InputError(f"signing config: rekorTlogUrls[{index}] needs a url and a "
                             "majorApiVersion")
        versions[url.rstrip("/")] = version
    return versions


def load_keyring(rekor_keys: Iterable[Path], trusted_root: Path | None) -> LogKeyring:
    """Log keys from `--rekor-key` files, else `--trusted-root`, else Sigstore production."""
    paths = list(rekor_keys)
    if paths and trusted_root is not None:
        raise InputError("give either --rekor-key or --trusted-root, not both")
    if paths:
        return LogKeyring.from_pems([_read(p) for p in paths], [str(p) for p in paths])
    if trusted_root is not None:
        return keyring_from_trusted_root(_read(trusted_root), source=str(trusted_root))
    return production_keyring()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None
