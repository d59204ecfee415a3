"""Rekor v2 entries: parsing, key matching on real and synthetic entries, and the fast path.

The fast path skips loading a verifier whose DER cannot hold a pinned key; it is held to the
exhaustive matcher (which loads every key) on every entry here, including encodings of a
pinned key whose bytes differ from the pinned SPKI (a compressed EC point, an RSA key without
NULL parameters) and near misses that carry a pinned key's bytes elsewhere.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.source.tiles import rekor_v2
from auditor.source.tiles.rekor_v2 import (
    CERTIFICATE,
    PUBLIC_KEY,
    EntryVerifier,
    KeyMatch,
    KeyMatcher,
    UnparsableEntryError,
    entry_verifiers,
)
from auditor.verify.body import parse_body
from testlog.tiles import FulcioLikeIssuer, canonical_json, dsse_v002, hashedrekord_v002, spki_der

DATA = Path(__file__).resolve().parents[1] / "data" / "sigstore"
BUNDLE = json.loads((DATA / "staging-rekor-v2.txt.sigstore.json").read_text())
REAL_ENTRY = base64.b64decode(BUNDLE["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"])
REAL_CERTIFICATE = base64.b64decode(BUNDLE["verificationMaterial"]["certificate"]["rawBytes"])

ISSUER = FulcioLikeIssuer()
PINNED = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
OTHERS = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
PINNED_SPKI = [spki_der(k) for k in PINNED]
MATCHER = KeyMatcher(PINNED_SPKI)


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _signed(key: ec.EllipticCurvePrivateKey, *, certificate: bool, number: int = 1) -> bytes:
    digest = _sha(b"artifact %d" % number)
    signature = key.sign(digest, ec.ECDSA(hashes.SHA256()))  # not prehashed: a real signature
    if certificate:
        return hashedrekord_v002(digest, signature,
                                 certificate_der=ISSUER.issue(key.public_key(), number=number))
    return hashedrekord_v002(digest, signature, public_key_der=spki_der(key))


# --- the real entry ------------------------------------------------------------------------


def test_the_real_rekor_v2_entry_parses_and_matches_its_certificate_key() -> None:
    kind, verifiers = entry_verifiers(REAL_ENTRY)
    assert kind == "hashedrekord"
    assert [(v.form, v.der) for v in verifiers] == [(CERTIFICATE, REAL_CERTIFICATE)]
    # The key the named checks will see (auditor.verify.body) is the one matched here.
    spki = parse_body(REAL_ENTRY).key.spki_der
    assert MATCHER.match(REAL_ENTRY) is None
    assert KeyMatcher([spki, *PINNED_SPKI]).match(REAL_ENTRY) == KeyMatch("hashedrekord",
                                                                          (_sha(spki),))


# --- synthetic entries ---------------------------------------------------------------------


@pytest.mark.parametrize("certificate", [False, True])
def test_entries_under_pinned_keys_match_and_others_do_not(certificate: bool) -> None:
    for i, key in enumerate(PINNED):
        entry = _signed(key, certificate=certificate, number=i)
        assert MATCHER.match(entry) == KeyMatch("hashedrekord", (_sha(PINNED_SPKI[i]),))
        assert parse_body(entry).key.spki_der == PINNED_SPKI[i]
    for key in OTHERS:
        assert MATCHER.match(_signed(key, certificate=certificate)) is None


def test_dsse_entries_match_any_of_their_signers() -> None:
    sig = b"\x30" * 70
    entry = dsse_v002(_sha(b"payload"), [
        (sig, spki_der(OTHERS[0]), None),
        (sig, None, ISSUER.issue(PINNED[1].public_key())),
        (sig, spki_der(PINNED[0]), None),
    ])
    assert MATCHER.match(entry) == KeyMatch("dsse", (_sha(PINNED_SPKI[1]), _sha(PINNED_SPKI[0])))
    assert MATCHER.match(dsse_v002(_sha(b"p"), [(sig, spki_der(OTHERS[1]), None)])) is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: ed25519.Ed25519PrivateKey.generate(),
        lambda: rsa.generate_private_key(65537, 2048),
        lambda: ec.generate_private_key(ec.SECP384R1()),
    ],
)
def test_other_key_types(make: Callable[[], ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey |
                                         ec.EllipticCurvePrivateKey]) -> None:
    key, other = make(), make()
    spki = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    matcher = KeyMatcher([spki])
    entry = hashedrekord_v002(b"\0" * 32, b"sig", public_key_der=spki)
    assert matcher.match(entry) == KeyMatch("hashedrekord", (_sha(spki),))
    other_spki = other.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert matcher.match(hashedrekord_v002(b"\0" * 32, b"sig", public_key_der=other_spki)) is None


# --- the fast path never misses ------------------------------------------------------------


def _compressed_spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The same P-256 key as SPKI with a compressed point (SEC 1 §2.3.3), which loads."""
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    algorithm = bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107")
    bits = b"\x03" + bytes([len(point) + 1, 0]) + point
    return b"\x30" + bytes([len(algorithm) + len(bits)]) + algorithm + bits


