"""PES confirmations (auditor.verify.pes) against Oak's two published vectors, and tamperings.

- `tr_pes/pes_confirmation.json`: a confirmation in JSON as PES returns it (Oak's
  `tr/pes/testdata`), signed by a self-signed `CN=PES` certificate.
- `oak_attestation_verification/`: the parts of a confirmation (statement, endorser key and
  signature, PES root certificate, PES signature, tlog receipt), assembled here into the JSON
  form exactly as Oak's `EndorsementData::load_for_pes_verification` assembles them.

Synthetic confirmations (an issued PES certificate, a bare ECDSA PES key) are signed here with
the real algorithms.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID
from google.protobuf import text_format
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.errors import InputError
from auditor.oak.messages import (
    KERNEL_ENDORSEMENT_ID,
    KeyType,
    VerifyingKey,
    read_endorsements,
    read_reference_values,
)
from auditor.oak.proto.attestation import endorsement_pb2
from auditor.oak.proto.google.pes.v1 import endorsement_pb2 as pes_pb2
from auditor.verify.keys import PublicKey, load_public_key
from auditor.verify.pes import (
    PesConfirmation,
    PesFailure,
    parse_pes_confirmation,
    pes_pae,
    verify_pes_confirmation,
)

PES_DATA = Path(__file__).resolve().parents[1] / "data" / "oak" / "pes"
OAV = PES_DATA / "oak_attestation_verification"
TR_PES = PES_DATA / "tr_pes" / "pes_confirmation.json"
DEVELOPMENT_KEY = PES_DATA.parent / "single-entry-2024" / "endorser_public_key.pem"

ROOT = x509.load_der_x509_certificate((OAV / "pes_root_cert.der").read_bytes())
STATEMENT = (OAV / "endorsement.json").read_bytes()
ENDORSER_KEY = load_public_key((OAV / "endorser_public_key.pem").read_bytes())


def _rsa_key(key: PublicKey, key_id: int = 0) -> VerifyingKey:
    return VerifyingKey(key_id=key_id, key_type=KeyType.RSA_SHA2_256, spki_der=key.spki_der)


ROOT_KEY = _rsa_key(PublicKey.from_crypto(ROOT.public_key()), key_id=3)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _document(
    statement: bytes,
    endorser: tuple[str, bytes],
    endorser_signature: bytes,
    pes: tuple[str, bytes],
    pes_signature: bytes,
    entry_id: str,
) -> dict[str, Any]:
    """The JSON form, field names as in tr/pes/json.rs and Oak's test_util."""
    return {
        "name": "endorsements/test",
        "statement": {"serialized": _b64(statement), "format": "JSON_INTOTO"},
        "statementSignature": {
            "signature": _b64(endorser_signature),
            "verificationMaterial": {endorser[0]: {"derBytes": _b64(endorser[1])}},
        },
        "endorsementSignatures": [
            {
                "signature": _b64(pes_signature),
                "verificationMaterial": {pes[0]: {"derBytes": _b64(pes[1])}},
            }
        ],
        "tlogReceipt": {"entryId": entry_id},
    }


def _oav_document() -> dict[str, Any]:
    receipt = pes_pb2.TLogReceipt.FromString((OAV / "tlog_receipt.binarypb").read_bytes())
    return _document(
        STATEMENT,
        ("ecdsaP256Sha256", ENDORSER_KEY.spki_der),
        (OAV / "endorser_signature.sig").read_bytes(),
        ("x509Certificate", ROOT.public_bytes(Encoding.DER)),
        bytes.fromhex((OAV / "pes_signature.hex").read_text().strip()),
        receipt.entry_id,
    )


def _parse(document: dict[str, Any]) -> PesConfirmation:
    return parse_pes_confirmation(json.dumps(document).encode())


def _verify_oav(confirmation: PesConfirmation, **changes: Any) -> set[PesFailure]:
    arguments: dict[str, Any] = {
        "statement": STATEMENT,
        "pes_keys": [ROOT_KEY],
        "endorser_keys": [ENDORSER_KEY],
        "pes_roots": [ROOT],
    }
    arguments.update(changes)
    return set(verify_pes_confirmation(confirmation, **arguments).failures)


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# --- the PAE ---------------------------------------------------------------------------------


