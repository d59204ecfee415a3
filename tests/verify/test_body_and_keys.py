from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from auditor.errors import InputError
from auditor.source.rekor_v1 import parse_entry_bytes
from auditor.verify.body import BodyError, parse_body
from auditor.verify.keys import PublicKey, load_public_key
from auditor.verify.trust import keyring_from_trusted_root, production_keyring
from tests.oakdata import DATA, REKOR_KEY, real_entry_dirs


@pytest.mark.parametrize("directory", real_entry_dirs(), ids=lambda p: p.name)
def test_real_bodies_parse_and_name_the_endorser_key(directory) -> None:  # type: ignore[no-untyped-def]
    entry = parse_entry_bytes((directory / "logentry.json").read_bytes(), source="t")
    body = parse_body(entry.body)
    assert (body.kind, body.api_version) == ("rekord", "0.0.1")
    statement = (directory / "endorsement.json").read_bytes()
    assert body.digest == hashlib.sha256(statement).digest()
    assert body.key == load_public_key((directory / "endorser_public_key.pem").read_bytes())
    assert body.key.verify(body.signature, statement)
    assert body.key.verify(body.signature, body.digest, prehashed=True)


def test_unsupported_kind_is_a_clear_result() -> None:
    body = json.dumps({"apiVersion": "0.0.1", "kind": "intoto", "spec": {}}).encode()
    with pytest.raises(BodyError, match=r"unsupported kind intoto v0\.0\.1"):
        parse_body(body)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"kind":"rekord","apiVersion":"0.0.1"}',
                                  b'{"kind":"rekord","apiVersion":"0.0.1","spec":{"data":{}}}'])
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(BodyError):
        parse_body(body)


def test_hashedrekord_with_certificate_and_pem_key_forms() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key = PublicKey.from_crypto(private.public_key())
    digest = hashlib.sha256(b"artifact").digest()
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    signature = private.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    body = {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
        "signature": {"content": base64.b64encode(signature).decode(),
                      "publicKey": {"content": base64.b64encode(key.to_pem().encode()).decode()}}}}
    parsed = parse_body(json.dumps(body).encode())
    assert parsed.key == key and parsed.certificate is None
    assert parsed.key.verify(parsed.signature, parsed.digest, prehashed=True)


def test_keys_compare_as_spki_der_whatever_the_encoding() -> None:
    pem = REKOR_KEY.read_bytes()
    key = load_public_key(pem)
    assert load_public_key(b"\n\n" + pem.replace(b"\n", b"\r\n")) == key
    assert load_public_key(key.spki_der) == key
    assert key.key_id.hex().startswith("c0d23d6a")
    with pytest.raises(InputError):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(InputError):
        load_public_key(b"garbage")


def test_production_trusted_root_pins_the_rekor_v1_key_and_honours_validity() -> None:
    keyring = production_keyring()
    rekor = load_public_key(REKOR_KEY.read_bytes())
    found, _ = keyring.find(rekor.key_id, None)
    assert found is not None and found.key == rekor and found.name == "rekor.sigstore.dev"
    # The key's validity window starts 2021-01-12: an entry claiming 2020 is not vouched for.
    from datetime import UTC, datetime

    early, reason = keyring.find(rekor.key_id, datetime(2020, 1, 1, tzinfo=UTC))
    assert early is None and "not valid" in reason


def test_staging_trusted_root_gives_the_rekor_v2_log_its_c2sp_key_id() -> None:
    keyring = keyring_from_trusted_root(
        (DATA / "sigstore/staging_trusted_root.json").read_bytes(), source="staging")
    (alpha1,) = keyring.by_name("log2025-alpha1.rekor.sigstage.dev")
    assert alpha1.is_ed25519
    from auditor.verify.trust import c2sp_key_id

    assert c2sp_key_id(alpha1.name or "", alpha1.key.crypto) == alpha1.log_id  # type: ignore[arg-type]


@pytest.mark.parametrize("document", [b"{", b"[]", b'{"tlogs": []}', b'{"tlogs": [{}]}'])
def test_bad_trusted_roots(document: bytes) -> None:
    with pytest.raises(InputError):
        keyring_from_trusted_root(document, source="x")


def test_a_hostile_kind_is_quoted_cut_not_whole() -> None:
    """A body's kind and apiVersion are whatever a log or bundle says: a megabyte of either
    was quoted whole in the check detail, stored with the entry and shown in every report."""
    body = json.dumps({"kind": "k" * 1_000_000, "apiVersion": "v" * 1_000_000, "spec": {}})
    with pytest.raises(BodyError) as raised:
        parse_body(body.encode())
    assert len(str(raised.value)) < 1200 and "(1,000,000 characters)" in str(raised.value)
