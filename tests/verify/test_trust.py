"""Trusted roots: what a tlog entry must say to be trusted, and the name its log signs under."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sigstore.models import SigningConfig, TrustedRoot

from auditor.errors import InputError
from auditor.verify.checkpoint import Ed25519NoteVerifier, parse_checkpoint, verify_checkpoint
from auditor.verify.keys import PublicKey
from auditor.verify.trust import (
    c2sp_key_id,
    keyring_from_trusted_root,
    production_keyring,
    rekor_v2_shards,
    sigstore_keyring,
    sigstore_trust_config,
)
from testlog import ManualClock, RekorLog, serve
from tests.bundles import TiledLog, b64, bundle, hashedrekord_v002, tlog_entry
from tests.cli_runner import RunAudit
from tests.oakdata import DATA

STAGING_ROOT = DATA / "sigstore/staging_trusted_root.json"
PRODUCTION_ROOT = DATA / "sigstore/production_trusted_root.json"


def staging_root() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(STAGING_ROOT.read_bytes())
    return document


@pytest.mark.parametrize("validity", [{"end": "2025-09-04T00:00:00Z"}, {}, None],
                         ids=["end only", "empty", "absent"])
def test_a_tlog_key_without_a_validity_start_is_refused(validity: dict[str, str] | None) -> None:
    document = staging_root()
    public_key = document["tlogs"][1]["publicKey"]
    del public_key["validFor"]
    if validity is not None:
        public_key["validFor"] = validity
    with pytest.raises(InputError) as raised:
        keyring_from_trusted_root(json.dumps(document).encode(), source="root.json")
    assert str(raised.value) == (
        "root.json: tlogs[1] ('https://log2025-alpha1.rekor.sigstage.dev'): "
        "publicKey.validFor.start missing; a log key without a validity start is not trusted")


def test_the_cli_refuses_such_a_root_in_one_line(audit: RunAudit, tmp_path: Path) -> None:
    document = staging_root()
    del document["tlogs"][0]["publicKey"]["validFor"]["start"]
    root = tmp_path / "root.json"
    root.write_text(json.dumps(document))
    result = audit("verify-entry", str(DATA / "sigstore/staging-rekor-v2.txt.sigstore.json"),
                   "--trusted-root", str(root))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "tlogs[0] ('https://rekor.sigstage.dev')" in result.stderr
    assert "validFor.start missing" in result.stderr


def test_a_log_on_an_explicit_port_signs_as_host_and_port() -> None:
    document = staging_root()
    document["tlogs"][0]["baseUrl"] = "http://127.0.0.1:3000"
    document["tlogs"][1]["baseUrl"] = "https://[::1]:8443/some/path"
    keys = keyring_from_trusted_root(json.dumps(document).encode(), source="root").keys
    assert [k.name for k in keys] == ["127.0.0.1:3000", "[::1]:8443",
                                      "log2025-alpha2.rekor.sigstage.dev",
                                      "log2025-alpha3.rekor.sigstage.dev"]
    document["tlogs"][0]["baseUrl"] = "http://127.0.0.1:99999"
    with pytest.raises(InputError, match=r"tlogs\[0\].*invalid port"):
        keyring_from_trusted_root(json.dumps(document).encode(), source="root")


ARTIFACT = b"an artifact"


def _signed_artifact() -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    """A signing key, the artifact's digest and the key's signature over it."""
    signer = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(ARTIFACT).digest()
    return signer, digest, signer.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def _verify_with_root(audit: RunAudit, tmp_path: Path, item: dict[str, Any], digest: bytes,
                      signature: bytes, root: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`audit verify-entry` on a message-signature bundle of `item` under `root`: it passes."""
    document = bundle("0.3", [item], "messageSignature", {
        "messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
        "signature": b64(signature)})
    paths = tmp_path / "bundle.json", tmp_path / "root.json", tmp_path / "artifact"
    paths[0].write_text(json.dumps(document))
    paths[1].write_text(json.dumps(root))
    paths[2].write_bytes(ARTIFACT)
    result = audit("verify-entry", str(paths[0]), "--trusted-root", str(paths[1]),
                   "--artifact", str(paths[2]), "--json")
    assert result.exit_code == 0, result.stdout
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}