def test_pae_matches_oaks_own_vector() -> None:
    # tr/pes/pae.rs test_calculate_pae.
    assert pes_pae(b"stmt", b"key", b"sig", "id") == b"PES 4 stmt 3 key 3 sig 2 id"
    assert pes_pae(b"", b"", b"", "") == b"PES 0  0  0  0 "


def test_pae_lengths_count_bytes_not_characters() -> None:
    assert pes_pae(b"\x01\x02\x03", b"k", b"s", "é") == b"PES 3 \x01\x02\x03 1 k 1 s 2 \xc3\xa9"


# --- the two vectors verify --------------------------------------------------------------------


def test_the_tr_pes_json_confirmation_parses_as_oaks_test_expects() -> None:
    confirmation = parse_pes_confirmation(TR_PES.read_bytes())

    # The values tr/pes/tests.rs test_parse_pes_confirmation_json_file asserts.
    assert confirmation.name == "endorsements/1018802f-d7ce-48a1-84df-0fe0abc497dd"
    assert confirmation.entry_id == (
        "entries/1b71272824ca62894647e6c009304f4d7366b7d9026b652791581a11dc8c4beb"
        "_afad48fc-5056-4cd9-b2ec-b11f1976f249"
    )
    assert confirmation.endorser_signature == base64.b64decode(
        "MEYCIQCS5E5MvSCQsgyj7p85jkdNy9AaUbYuvTnkmJeqPSbW1gIhALWiQaMMan63FSIvMl2uoTzQ9SfHvY3BhfPb"
        "yYDApS5m"
    )
    assert confirmation.endorser.der == base64.b64decode(
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESKycnwFAxon7f2cBEqpK2foeJntrnkNWMCCGLVfGCfOCUi81P3EZ"
        "T2KUl8OzMXZdwpGqkoLYa1EWcYwykeA52A=="
    )
    assert confirmation.endorser.certificate is None
    assert confirmation.pes.certificate is not None
    assert confirmation.pes.certificate.subject.rfc4514_string() == "CN=PES"
    assert json.loads(confirmation.statement)["subject"][0]["name"] == (
        "oak_tca_sdk_test_trusted_app"
    )


def test_the_tr_pes_json_confirmation_verifies() -> None:
    document = json.loads(TR_PES.read_bytes())
    statement = base64.b64decode(document["statement"]["serialized"])
    confirmation = parse_pes_confirmation(TR_PES.read_bytes())
    pes_key = _rsa_key(confirmation.pes.key, key_id=9)

    result = verify_pes_confirmation(
        confirmation,
        statement=statement,
        pes_keys=[pes_key],
        endorser_keys=[confirmation.endorser.key],
    )

    assert result.ok, result.reasons
    assert result.pes_key_id == 9
    assert result.check.name == "pes_confirmation"
    assert result.check.ok is True
    assert "PES key id 9" in result.check.detail
    assert confirmation.entry_id in result.check.detail


def test_the_oak_attestation_verification_vector_verifies_under_its_root() -> None:
    # The tlog receipt's two encodings agree (the textproto names the type `TlogReceipt`).
    text = text_format.Parse((OAV / "tlog_receipt.textproto").read_text(), pes_pb2.TLogReceipt())
    binary = pes_pb2.TLogReceipt.FromString((OAV / "tlog_receipt.binarypb").read_bytes())
    assert text == binary
    confirmation = _parse(_oav_document())

    result = verify_pes_confirmation(
        confirmation,
        statement=STATEMENT,
        pes_keys=[ROOT_KEY],
        endorser_keys=[ENDORSER_KEY],
        pes_roots=[ROOT],
    )

    assert result.ok, result.reasons
    assert result.failures == ()
    assert result.pes_key_id == 3
    assert result.check.ok is True