def _rsa_spki_without_null(spki: bytes) -> bytes:
    """The same RSA key with the AlgorithmIdentifier's NULL parameters left out."""
    with_null = bytes.fromhex("300d06092a864886f70d0101010500")
    assert spki[4:19] == with_null
    body = bytes.fromhex("300b06092a864886f70d010101") + spki[19:]
    return b"\x30\x82" + len(body).to_bytes(2, "big") + body


def test_other_encodings_of_a_pinned_key_match() -> None:
    compressed = _compressed_spki(PINNED[2])
    assert compressed != PINNED_SPKI[2]
    entry = hashedrekord_v002(b"\0" * 32, b"sig", public_key_der=compressed)
    assert MATCHER.match(entry) == KeyMatch("hashedrekord", (_sha(PINNED_SPKI[2]),))

    rsa_key = rsa.generate_private_key(65537, 2048).public_key()
    spki = rsa_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    entry = hashedrekord_v002(b"\0" * 32, b"sig", public_key_der=_rsa_spki_without_null(spki))
    assert KeyMatcher([spki]).match(entry) == KeyMatch("hashedrekord", (_sha(spki),))


def _certificate_with_extension(key: ec.EllipticCurvePrivateKey, value: bytes) -> bytes:
    """A self-signed certificate for `key` carrying `value` in a private extension."""
    name = x509.Name([])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(start).not_valid_after(start + datetime.timedelta(minutes=10))
        .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"),
                                                  value), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(Encoding.DER)


def test_a_near_miss_is_loaded_and_rejected() -> None:
    # Another key's certificate that carries a pinned key's X coordinate: the cheap test
    # cannot rule it out, so the certificate is loaded, and its key is not pinned.
    x = PINNED[0].public_key().public_numbers().x.to_bytes(32, "big")
    certificate = _certificate_with_extension(OTHERS[0], x)
    assert x in certificate
    entry = hashedrekord_v002(b"\0" * 32, b"sig", certificate_der=certificate)
    assert MATCHER.match(entry) is None
    garbage = b"\x30\x03" + x  # holds the bytes, loads as nothing
    entry = hashedrekord_v002(b"\0" * 32, b"sig", public_key_der=garbage)
    with pytest.raises(UnparsableEntryError, match="verifier public key does not load"):
        MATCHER.match(entry)


def test_non_matching_entries_load_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    real = rekor_v2.verifier_spki

    def counting(verifier: EntryVerifier) -> bytes:
        loads.append(verifier.form)
        return real(verifier)

    monkeypatch.setattr(rekor_v2, "verifier_spki", counting)
    for key in OTHERS:
        assert MATCHER.match(_signed(key, certificate=True)) is None
        assert MATCHER.match(_signed(key, certificate=False)) is None
    assert loads == []
    MATCHER.match_exhaustively(_signed(OTHERS[0], certificate=True))
    assert loads == [CERTIFICATE]


# (public key DER, certificate DER) of one verifier: every key in three encodings, and junk.
_VERIFIERS: list[tuple[bytes | None, bytes | None]] = [(b"\x30\x05junk!", None)]
for _key in [*PINNED, *OTHERS]:
    _VERIFIERS += [
        (spki_der(_key), None),
        (_compressed_spki(_key), None),
        (None, ISSUER.issue(_key.public_key())),
    ]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(range(len(_VERIFIERS))), min_size=1, max_size=3),
       st.booleans())
def test_the_fast_path_agrees_with_the_exhaustive_matcher(choices: list[int], dsse: bool) -> None:
    verifiers = [_VERIFIERS[i] for i in choices]
    if dsse or len(verifiers) > 1:
        entry = dsse_v002(b"\1" * 32, [(b"sig", k, c) for k, c in verifiers])
    else:
        key, certificate = verifiers[0]
        entry = hashedrekord_v002(b"\1" * 32, b"sig", public_key_der=key,
                                  certificate_der=certificate)
    try:
        exhaustive = MATCHER.match_exhaustively(entry)
    except UnparsableEntryError:
        exhaustive = None
        # Junk DER without a pinned key's bytes is not loaded by the fast path: no match.
        try:
            assert MATCHER.match(entry) is None
        except UnparsableEntryError:
            pass
        return
    assert MATCHER.match(entry) == exhaustive