def test_rekor_v1_log_served_on_a_port_verifies_under_its_custom_root(
        audit: RunAudit, tmp_path: Path) -> None:
    """The local test log, served on 127.0.0.1:PORT, names itself `127.0.0.1:PORT`: its
    checkpoints read `127.0.0.1:PORT - <treeID>` and are signed under that name."""
    signer, digest, signature = _signed_artifact()
    pem = PublicKey.from_crypto(signer.public_key()).to_pem().encode()
    log = RekorLog(clock=ManualClock(1_750_000_000))
    filler = hashlib.sha256(b"filler").digest()
    log.add_hashedrekord(filler, signer.sign(filler, ec.ECDSA(Prehashed(hashes.SHA256()))), pem)
    log.add_hashedrekord(digest, signature, pem)
    with serve(log) as server:
        log.hostname = f"127.0.0.1:{server.port}"
        url = f"{server.url}/api/v1/log/entries?logIndex=1"
        with urllib.request.urlopen(url, timeout=10) as response:
            ((_, entry),) = json.loads(response.read()).items()
    assert entry["verification"]["inclusionProof"]["checkpoint"].startswith(
        f"127.0.0.1:{server.port} - ")
    root = {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": [{
        "baseUrl": server.url, "hashAlgorithm": "SHA2_256",
        "publicKey": {"rawBytes": b64(log.signer.spki_der),
                      "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                      "validFor": {"start": "2025-01-01T00:00:00Z"}},
        "logId": {"keyId": b64(log.signer.log_id_bytes)}}]}
    checks = _verify_with_root(audit, tmp_path, tlog_entry(entry, "hashedrekord", "0.0.1"),
                               digest, signature, root)
    assert checks["checkpoint_signature"]["detail"] == (
        f"signed by 127.0.0.1:{server.port} (key hint {log.signer.key_hint.hex()})")
    assert checks["checkpoint_matches_proof"]["ok"] is True
    assert checks["set"]["ok"] is True and checks["artifact_hash"]["ok"] is True


def test_rekor_v2_log_on_a_port_verifies_under_its_custom_root(
        audit: RunAudit, tmp_path: Path) -> None:
    """A local rekor-tiles (`http://localhost:3003`): origin, signer name and C2SP key id all
    use `localhost:3003`."""
    signer, digest, signature = _signed_artifact()
    log = TiledLog("localhost:3003")
    index = log.add(hashedrekord_v002(digest, signature, signer.public_key()))
    checks = _verify_with_root(audit, tmp_path, log.tlog_entry(index, "hashedrekord"), digest,
                               signature, log.trusted_root("http://localhost:3003"))
    assert checks["checkpoint_signature"]["detail"].startswith("signed by localhost:3003 ")
    assert checks["checkpoint_matches_proof"]["ok"] is True


# --- Sigstore's own roots through sigstore's public API ---------------------------------------


@pytest.fixture
def sigstore_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh TUF cache for sigstore (platformdirs honours XDG_CACHE_HOME), which sigstore
    seeds from its embedded roots on first use."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize(("instance", "copy", "names"), [
    ("production", PRODUCTION_ROOT, ["rekor.sigstore.dev", "log2025-1.rekor.sigstore.dev"]),
    ("staging", STAGING_ROOT, ["rekor.sigstage.dev", "log2025-alpha1.rekor.sigstage.dev",
                               "log2025-alpha2.rekor.sigstage.dev",
                               "log2025-alpha3.rekor.sigstage.dev"]),
])
def test_sigstore_roots_through_the_public_api_give_the_embedded_keys(
        sigstore_cache: Path, instance: Literal["production", "staging"], copy: Path,
        names: list[str]) -> None:
    """The same keys, ids, names and windows as the embedded roots (copies in tests/data),
    which the removed package-data reader gave too (shown before its removal, in cc4e870)."""
    keyring = sigstore_keyring(instance)
    assert keyring.keys == keyring_from_trusted_root(copy.read_bytes(), source="copy").keys
    assert [k.name for k in keyring.keys] == names
    assert keyring.source == f"sigstore {instance} trusted root (cached)"
    assert production_keyring().keys == sigstore_keyring("production").keys
    assert (sigstore_cache / "sigstore-python").is_dir()  # read through sigstore's TUF cache


def test_the_default_root_loads_quietly(audit: RunAudit, sigstore_cache: Path) -> None:
    result = audit("verify-entry", str(DATA / "sigstore/staging-rekor-v2.txt.sigstore.json"))
    assert result.exit_code == 1  # a staging entry is not trusted under production
    # stderr holds the check table and the verdict, and nothing from sigstore's TUF loading.
    assert "NOT verified" in result.stderr
    assert "TUF" not in result.stderr and "WARNING" not in result.stderr