def test_a_pes_confirmation_carried_in_an_endorsement_verifies_under_its_reference_values() -> None:
    # The path the importer and the audit take: receipt 5 read from an Oak Endorsements
    # message, keys from Oak reference values.
    kernel = endorsement_pb2.KernelEndorsement()
    kernel.kernel.endorsement.serialized = STATEMENT
    kernel.kernel.signature.raw = (OAV / "endorser_signature.sig").read_bytes()
    kernel.kernel.pes_confirmation = json.dumps(_oav_document()).encode()
    message = endorsement_pb2.Endorsements()
    message.events.add(id=KERNEL_ENDORSEMENT_ID.bytes, value=kernel.SerializeToString())

    def octal(raw: bytes) -> str:
        return "".join(f"\\{byte:03o}" for byte in raw)

    reference_values = (
        "oak_containers { kernel_layer { kernel { endorsement { "
        "endorser { keys { type: KEY_TYPE_ECDSA_P256_SHA256 key_id: 4711 "
        f'raw: "{octal(ENDORSER_KEY.spki_der)}" }} }} '
        "tlog { all {} pes { key_set { keys { type: KEY_TYPE_RSA_SHA2_256 key_id: 0 "
        f'raw: "{octal(ROOT_KEY.spki_der)}" }} }} }} }} }} }} }} }}'
    ).encode()

    [endorsement] = read_endorsements(message.SerializeToString())
    [component] = read_reference_values(reference_values)
    assert endorsement.pes_confirmation is not None and component.tlog.pes is not None
    result = verify_pes_confirmation(
        parse_pes_confirmation(endorsement.pes_confirmation),
        statement=endorsement.statement,
        pes_keys=component.tlog.pes.keys,
        endorser_keys=[load_public_key(raw) for raw in component.keys],
    )

    assert result.ok, result.reasons
    assert result.pes_key_id == 0


# --- each tampering fails, naming why ----------------------------------------------------------


def test_a_statement_byte_changed_in_the_confirmation() -> None:
    document = _oav_document()
    document["statement"]["serialized"] = _b64(_flip(STATEMENT, 40))

    failures = _verify_oav(_parse(document))

    assert failures == {
        PesFailure.STATEMENT_MISMATCH,
        PesFailure.ENDORSER_SIGNATURE_INVALID,
        PesFailure.PES_SIGNATURE_INVALID,
    }


def test_a_statement_byte_changed_in_both_the_confirmation_and_the_endorsement() -> None:
    forged = _flip(STATEMENT, 40)
    document = _oav_document()
    document["statement"]["serialized"] = _b64(forged)

    failures = _verify_oav(_parse(document), statement=forged)

    assert failures == {PesFailure.ENDORSER_SIGNATURE_INVALID, PesFailure.PES_SIGNATURE_INVALID}


def test_the_endorser_signature_changed() -> None:
    document = _oav_document()
    signature = base64.b64decode(document["statementSignature"]["signature"])
    document["statementSignature"]["signature"] = _b64(_flip(signature, 10))

    failures = _verify_oav(_parse(document))

    assert failures == {PesFailure.ENDORSER_SIGNATURE_INVALID, PesFailure.PES_SIGNATURE_INVALID}


def test_the_entry_id_changed() -> None:
    document = _oav_document()
    document["tlogReceipt"]["entryId"] = document["tlogReceipt"]["entryId"].replace("fa9f", "fa9e")

    confirmation = _parse(document)
    result = verify_pes_confirmation(
        confirmation, statement=STATEMENT, pes_keys=[ROOT_KEY], endorser_keys=[ENDORSER_KEY]
    )

    assert result.failures == (PesFailure.PES_SIGNATURE_INVALID,)
    assert result.check.ok is False
    assert "PES signature does not verify" in result.check.detail
    assert "entries/fa9eddf4" in result.check.detail


def test_the_pes_signature_changed() -> None:
    document = _oav_document()
    signature = base64.b64decode(document["endorsementSignatures"][0]["signature"])
    document["endorsementSignatures"][0]["signature"] = _b64(_flip(signature, 100))

    assert _verify_oav(_parse(document)) == {PesFailure.PES_SIGNATURE_INVALID}


