"""Oak's current receipts: every receipt kept on import, TLogReferenceValues, TDX attachments.

Real data: the staging reference values in Oak's 578b951 form, the C2SP tlog-proof of Oak's
`tr/c2sp/testdata`, the PES confirmation of `tr/pes/testdata` and the PES root certificate of
`oak_attestation_verification/testdata/pes` (tests/data/PROVENANCE.md). Messages carrying
receipts 4 and 5 are built here with the generated classes, as Oak's own tests build them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from google.protobuf import text_format

from auditor.errors import InputError
from auditor.oak.messages import (
    CONFIDENTIAL_SPACE_ENDORSEMENT_ID,
    KERNEL_ENDORSEMENT_ID,
    ComponentEndorsement,
    KeyType,
    TLogPolicy,
    TLogStrategy,
    parse_firmware_attachment,
    read_endorsements,
    read_reference_values,
)
from auditor.oak.proto.attestation import attachment_pb2, endorsement_pb2

DATA = Path(__file__).resolve().parents[1] / "data" / "oak"
STAGING = DATA / "oak-containers-milan-staging"
RELEASE = DATA / "oak-containers-milan-release"
TLOG_PROOF = (DATA / "c2sp" / "test.tlog-proof").read_bytes()
PES_CONFIRMATION = (DATA / "pes" / "tr_pes" / "pes_confirmation.json").read_bytes()
PES_ROOT = x509.load_der_x509_certificate(
    (DATA / "pes" / "oak_attestation_verification" / "pes_root_cert.der").read_bytes()
)


def _spki(path: Path) -> bytes:
    return load_pem_public_key(path.read_bytes()).public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )


ENDORSER_KEY = _spki(DATA / "single-entry-2024" / "endorser_public_key.pem")
REKOR_KEY = _spki(DATA / "rekor_public_key.pem")
PES_KEY = PES_ROOT.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


# --- receipts on import --------------------------------------------------------------------


def _signed(signed: endorsement_pb2.SignedEndorsement, statement: bytes, signature: bytes) -> None:
    signed.endorsement.format = endorsement_pb2.Endorsement.ENDORSEMENT_FORMAT_JSON_INTOTO
    signed.endorsement.serialized = statement
    signed.signature.key_id = 4711
    signed.signature.raw = signature


def _with_kernel_event(
    message: endorsement_pb2.Endorsements, statement: bytes, signature: bytes, **receipts: bytes
) -> None:
    kernel = endorsement_pb2.KernelEndorsement()
    _signed(kernel.kernel, statement, signature)
    for field, value in receipts.items():
        setattr(kernel.kernel, field, value)
    message.events.add(id=KERNEL_ENDORSEMENT_ID.bytes, value=kernel.SerializeToString())


def _real_kernel() -> ComponentEndorsement:
    [kernel] = [
        e
        for e in read_endorsements((RELEASE / "endorsements.binarypb").read_bytes())
        if e.component == "kernel"
    ]
    return kernel


@pytest.mark.parametrize("form", ["binary", "text"])
def test_every_receipt_of_a_signed_endorsement_survives_import_byte_exact(form: str) -> None:
    kernel = _real_kernel()
    assert kernel.rekor_log_entry is not None
    message = endorsement_pb2.Endorsements()
    _with_kernel_event(
        message,
        kernel.statement,
        kernel.signature,
        rekor_log_entry=kernel.rekor_log_entry,
        c2sp_tlog_proof=TLOG_PROOF,
        pes_confirmation=PES_CONFIRMATION,
    )
    data = (
        message.SerializeToString()
        if form == "binary"
        else text_format.MessageToString(message).encode()
    )

    [found] = read_endorsements(data)

    assert found == ComponentEndorsement(
        "kernel",
        kernel.statement,
        kernel.signature,
        kernel.rekor_log_entry,
        None,
        c2sp_tlog_proof=TLOG_PROOF,
        pes_confirmation=PES_CONFIRMATION,
    )


def test_receipts_of_the_variant_join_the_layered_copy_of_the_same_endorsement() -> None:
    # Oak's real messages carry each component in the oneof layers and again as a Variant; the
    # layered TransparentReleaseEndorsement cannot hold receipts 4 and 5.
    real = endorsement_pb2.Endorsements()
    real.ParseFromString((RELEASE / "endorsements.binarypb").read_bytes())
    kernel = _real_kernel()
    for event in real.events:
        if event.id == KERNEL_ENDORSEMENT_ID.bytes:
            payload = endorsement_pb2.KernelEndorsement.FromString(event.value)
            payload.kernel.c2sp_tlog_proof = TLOG_PROOF
            payload.kernel.pes_confirmation = PES_CONFIRMATION
            event.value = payload.SerializeToString()

    found = read_endorsements(real.SerializeToString())

    assert [e.component for e in found] == [
        "stage0", "kernel", "kernel_cmd_line", "init_ram_fs", "system_image"
    ]
    [merged] = [e for e in found if e.component == "kernel"]
    assert merged.rekor_log_entry == kernel.rekor_log_entry
    assert merged.subject == kernel.subject
    assert merged.c2sp_tlog_proof == TLOG_PROOF
    assert merged.pes_confirmation == PES_CONFIRMATION
    assert all(e.pes_confirmation is None for e in found if e.component != "kernel")


def test_a_second_copy_with_a_different_receipt_is_kept_beside_the_first() -> None:
    message = endorsement_pb2.Endorsements()
    _with_kernel_event(message, b"{}", b"sig", pes_confirmation=PES_CONFIRMATION)
    _with_kernel_event(message, b"{}", b"sig", pes_confirmation=PES_CONFIRMATION + b" ")
    _with_kernel_event(message, b"{}", b"sig", c2sp_tlog_proof=TLOG_PROOF)

    found = read_endorsements(message.SerializeToString())

    assert [(e.pes_confirmation, e.c2sp_tlog_proof) for e in found] == [
        (PES_CONFIRMATION, TLOG_PROOF),
        (PES_CONFIRMATION + b" ", None),
    ]


@pytest.mark.parametrize("directory", [RELEASE, STAGING], ids=lambda p: p.name)
def test_the_real_endorsements_carry_no_c2sp_or_pes_receipt(directory: Path) -> None:
    for endorsement in read_endorsements((directory / "endorsements.binarypb").read_bytes()):
        assert endorsement.c2sp_tlog_proof is None
        assert endorsement.pes_confirmation is None


def test_the_confidential_space_workload_endorsement_is_read() -> None:
    # The id as oak_proto_rust/src/variant.rs spells it.
    oak_id = [101, 107, 31, 55, 118, 106, 162, 143, 49, 81, 224, 1, 135, 123, 189, 122]
    assert CONFIDENTIAL_SPACE_ENDORSEMENT_ID.bytes == bytes(oak_id)
    workload = endorsement_pb2.ConfidentialSpaceEndorsement(jwt_token="header.claims.sig")
    _signed(workload.workload_endorsement, b'{"w": 1}', b"sig")
    workload.workload_endorsement.pes_confirmation = PES_CONFIRMATION
    message = endorsement_pb2.Endorsements()
    message.events.add(
        id=CONFIDENTIAL_SPACE_ENDORSEMENT_ID.bytes, value=workload.SerializeToString()
    )

    [found] = read_endorsements(message.SerializeToString())

    assert (found.component, found.statement, found.pes_confirmation) == (
        "workload", b'{"w": 1}', PES_CONFIRMATION
    )


# --- TLogReferenceValues -------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".binarypb", ".textproto"])
def test_the_578b951_staging_reference_values_skip_every_tlog(suffix: str) -> None:
    components = read_reference_values(
        (STAGING / "reference_values").with_suffix(suffix).read_bytes()
    )

    assert [c.component for c in components] == ["stage0", "kernel", "init_ram_fs", "system_image"]
    for component in components:
        assert component.tlog == TLogPolicy(TLogStrategy.SKIP)
        assert component.tlog.populated == ()
        assert component.tlog_required is False


def _octal(raw: bytes) -> str:
    return "".join(f"\\{byte:03o}" for byte in raw)


def _key(raw: bytes, key_type: str = "KEY_TYPE_ECDSA_P256_SHA256", key_id: int = 1) -> str:
    return f'keys {{ type: {key_type} key_id: {key_id} raw: "{_octal(raw)}" }}'


ENDORSER = f"endorser {{ {_key(ENDORSER_KEY)} }}"
# The policy text is carried, not parsed, here (its verifier reads it).
C2SP_POLICY = "log fake.log.origin/log+3e0e9b2d+ARrc\nwitness w+1+AQ\nquorum w\n"
RSA = "KEY_TYPE_RSA_SHA2_256"
PES = f"pes {{ key_set {{ {_key(PES_KEY, RSA, 7)} }} }}"
REKOR = f"rekor {{ {_key(REKOR_KEY, key_id=0)} }}"


def _stage0_policy(tlog_fields: str) -> TLogPolicy:
    data = (
        "oak_containers { root_layer { amd_sev { stage0 { endorsement { "
        f"{ENDORSER} {tlog_fields} }} }} }} }} }}"
    ).encode()
    [component] = read_reference_values(data)
    assert component.component == "stage0"
    assert component.keys == [ENDORSER_KEY]
    return component.tlog


def test_all_with_every_receipt_populated() -> None:
    escaped = C2SP_POLICY.replace("\n", "\\n")
    policy = _stage0_policy(f'tlog {{ all {{}} {REKOR} c2sp {{ policy: "{escaped}" }} {PES} }}')

    assert policy.strategy is TLogStrategy.ALL
    assert policy.populated == ("rekor", "c2sp", "pes")
    assert policy.requires_receipts
    assert policy.rekor is not None and policy.pes is not None
    [rekor] = policy.rekor.keys
    assert (rekor.key_id, rekor.key_type) == (0, KeyType.ECDSA_P256_SHA256)
    assert rekor.spki_der == REKOR_KEY
    assert policy.c2sp_policy == C2SP_POLICY
    [pes] = policy.pes.keys
    assert (pes.key_id, pes.key_type, pes.spki_der) == (7, KeyType.RSA_SHA2_256, PES_KEY)
    assert not policy.deprecated_rekor_field


@pytest.mark.parametrize(
    ("tlog", "strategy", "populated", "required"),
    [
        # tr/verify_endorsement/lib.rs verify_tlog: skip ignores whatever is populated,
        (f"tlog {{ skip {{}} {REKOR} {PES} }}", TLogStrategy.SKIP, ("rekor", "pes"), False),
        # all with nothing populated is skip,
        ("tlog { all {} }", TLogStrategy.ALL, (), False),
        (f"tlog {{ all {{}} {PES} }}", TLogStrategy.ALL, ("pes",), True),
        # any with nothing populated always fails.
        ("tlog { any {} }", TLogStrategy.ANY, (), True),
        (f"tlog {{ any {{}} {REKOR} {PES} }}", TLogStrategy.ANY, ("rekor", "pes"), True),
    ],
)
def test_strategy_semantics(
    tlog: str, strategy: TLogStrategy, populated: tuple[str, ...], required: bool
) -> None:
    policy = _stage0_policy(tlog)

    assert policy.strategy is strategy
    assert policy.populated == populated
    assert policy.requires_receipts is required


def test_the_deprecated_rekor_field_means_all_with_that_rekor_key_set() -> None:
    # reference_value.proto: `rekor` is equivalent to tlog { strategy { all {} } rekor { ... } }.
    verify = _stage0_policy(f"rekor {{ verify {{ {_key(REKOR_KEY, key_id=3)} }} }}")
    skip = _stage0_policy("rekor { skip {} }")

    assert verify.strategy is TLogStrategy.ALL and verify.populated == ("rekor",)
    assert verify.rekor is not None and verify.rekor.keys[0].spki_der == REKOR_KEY
    assert verify.deprecated_rekor_field
    assert skip == TLogPolicy(TLogStrategy.SKIP, deprecated_rekor_field=True)


def test_tlog_wins_over_the_deprecated_rekor_field() -> None:
    policy = _stage0_policy(f"rekor {{ verify {{ {_key(REKOR_KEY)} }} }} tlog {{ skip {{}} }}")
    assert policy == TLogPolicy(TLogStrategy.SKIP)


def test_the_rekor_signed_timestamp_floor_is_carried() -> None:
    policy = _stage0_policy(
        f"tlog {{ all {{}} rekor {{ {_key(REKOR_KEY)} signed_timestamp {{ "
        "not_before_absolute { seconds: 1700000000 } not_before_relative { seconds: -86400 } "
        "} } }"
    )

    assert policy.rekor is not None
    assert policy.rekor.not_before == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert policy.rekor.not_before_relative == timedelta(days=-1)


def test_the_deprecated_endorser_public_key_field_still_parses() -> None:
    # Upstream reserves field 1 now; reference values of mid-2025 used it.
    data = (
        "oak_containers { kernel_layer { kernel { endorsement { "
        f'endorser_public_key: "{_octal(ENDORSER_KEY)}" rekor {{ skip {{}} }} '
        "} } } }"
    ).encode()

    [component] = read_reference_values(data)

    assert (component.component, component.keys) == ("kernel", [ENDORSER_KEY])


def test_the_intel_tdx_stage0_reference_value_is_read() -> None:
    data = (
        "oak_containers { root_layer { intel_tdx { stage0 { endorsement { "
        f"{ENDORSER} tlog {{ any {{}} {PES} }} }} }} }} }} }}"
    ).encode()

    [component] = read_reference_values(data)

    assert component.component == "stage0"
    assert component.tlog.strategy is TLogStrategy.ANY


@pytest.mark.parametrize(
    ("tlog", "match"),
    [
        ("", "stage0 have neither tlog nor rekor"),
        (f"tlog {{ {REKOR} }}", "stage0: tlog has no strategy"),
        ("rekor { }", "stage0: rekor is neither skip nor verify"),
        (
            f"tlog {{ all {{}} pes {{ key_set {{ {_key(ENDORSER_KEY, RSA)} }} }} }}",
            "stage0 tlog pes key 0 is declared RSA but is not an RSA key",
        ),
        (
            f"tlog {{ all {{}} rekor {{ {_key(PES_KEY)} }} }}",
            "stage0 tlog rekor key 0 is not an ECDSA P-256 key",
        ),
        (
            f"tlog {{ all {{}} rekor {{ {_key(REKOR_KEY, 'KEY_TYPE_UNDEFINED')} }} }}",
            "stage0 tlog rekor key 0 has no usable key type",
        ),
        (
            'tlog { all {} rekor { keys { type: KEY_TYPE_ECDSA_P256_SHA256 raw: "junk" } } }',
            "stage0 tlog rekor key 0 is not a DER SubjectPublicKeyInfo",
        ),
        (
            f"tlog {{ all {{}} rekor {{ {_key(REKOR_KEY)} signed_timestamp {{ "
            "not_before_absolute { seconds: 999999999999999 } } } }",
            "stage0 tlog rekor signed_timestamp is out of range",
        ),
    ],
)
def test_policies_oak_rejects_or_cannot_use_are_input_errors(tlog: str, match: str) -> None:
    data = (
        "oak_containers { root_layer { amd_sev { stage0 { endorsement { "
        f"{ENDORSER} {tlog} }} }} }} }} }}"
    ).encode()
    with pytest.raises(InputError, match=match):
        read_reference_values(data)


# --- TDX measurement -----------------------------------------------------------------------


def _attachment(**digests: str) -> bytes:
    attachment = attachment_pb2.FirmwareAttachment()
    if "snp" in digests:
        attachment.configs[1].sha2_384 = digests["snp"]
    if "tdx" in digests:
        attachment.tdx_measurement.sha2_384 = digests["tdx"]
    return attachment.SerializeToString()


MRTD = hashlib.sha384(b"stage0 under TDX").hexdigest()


def test_a_tdx_only_firmware_attachment() -> None:
    firmware = parse_firmware_attachment(_attachment(tdx=MRTD.upper()))

    assert firmware.tdx_measurement == MRTD
    assert firmware.launch_digests == {}


def test_a_firmware_attachment_for_both_platforms() -> None:
    snp = hashlib.sha384(b"stage0 under SNP").hexdigest()

    firmware = parse_firmware_attachment(_attachment(snp=snp, tdx=MRTD))

    assert (firmware.launch_digests, firmware.tdx_measurement) == ({1: snp}, MRTD)


@pytest.mark.parametrize("directory", [RELEASE, STAGING], ids=lambda p: p.name)
def test_the_real_milan_attachments_carry_no_tdx_measurement(directory: Path) -> None:
    firmware = parse_firmware_attachment(
        (directory / "components" / "stage0" / "subject.bin").read_bytes()
    )
    assert firmware.tdx_measurement is None
    assert firmware.launch_digests


@pytest.mark.parametrize(
    ("tdx", "match"),
    [
        (MRTD[:-2], "tdx_measurement sha2_384 is not 48 bytes of hex"),
        ("zz" * 48, "tdx_measurement sha2_384 is not 48 bytes of hex"),
        ("", "tdx_measurement digest has no sha2_384"),
    ],
)
def test_malformed_tdx_measurements(tdx: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        parse_firmware_attachment(_attachment(tdx=tdx))


def test_a_firmware_attachment_with_neither_measurement_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"no launch digest .* and no tdx_measurement"):
        parse_firmware_attachment(b"\x12\x00")  # only an empty `binary` digest
