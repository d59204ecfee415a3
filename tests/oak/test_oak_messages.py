"""auditor.oak.messages against Oak's real endorsements, evidence and reference values."""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from google.protobuf import message as _message
from google.protobuf import text_format
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.errors import InputError
from auditor.oak.messages import (
    CONTAINER_ENDORSEMENT_ID,
    KERNEL_ENDORSEMENT_ID,
    ComponentEndorsement,
    parse_binary_message,
    parse_firmware_attachment,
    parse_kernel_attachment,
    parse_message,
    read_endorsements,
    read_reference_values,
)
from auditor.oak.proto import digest_pb2
from auditor.oak.proto.attestation import (
    attachment_pb2,
    endorsement_pb2,
    evidence_pb2,
    reference_value_pb2,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "oak"
RELEASE = DATA / "oak-containers-milan-release"
STAGING = DATA / "oak-containers-milan-staging"
COMPONENTS = ["stage0", "kernel", "kernel_cmd_line", "init_ram_fs", "system_image"]

MESSAGE_TYPES: dict[str, type[_message.Message]] = {
    "endorsements": endorsement_pb2.Endorsements,
    "evidence": evidence_pb2.Evidence,
    "reference_values": reference_value_pb2.ReferenceValues,
}
REAL_MESSAGES = sorted(path.with_suffix("") for path in DATA.glob("*/*.binarypb"))


def _spki_der(pem_path: Path) -> bytes:
    key = load_pem_public_key(pem_path.read_bytes())
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _subject_sha256(statement: bytes) -> str:
    subjects = json.loads(statement)["subject"]
    assert len(subjects) == 1
    digest: str = subjects[0]["digest"]["sha256"]
    return digest


# --- every real file, both formats ---------------------------------------------------------


def test_every_real_set_is_covered() -> None:
    # 2 endorsements + 2 evidence + 1 reference values; a new file must join the parametrization.
    assert len(REAL_MESSAGES) == 5


@pytest.mark.parametrize("stem", REAL_MESSAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_file_parses_identically_in_binary_and_text(stem: Path) -> None:
    message_cls = MESSAGE_TYPES[stem.name]
    binary = stem.with_suffix(".binarypb").read_bytes()
    text = stem.with_suffix(".textproto").read_bytes()

    from_binary = parse_message(binary, message_cls)
    from_text = parse_message(text, message_cls)

    assert from_binary == from_text
    assert from_binary.ByteSize() > 0
    # Every byte of the real message is accounted for by our schema: re-encoding reproduces it.
    assert from_binary.SerializeToString(deterministic=True) == binary
    assert from_text.SerializeToString(deterministic=True) == binary


# --- endorsements --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".binarypb", ".textproto"])
def test_release_endorsements_match_the_exploded_component_files(suffix: str) -> None:
    endorsements = read_endorsements((RELEASE / "endorsements").with_suffix(suffix).read_bytes())

    assert [e.component for e in endorsements] == COMPONENTS
    for endorsement in endorsements:
        files = RELEASE / "components" / endorsement.component
        assert endorsement.statement == (files / "endorsement.json").read_bytes()
        assert endorsement.signature == (files / "endorsement.json.sig").read_bytes()
        assert endorsement.rekor_log_entry == (files / "logentry.json").read_bytes()
        subject = files / "subject.bin"
        assert endorsement.subject == (subject.read_bytes() if subject.exists() else None)


def test_inline_subjects_hash_to_the_statement_subject() -> None:
    for endorsement in read_endorsements((RELEASE / "endorsements.binarypb").read_bytes()):
        if endorsement.subject is not None:
            actual = hashlib.sha256(endorsement.subject).hexdigest()
            assert actual == _subject_sha256(endorsement.statement)


@pytest.mark.parametrize("suffix", [".binarypb", ".textproto"])
def test_staging_endorsements_have_no_rekor_entry(suffix: str) -> None:
    endorsements = read_endorsements((STAGING / "endorsements").with_suffix(suffix).read_bytes())

    assert [e.component for e in endorsements] == COMPONENTS
    for endorsement in endorsements:
        files = STAGING / "components" / endorsement.component
        assert endorsement.statement == (files / "endorsement.json").read_bytes()
        assert endorsement.signature == (files / "endorsement.json.sig").read_bytes()
        assert endorsement.rekor_log_entry is None


def test_variant_endorsements_repeat_the_layered_ones_in_the_real_data() -> None:
    # Both real sets carry every component twice (oneof and Variant events); we report it once.
    real = endorsement_pb2.Endorsements()
    real.ParseFromString((RELEASE / "endorsements.binarypb").read_bytes())
    assert len(real.events) == 3 and real.HasField("initial")
    only_variants = endorsement_pb2.Endorsements()
    only_variants.CopyFrom(real)
    only_variants.ClearField("oak_containers")

    from_variants = read_endorsements(only_variants.SerializeToString())

    assert from_variants == read_endorsements((RELEASE / "endorsements.binarypb").read_bytes())


def _kernel_event(statement: bytes, signature: bytes) -> endorsement_pb2.Endorsements:
    kernel = endorsement_pb2.KernelEndorsement()
    kernel.kernel.endorsement.format = endorsement_pb2.Endorsement.ENDORSEMENT_FORMAT_JSON_INTOTO
    kernel.kernel.endorsement.serialized = statement
    kernel.kernel.signature.raw = signature
    message = endorsement_pb2.Endorsements()
    message.oak_containers.kernel_layer.kernel.endorsement = b"{}"
    message.oak_containers.kernel_layer.kernel.endorsement_signature = b"sig"
    event = message.events.add()
    event.id = KERNEL_ENDORSEMENT_ID.bytes
    event.value = kernel.SerializeToString()
    return message


def test_a_variant_endorsement_that_differs_from_the_layered_one_is_reported() -> None:
    message = _kernel_event(b'{"other": 1}', b"other-sig")

    found = read_endorsements(message.SerializeToString())

    assert found == [
        ComponentEndorsement("kernel", b"{}", b"sig", None, None),
        ComponentEndorsement("kernel", b'{"other": 1}', b"other-sig", None, None),
    ]


def test_container_variant_names_container_components() -> None:
    container = endorsement_pb2.ContainerEndorsement()
    container.binary.endorsement.serialized = b"{}"
    container.configuration.endorsement.serialized = b"{ }"
    message = endorsement_pb2.Endorsements()
    event = message.events.add()
    event.id = CONTAINER_ENDORSEMENT_ID.bytes
    event.value = container.SerializeToString()

    found = read_endorsements(message.SerializeToString())

    assert [e.component for e in found] == ["container_binary", "container_configuration"]


def test_restricted_kernel_endorsements_name_application_components() -> None:
    message = endorsement_pb2.Endorsements()
    message.oak_restricted_kernel.application_layer.binary.endorsement = b"{}"
    message.oak_restricted_kernel.root_layer.stage0.endorsement = b"{ }"

    found = read_endorsements(message.SerializeToString())

    assert [e.component for e in found] == ["stage0", "application_binary"]


def test_a_malformed_variant_payload_is_an_input_error() -> None:
    message = endorsement_pb2.Endorsements()
    event = message.events.add()
    event.id = KERNEL_ENDORSEMENT_ID.bytes
    event.value = b"\xff\xff\xff"
    with pytest.raises(InputError, match="KernelEndorsement"):
        read_endorsements(message.SerializeToString())


def test_a_variant_id_that_is_not_a_uuid_is_an_input_error() -> None:
    message = endorsement_pb2.Endorsements()
    message.events.add(id=b"kernel", value=b"")
    with pytest.raises(InputError, match="UUID"):
        read_endorsements(message.SerializeToString())


def test_unknown_variant_ids_are_skipped() -> None:
    message = endorsement_pb2.Endorsements()
    message.events.add(id=uuid.uuid4().bytes, value=b"\x0a\x00")
    assert read_endorsements(message.SerializeToString()) == []


# --- reference values ----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".binarypb", ".textproto"])
def test_staging_reference_values_name_the_development_key(suffix: str) -> None:
    key = _spki_der(DATA / "single-entry-2024" / "endorser_public_key.pem")

    components = read_reference_values(
        (STAGING / "reference_values").with_suffix(suffix).read_bytes()
    )

    # memory_map, acpi, the command line and the container layer are `skip` in this file.
    assert [c.component for c in components] == ["stage0", "kernel", "init_ram_fs", "system_image"]
    for component in components:
        assert component.keys == [key]
        assert component.tlog_required is False


def test_required_claims_are_claimed_by_the_staging_endorsements() -> None:
    statements = {
        e.component: json.loads(e.statement)
        for e in read_endorsements((STAGING / "endorsements.binarypb").read_bytes())
    }
    for component in read_reference_values((STAGING / "reference_values.binarypb").read_bytes()):
        claimed = {
            claim["type"] for claim in statements[component.component]["predicate"]["claims"]
        }
        assert set(component.required_claims) <= claimed
    assert any(
        c.required_claims
        for c in read_reference_values((STAGING / "reference_values.binarypb").read_bytes())
    )


def _reference_values_with_stage0(reference: str) -> bytes:
    return f"oak_containers {{ root_layer {{ amd_sev {{ stage0 {{ {reference} }} }} }} }}".encode()


def test_tlog_requirement_follows_tlog_then_rekor() -> None:
    key = _spki_der(DATA / "single-entry-2024" / "endorser_public_key.pem")
    raw = "".join(f"\\{byte:03o}" for byte in key)
    endorser = f'endorser {{ keys {{ type: KEY_TYPE_ECDSA_P256_SHA256 key_id: 1 raw: "{raw}" }} }}'
    cases = {
        "tlog { skip {} }": False,
        "rekor { skip {} }": False,
        "rekor { verify {} }": True,
    }
    for tlog, required in cases.items():
        data = _reference_values_with_stage0(f"endorsement {{ {endorser} {tlog} }}")
        [component] = read_reference_values(data)
        assert component.tlog_required is required, tlog


def test_a_reference_key_that_is_not_p256_spki_is_an_input_error() -> None:
    data = _reference_values_with_stage0('endorsement { endorser { keys { raw: "not a key" } } }')
    with pytest.raises(InputError, match="stage0 endorser key 0"):
        read_reference_values(data)


def test_a_reference_key_of_unknown_algorithm_is_an_input_error() -> None:
    key = _spki_der(DATA / "single-entry-2024" / "endorser_public_key.pem")
    ec_public_key_oid = bytes.fromhex("06072a8648ce3d0201")  # 1.2.840.10045.2.1
    assert ec_public_key_oid in key
    unknown = key.replace(ec_public_key_oid, bytes.fromhex("06072a8648ce3d0205"))
    raw = "".join(f"\\{byte:03o}" for byte in unknown)
    data = _reference_values_with_stage0(
        f'endorsement {{ endorser {{ keys {{ raw: "{raw}" }} }} }}'
    )
    with pytest.raises(InputError, match="stage0 endorser key 0 is not a DER"):
        read_reference_values(data)


def test_an_endorsement_reference_without_keys_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no endorser key"):
        read_reference_values(_reference_values_with_stage0("endorsement { }"))


def test_digest_and_skip_references_carry_no_keys() -> None:
    data = _reference_values_with_stage0("digests { digests { sha2_256: '0123' } }")
    assert read_reference_values(data) == []
    assert read_reference_values(_reference_values_with_stage0("skip {}")) == []


# --- attachments ---------------------------------------------------------------------------


def test_release_firmware_attachment() -> None:
    subject = (RELEASE / "components" / "stage0" / "subject.bin").read_bytes()

    firmware = parse_firmware_attachment(subject)

    # The vCPU counts as `protoc --decode_raw` shows them in the real attachment.
    assert sorted(firmware.launch_digests) == [1, 4, 16, 64]
    assert all(len(d) == 96 and d == d.lower() for d in firmware.launch_digests.values())
    assert firmware.rom_sha256 is None


def test_staging_firmware_attachment_carries_the_rom_digest() -> None:
    subject = (STAGING / "components" / "stage0" / "subject.bin").read_bytes()
    firmware = parse_firmware_attachment(subject)
    assert firmware.rom_sha256 is not None and len(firmware.rom_sha256) == 64


def test_kernel_attachment_matches_the_textproto_subject() -> None:
    # The same attachment read from the text-format endorsements, through the generated class.
    endorsements = endorsement_pb2.Endorsements()
    text_format.Parse((RELEASE / "endorsements.textproto").read_text(), endorsements)
    attachment = attachment_pb2.KernelAttachment()
    attachment.ParseFromString(endorsements.oak_containers.kernel_layer.kernel.subject)

    kernel = parse_kernel_attachment(
        (RELEASE / "components" / "kernel" / "subject.bin").read_bytes()
    )

    assert kernel.image_sha256 == attachment.image.sha2_256
    assert kernel.setup_data_sha256 == attachment.setup_data.sha2_256


def test_an_attachment_in_text_format_endorses_nothing() -> None:
    """Oak's verifier decodes an inline subject as a binary message; the text form of the real
    kernel attachment was read as text, and reconciled as a match Oak would never accept."""
    attachment = attachment_pb2.KernelAttachment()
    attachment.ParseFromString((RELEASE / "components" / "kernel" / "subject.bin").read_bytes())
    firmware = attachment_pb2.FirmwareAttachment()
    firmware.ParseFromString((RELEASE / "components" / "stage0" / "subject.bin").read_bytes())
    with pytest.raises(InputError, match="KernelAttachment"):
        parse_kernel_attachment(text_format.MessageToString(attachment).encode())
    with pytest.raises(InputError, match="FirmwareAttachment"):
        parse_firmware_attachment(text_format.MessageToString(firmware).encode())


def test_attachments_are_not_interchangeable() -> None:
    # The two attachments share tag numbers: reading one as the other must fail, not misread.
    firmware = (RELEASE / "components" / "stage0" / "subject.bin").read_bytes()
    kernel = (RELEASE / "components" / "kernel" / "subject.bin").read_bytes()
    with pytest.raises(InputError, match="KernelAttachment"):
        parse_kernel_attachment(firmware)
    with pytest.raises(InputError, match="FirmwareAttachment"):
        parse_firmware_attachment(kernel)


def _firmware(configs: dict[int, str], binary: str | None = None) -> bytes:
    attachment = attachment_pb2.FirmwareAttachment()
    for vcpus, digest in configs.items():
        attachment.configs[vcpus].sha2_384 = digest
    if binary is not None:
        attachment.binary.sha2_256 = binary
    return attachment.SerializeToString()


@pytest.mark.parametrize(
    ("configs", "binary", "match"),
    [
        ({}, "cd" * 32, "no launch digest"),
        ({0: "ab" * 48}, None, "0 vCPUs"),
        ({1: "ab" * 47}, None, "not 48 bytes"),
        ({1: "zz" * 48}, None, "not 48 bytes"),
        ({1: "ab" * 48}, "cd" * 31, "binary sha2_256"),
    ],
)
def test_malformed_firmware_attachments(
    configs: dict[int, str], binary: str | None, match: str
) -> None:
    with pytest.raises(InputError, match=match):
        parse_firmware_attachment(_firmware(configs, binary))


def test_firmware_digests_are_normalised_to_lowercase() -> None:
    parsed = parse_firmware_attachment(_firmware({2: "AB" * 48}))
    assert parsed.launch_digests == {2: "ab" * 48}


def test_kernel_attachment_without_setup_data_is_an_input_error() -> None:
    attachment = attachment_pb2.KernelAttachment(image=digest_pb2.HexDigest(sha2_256="00" * 32))
    with pytest.raises(InputError, match="setup_data digest has no sha2_256"):
        parse_kernel_attachment(attachment.SerializeToString())


# --- malformed input -----------------------------------------------------------------------


def test_truncated_binary_is_an_input_error() -> None:
    data = (RELEASE / "endorsements.binarypb").read_bytes()
    with pytest.raises(InputError, match=r"oak\.attestation\.v1\.Endorsements"):
        parse_message(data[:-7], endorsement_pb2.Endorsements)


def test_bad_text_is_an_input_error_naming_the_text_problem() -> None:
    with pytest.raises(InputError, match=r"malformed text oak\.attestation\.v1\.Endorsements"):
        read_endorsements(b"oak_containers { root_layer { ")


def test_a_text_error_quotes_a_huge_token_cut_not_whole() -> None:
    # A cut evidence.textproto ends inside its report string; the parser's error quotes that
    # token twice, so an unterminated string of 1 MB made a 2 MB error line.
    text = b'root_layer { remote_attestation_report: "' + b"A" * 1_000_000 + b"\n"
    with pytest.raises(InputError) as raised:
        parse_message(text, evidence_pb2.Evidence)
    message = str(raised.value)
    assert message.startswith("malformed text oak.attestation.v1.Evidence message: 1:")
    assert len(message) < 700 and message.endswith(" characters)")


def test_unknown_text_field_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no_such_field"):
        read_endorsements(b"oak_containers { no_such_field: 1 }")


def test_unknown_binary_field_is_an_input_error() -> None:
    data = (STAGING / "reference_values.binarypb").read_bytes()
    unknown = b"\xf8\x06\x01"  # field 111, varint 1
    with pytest.raises(InputError, match="unknown fields"):
        read_reference_values(data + unknown)


def test_unknown_nested_binary_field_is_an_input_error() -> None:
    inner = reference_value_pb2.OakContainersReferenceValues().SerializeToString() + b"\x48\x01"
    data = b"\x12" + bytes([len(inner)]) + inner  # ReferenceValues.oak_containers = inner
    with pytest.raises(InputError, match="unknown fields"):
        parse_message(data, reference_value_pb2.ReferenceValues)


def test_trailing_garbage_is_an_input_error() -> None:
    data = (RELEASE / "evidence.binarypb").read_bytes()
    with pytest.raises(InputError, match=r"oak\.attestation\.v1\.Evidence"):
        parse_message(data + b"\x00\x01garbage", evidence_pb2.Evidence)


def test_random_bytes_are_an_input_error() -> None:
    rng = random.Random(20250728)
    data = bytes(rng.randrange(256) for _ in range(4096))
    with pytest.raises(InputError, match="Endorsements"):
        read_endorsements(data)


def test_empty_input_is_an_input_error() -> None:
    with pytest.raises(InputError, match="empty input"):
        read_endorsements(b"")


def test_binary_only_parse_rejects_text() -> None:
    with pytest.raises(InputError, match="Evidence"):
        parse_binary_message(b"root_layer { platform: AMD_SEV_SNP }", evidence_pb2.Evidence)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_parse_or_raise_input_error(data: bytes) -> None:
    for message_cls in MESSAGE_TYPES.values():
        try:
            parsed = parse_message(data, message_cls)
        except InputError as error:
            assert "\n" not in str(error)
        else:
            assert isinstance(parsed, message_cls)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=256))
def test_bytes_inserted_into_real_binary_never_escape_as_other_errors(junk: bytes) -> None:
    data = (STAGING / "reference_values.binarypb").read_bytes()
    corrupted = data[:100] + junk + data[100:]
    try:
        read_reference_values(corrupted)
    except InputError:
        pass