def test_a_pes_key_set_without_the_signing_key() -> None:
    other = parse_pes_confirmation(TR_PES.read_bytes()).pes.key
    confirmation = _parse(_oav_document())

    result = verify_pes_confirmation(
        confirmation, statement=STATEMENT, pes_keys=[_rsa_key(other)], endorser_keys=[ENDORSER_KEY]
    )

    assert result.failures == (PesFailure.PES_KEY_UNTRUSTED,)
    assert result.pes_key_id is None
    assert "not in the configured PES key set" in result.check.detail


def test_an_empty_pes_key_set_trusts_nothing() -> None:
    assert _verify_oav(_parse(_oav_document()), pes_keys=[]) == {PesFailure.PES_KEY_UNTRUSTED}


def test_the_endorser_key_is_not_the_pinned_one() -> None:
    someone_else = load_public_key(DEVELOPMENT_KEY.read_bytes())

    failures = _verify_oav(_parse(_oav_document()), endorser_keys=[someone_else])

    assert failures == {PesFailure.ENDORSER_KEY_NOT_PINNED}


def test_the_pes_certificate_does_not_chain_to_the_root() -> None:
    # The tr/pes confirmation is signed under a self-signed CN=PES, not under the PES root.
    document = json.loads(TR_PES.read_bytes())
    confirmation = parse_pes_confirmation(TR_PES.read_bytes())

    result = verify_pes_confirmation(
        confirmation,
        statement=base64.b64decode(document["statement"]["serialized"]),
        pes_keys=[_rsa_key(confirmation.pes.key)],
        endorser_keys=[confirmation.endorser.key],
        pes_roots=[ROOT],
    )

    assert result.failures == (PesFailure.PES_CERTIFICATE_NOT_CHAINED,)
    assert "CN=PES" in result.check.detail


def test_every_cause_is_named_at_once() -> None:
    document = _oav_document()
    document["tlogReceipt"]["entryId"] = "entries/other"
    someone_else = load_public_key(DEVELOPMENT_KEY.read_bytes())

    result = verify_pes_confirmation(
        _parse(document), statement=b"{}", pes_keys=[], endorser_keys=[someone_else]
    )

    assert result.failures == (
        PesFailure.STATEMENT_MISMATCH,
        PesFailure.ENDORSER_KEY_NOT_PINNED,
        PesFailure.PES_KEY_UNTRUSTED,
        PesFailure.PES_SIGNATURE_INVALID,
    )
    assert len(result.check.detail.split("; ")) == 4


# --- synthetic PES setups, signed with the real algorithms -------------------------------------


def _certificate(
    subject: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None = None,
    issuer_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
) -> x509.Certificate:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=90))
    )
    return builder.sign(issuer_key if issuer_key is not None else key, hashes.SHA256())