# --- entries that do not parse --------------------------------------------------------------


def _hashedrekord(verifier: object) -> bytes:
    return canonical_json({"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {
        "hashedRekordV002": {"data": {}, "signature": {"content": "", "verifier": verifier}}}})


_KEY = base64.b64encode(PINNED_SPKI[0]).decode()


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (b"", "not UTF-8 JSON"),
        (b"\xff{}", "not UTF-8 JSON"),
        ('{"kind":"hashedrekord"}'.encode("utf-16"), "not UTF-8 JSON"),
        (b"[" * 100_000, "not UTF-8 JSON"),
        (b"[]", "not a JSON object"),
        (canonical_json({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {}}),
         "kind 'hashedrekord' apiVersion '0.0.1' is not a Rekor v2 entry"),
        (canonical_json({"apiVersion": "0.0.1", "kind": "rekord"}), "kind 'rekord'"),
        (canonical_json({"apiVersion": "0.0.2", "kind": ["dsse"]}), "kind \\['dsse'\\]"),
        (canonical_json({"apiVersion": "0.0.2", "kind": "hashedrekord"}),
         "entry.spec is missing or not an object"),
        (canonical_json({"apiVersion": "0.0.2", "kind": "dsse", "spec": {"dsseV002": {}}}),
         "dsseV002.signatures: missing, empty or not a list"),
        (canonical_json({"apiVersion": "0.0.2", "kind": "dsse",
                         "spec": {"dsseV002": {"signatures": [1]}}}),
         "signatures\\[0\\] is missing or not an object"),
        (_hashedrekord(None), "signature.verifier is missing or not an object"),
        (_hashedrekord({}), "verifier 0 must hold exactly one of publicKey and x509Certificate"),
        (_hashedrekord({PUBLIC_KEY: {"rawBytes": _KEY}, CERTIFICATE: {"rawBytes": _KEY}}),
         "exactly one"),
        (_hashedrekord({PUBLIC_KEY: {"rawBytes": 5}}),
         "verifier 0: publicKey.rawBytes is missing or not a string"),
        (_hashedrekord({PUBLIC_KEY: {"rawBytes": _KEY[:-2] + "?="}}),
         "verifier 0: publicKey.rawBytes is not valid base64"),
        (_hashedrekord({CERTIFICATE: []}), "verifier 0.x509Certificate is missing or not an "
         "object"),
    ],
)
def test_unparsable_entries_say_why(entry: bytes, reason: str) -> None:
    with pytest.raises(UnparsableEntryError, match=reason):
        MATCHER.match(entry)
    with pytest.raises(UnparsableEntryError, match=reason):
        MATCHER.match_exhaustively(entry)


def test_a_json_escape_cannot_hide_a_pinned_key() -> None:
    # JSON lets "\u004d" stand for "M": the entry is not canonical, but a client parses it
    # to the pinned key, so it must match.
    entry = _hashedrekord({PUBLIC_KEY: {"rawBytes": _KEY}})
    escaped = entry.replace(b'"rawBytes":"M', b'"rawBytes":"\\u004d')
    assert escaped != entry
    assert MATCHER.match(escaped) == KeyMatch("hashedrekord", (_sha(PINNED_SPKI[0]),))


def _twice(entry: bytes, old: bytes, new: bytes) -> bytes:
    """`entry` with the member `old` (a JSON text of one member) followed by `new` as well."""
    assert entry.count(old) == 1
    return entry.replace(old, old + b"," + new)


_STRANGER = base64.b64encode(spki_der(OTHERS[0])).decode()


@pytest.mark.parametrize(("first", "second", "pinned"), [
    (_KEY, _STRANGER, True), (_STRANGER, _KEY, True), (_STRANGER, _STRANGER, False)],
    ids=["pinned_first", "pinned_last", "neither"])
def test_a_key_given_twice_cannot_hide_a_pinned_key(first: str, second: str,
                                                    pinned: bool) -> None:
    """Python keeps a key's last value, other readers the first: an entry whose `rawBytes`
    (or any key on the way to it) is given twice is the pinned key's if either copy is, and
    unparsable otherwise."""
    entry = _hashedrekord({PUBLIC_KEY: {"rawBytes": first}})
    doubled = _twice(entry, f'"rawBytes":"{first}"'.encode(), f'"rawBytes":"{second}"'.encode())
    for match in (MATCHER.match, MATCHER.match_exhaustively):
        if pinned:
            assert match(doubled) == KeyMatch(rekor_v2.AMBIGUOUS, (_sha(PINNED_SPKI[0]),))
        else:
            with pytest.raises(UnparsableEntryError, match="duplicate JSON key 'rawBytes'"):
                match(doubled)