def test_an_unusable_sigstore_cache_is_one_clear_error(
        audit: RunAudit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_directory))
    with pytest.raises(InputError, match="sigstore production trust config"):
        production_keyring()
    result = audit("verify-entry", str(DATA / "sigstore/staging-rekor-v2.txt.sigstore.json"))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1


# --- Rekor v2 shards for the tiled-log crawler ------------------------------------------------


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_staging_rekor_v2_shards_retired_ones_with_their_end(sigstore_cache: Path) -> None:
    config = sigstore_trust_config("staging")
    shards = rekor_v2_shards(config.signing_config, config.trusted_root)
    assert [(s.url, s.origin, s.log_key.valid_from, s.log_key.valid_until) for s in shards] == [
        ("https://log2025-alpha1.rekor.sigstage.dev", "log2025-alpha1.rekor.sigstage.dev",
         _utc("2025-04-16T00:00:00"), _utc("2025-09-04T00:00:00")),
        ("https://log2025-alpha2.rekor.sigstage.dev", "log2025-alpha2.rekor.sigstage.dev",
         _utc("2025-08-08T00:00:00"), _utc("2025-09-28T00:00:00")),
        ("https://log2025-alpha3.rekor.sigstage.dev", "log2025-alpha3.rekor.sigstage.dev",
         _utc("2025-09-22T00:00:00"), None),
    ]
    # Origin and key are the ones the shard's real checkpoints verify under (and its log id is
    # their C2SP key id).
    alpha1 = shards[0].log_key
    assert alpha1.is_ed25519 and isinstance(alpha1.key.crypto, Ed25519PublicKey)
    assert c2sp_key_id(shards[0].origin, alpha1.key.crypto) == alpha1.log_id
    real = json.loads((DATA / "sigstore/staging-rekor-v2.txt.sigstore.json").read_bytes())
    note = real["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
    checkpoint = parse_checkpoint(note["envelope"])
    assert checkpoint.origin == shards[0].origin
    verify_checkpoint(checkpoint, [Ed25519NoteVerifier(shards[0].origin, alpha1.key.crypto)])


def test_production_rekor_v2_shard_comes_from_the_trusted_root(sigstore_cache: Path) -> None:
    """Production's embedded signing config lists only Rekor v1: its v2 shard is known by its
    Ed25519 key in the trusted root."""
    config = sigstore_trust_config("production")
    (shard,) = rekor_v2_shards(config.signing_config, config.trusted_root)
    assert (shard.url, shard.origin, shard.log_key.valid_until) == (
        "https://log2025-1.rekor.sigstore.dev", "log2025-1.rekor.sigstore.dev", None)


def test_custom_signing_config_and_root_shards(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    local, listed_v1, retired = (TiledLog("localhost:3003"), TiledLog("v1.example"),
                                 TiledLog("old.example"))
    tlogs = [local.trusted_root("http://localhost:3003/")["tlogs"][0],
             listed_v1.trusted_root("https://v1.example")["tlogs"][0],
             retired.trusted_root("https://old.example")["tlogs"][0],
             staging_root()["tlogs"][0]]  # rekor.sigstage.dev: ECDSA, Rekor v1
    tlogs[2]["publicKey"]["validFor"] = {"start": "2024-01-01T00:00:00Z",
                                         "end": "2024-06-01T00:00:00Z"}
    root = {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": tlogs, "certificateAuthorities": [], "ctlogs": []}

    def service(url: str, version: int) -> dict[str, Any]:
        return {"url": url, "majorApiVersion": version, "operator": "example",
                "validFor": {"start": "2024-01-01T00:00:00Z"}}

    config = {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
              "caUrls": [service("https://fulcio.example", 1)],
              "rekorTlogUrls": [service("http://localhost:3003", 2),
                                service("https://v1.example", 1),
                                service("https://unkeyed.example", 2)]}
    (tmp_path / "root.json").write_text(json.dumps(root))
    (tmp_path / "config.json").write_text(json.dumps(config))
    shards = rekor_v2_shards(SigningConfig.from_file(str(tmp_path / "config.json")),
                             TrustedRoot.from_file(str(tmp_path / "root.json")))
    assert [(s.url, s.origin) for s in shards] == [("https://old.example", "old.example"),
                                                   ("http://localhost:3003", "localhost:3003")]
    assert shards[0].log_key.valid_until == _utc("2024-06-01T00:00:00")
    assert shards[1].log_key.log_id == local.log_id
    assert "https://unkeyed.example, which has no key in the trusted root" in caplog.text