def _signed_by_pes(
    pes_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, pes_material: tuple[str, bytes],
    endorser: tuple[str, bytes] = ("ecdsaP256Sha256", ENDORSER_KEY.spki_der),
) -> PesConfirmation:
    endorser_signature = (OAV / "endorser_signature.sig").read_bytes()
    entry_id = "entries/synthetic"
    pae = pes_pae(STATEMENT, endorser[1], endorser_signature, entry_id)
    if isinstance(pes_key, rsa.RSAPrivateKey):
        signature = pes_key.sign(pae, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = pes_key.sign(pae, ec.ECDSA(hashes.SHA256()))
    return _parse(
        _document(STATEMENT, endorser, endorser_signature, pes_material, signature, entry_id)
    )


@pytest.fixture(scope="module")
def pes_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    return _certificate("Synthetic PES root", key), key


def test_a_pes_certificate_issued_by_the_configured_root(
    pes_ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
) -> None:
    root, root_key = pes_ca
    signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = _certificate("PES signer", signer, root, root_key)
    confirmation = _signed_by_pes(signer, ("x509Certificate", leaf.public_bytes(Encoding.DER)))
    signer_key = _rsa_key(PublicKey.from_crypto(signer.public_key()), key_id=5)

    issued = _verify_oav(confirmation, pes_keys=[signer_key], pes_roots=[root])
    foreign_root = _verify_oav(confirmation, pes_keys=[signer_key], pes_roots=[ROOT])

    assert issued == set()
    assert foreign_root == {PesFailure.PES_CERTIFICATE_NOT_CHAINED}


def test_a_bare_ecdsa_pes_key(
    pes_ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
) -> None:
    signer = ec.generate_private_key(ec.SECP256R1())
    spki = signer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    confirmation = _signed_by_pes(signer, ("ecdsaP256Sha256", spki))
    configured = VerifyingKey(key_id=1, key_type=KeyType.ECDSA_P256_SHA256, spki_der=spki)

    assert _verify_oav(confirmation, pes_keys=[configured], pes_roots=()) == set()
    # A pinned root cannot be reached from a bare key.
    assert _verify_oav(confirmation, pes_keys=[configured], pes_roots=[pes_ca[0]]) == {
        PesFailure.PES_CERTIFICATE_NOT_CHAINED
    }


def test_an_endorser_bound_by_certificate_is_compared_by_its_key() -> None:
    # The PAE covers the certificate DER as carried; the pinned key is compared with its key.
    endorser_private = ec.generate_private_key(ec.SECP256R1())
    endorser_certificate = _certificate("publisher", endorser_private)
    statement_signature = endorser_private.sign(STATEMENT, ec.ECDSA(hashes.SHA256()))
    pes_key = ec.generate_private_key(ec.SECP256R1())
    pes_spki = pes_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    endorser_der = endorser_certificate.public_bytes(Encoding.DER)
    pae = pes_pae(STATEMENT, endorser_der, statement_signature, "entries/x")
    document = _document(
        STATEMENT, ("x509Certificate", endorser_der), statement_signature,
        ("ecdsaP256Sha256", pes_spki), pes_key.sign(pae, ec.ECDSA(hashes.SHA256())), "entries/x",
    )
    configured = VerifyingKey(key_id=2, key_type=KeyType.ECDSA_P256_SHA256, spki_der=pes_spki)
    pinned = PublicKey.from_crypto(endorser_private.public_key())

    confirmation = _parse(document)

    assert confirmation.endorser.der == endorser_der
    assert _verify_oav(confirmation, pes_keys=[configured], endorser_keys=[pinned],
                       pes_roots=()) == set()
    assert _verify_oav(replace(confirmation, endorser=replace(
        confirmation.endorser, der=PublicKey.from_crypto(endorser_private.public_key()).spki_der
    )), pes_keys=[configured], endorser_keys=[pinned], pes_roots=()) == {
        PesFailure.PES_SIGNATURE_INVALID
    }


# --- what does not parse is an InputError ------------------------------------------------------


def _mutated(change: Any) -> bytes:
    document = _oav_document()
    change(document)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "not a PublicEndorsement in JSON"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"[]", "not a PublicEndorsement in JSON"),
        (b'"endorsements/x"', "not a PublicEndorsement in JSON"),
        (b'{"name": "a", "name": "b"}', "not a PublicEndorsement in JSON"),
        (_mutated(lambda d: d.update(extra=1)), "not a PublicEndorsement in JSON"),
        (_mutated(lambda d: d["statement"].update(serialized="*not base64*")),
         "not a PublicEndorsement in JSON"),
        (_mutated(lambda d: d.pop("statement")), "no statement$"),
        (_mutated(lambda d: d.pop("statementSignature")), "no statementSignature"),
        (_mutated(lambda d: d.update(endorsementSignatures=[])), "no endorsementSignatures"),
        (_mutated(lambda d: d.pop("tlogReceipt")), "no tlogReceipt.entryId"),
        (_mutated(lambda d: d["tlogReceipt"].pop("entryId")), "no tlogReceipt.entryId"),
        (_mutated(lambda d: d["tlogReceipt"].update(entryId="24296fb2\u0000")),
         "tlogReceipt.entryId holds U\\+0000 or an unpaired surrogate"),
        (_mutated(lambda d: d.update(name="endorsements/\u0000")),
         "name holds U\\+0000 or an unpaired surrogate"),
        (_mutated(lambda d: d.update(name="endorsements/\ud800")),  # refused by protobuf
         "not a PublicEndorsement in JSON"),
        (_mutated(lambda d: d["statementSignature"].pop("verificationMaterial")),
         "statementSignature: no verificationMaterial"),
        (_mutated(lambda d: d["endorsementSignatures"][0]["verificationMaterial"]
                  ["x509Certificate"].update(derBytes=_b64(b"\x30\x03junk"))),
         r"endorsementSignatures\[0\]: x509Certificate is not a DER X.509 certificate"),
        (_mutated(lambda d: d["statementSignature"]["verificationMaterial"]
                  ["ecdsaP256Sha256"].update(derBytes=_b64(ROOT_KEY.spki_der))),
         "statementSignature: ecdsaP256Sha256 is not an ECDSA P-256 key"),
        (_mutated(lambda d: d["statementSignature"]["verificationMaterial"]
                  ["ecdsaP256Sha256"].update(derBytes=_b64(b"junk"))),
         "statementSignature: ecdsaP256Sha256 is not a DER public key"),
    ],
)
def test_malformed_confirmations_are_input_errors(data: bytes, match: str) -> None:
    with pytest.raises(InputError, match=match):
        parse_pes_confirmation(data)


def _peak_bytes(parse: Any, data: bytes) -> int:
    """The most memory `parse(data)` held, refusing `data` as input."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(InputError):
            parse(data)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _kind_or_refused(data: bytes) -> None:
    from auditor.verify.receipts import receipt_kind_of

    if receipt_kind_of(data) is None:
        raise InputError("not a receipt")


def test_a_receipt_of_millions_of_empty_values_is_refused_before_it_is_built() -> None:
    """json_format and `receipt_kind_of` parsed with json.loads first: 3 MB of `{}` were a
    million dicts (over 70 MB) before the unknown field or the size was refused. A receipt (a
    PES confirmation in an Endorsements message, or a file given to verify-entry) is refused
    by its number of values before any is built."""
    padding = b",".join([b"{}"] * 1_000_000)
    data = b'{"name": "endorsements/x", "statementSignature": {}, "x": [' + padding + b"]}"
    assert _peak_bytes(parse_pes_confirmation, data) < 20_000_000
    padding = b",".join([b"{}"] * 2_100_000)  # past json_input.MAX_ITEMS
    assert _peak_bytes(_kind_or_refused, b'{"endorsementSignatures": [' + padding + b"]}") \
        < 20_000_000


def test_the_binary_protobuf_form_is_not_accepted() -> None:
    # Oak reads field 5 as JSON only (tr/pes/lib.rs parse_pes_confirmation), so do we.
    message = pes_pb2.PublicEndorsement()
    text_format.Parse("name: 'endorsements/x' tlog_receipt { entry_id: 'entries/y' }", message)
    with pytest.raises(InputError, match="PES confirmation: not"):
        parse_pes_confirmation(message.SerializeToString())


def test_an_error_names_its_source_on_one_line() -> None:
    with pytest.raises(InputError) as raised:
        parse_pes_confirmation(b"{\n\n", source="endorsements.binarypb#kernel")
    assert str(raised.value).startswith("endorsements.binarypb#kernel: ")
    assert "\n" not in str(raised.value)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["name", "statement", "serialized", "statementSignature", "signature",
                         "verificationMaterial", "x509Certificate", "derBytes",
                         "endorsementSignatures", "tlogReceipt", "entryId", "format"]),
        children,
        max_size=4,
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=256), _json.map(lambda v: json.dumps(v).encode())))
def test_arbitrary_input_parses_or_is_an_input_error(data: bytes) -> None:
    try:
        parse_pes_confirmation(data)
    except InputError as error:
        assert "\n" not in str(error)


def test_the_statement_digest_is_what_the_vector_names() -> None:
    # Guards the copy of the vector: the statement of Oak's PES test endorsement.
    assert hashlib.sha256(STATEMENT).hexdigest() == (
        "92f7b7f8bd69c37cc1ee103b1c49ea5f7c9b363e3f73fafabe5c15cb659b53c8"
    )
