"""A small typed API over Project Oak's protobuf messages.

Oak ships endorsements, evidence and reference values as protobuf messages, in binary or in
protobuf text format (`.binarypb` / `.textproto`). Everything here is hostile input: parsing is
strict (no unknown fields, no trailing bytes) and every malformation is an `InputError` naming
the message type, never a protobuf traceback.

The generated classes live in `auditor.oak.proto` (see scripts/gen_protos.sh); callers should
not need them for the common questions: what does each component's endorsement say, which keys
may sign it, and which measurements does an attachment carry.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import load_der_public_key
from google.protobuf import message as _message
from google.protobuf import text_format

from auditor.errors import InputError
from auditor.oak.proto import digest_pb2
from auditor.oak.proto.attestation import attachment_pb2, endorsement_pb2, reference_value_pb2
from auditor.wording import bounded

M = TypeVar("M", bound=_message.Message)


# --- parsing ---------------------------------------------------------------------------------


def parse_message(data: bytes, message_cls: type[M]) -> M:
    """Parse `data` as a `message_cls`, in protobuf text format or binary wire format.

    Text is tried first when the bytes are valid UTF-8, binary otherwise (and when text fails:
    a short binary message can happen to be valid UTF-8). Unknown fields, trailing garbage and
    empty input are `InputError`s.
    """
    name = message_cls.DESCRIPTOR.full_name
    if not data:
        raise InputError(f"empty input is not a valid {name} message")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return parse_binary_message(data, message_cls)
    try:
        return _parse_text(text, message_cls)
    except InputError as text_error:
        try:
            return parse_binary_message(data, message_cls)
        except InputError:
            if _looks_like_text(text):
                raise text_error from None
            raise


def parse_binary_message(data: bytes, message_cls: type[M]) -> M:
    """Parse `data` as a `message_cls` in binary wire format only, strictly."""
    name = message_cls.DESCRIPTOR.full_name
    parsed = message_cls()
    try:
        parsed.ParseFromString(data)
    except _message.DecodeError as error:
        raise InputError(f"malformed binary {name} message: {error}") from None
    # ParseFromString keeps fields it does not know (and most trailing garbage decodes as such);
    # dropping them changes the encoded size, which is how we see them at any depth.
    known = message_cls()
    known.CopyFrom(parsed)
    known.DiscardUnknownFields()
    if known.ByteSize() != parsed.ByteSize():
        raise InputError(f"binary {name} message has unknown fields or trailing bytes")
    return parsed


def _parse_text(text: str, message_cls: type[M]) -> M:
    name = message_cls.DESCRIPTOR.full_name
    parsed = message_cls()
    try:
        # Rejects unknown fields and unknown Any types by default.
        text_format.Parse(text, parsed)
    except text_format.ParseError as error:
        # The parser quotes the token it stopped at, twice: an unterminated string of 5 MB
        # made a 10 MB error line.
        raise InputError(f"malformed text {name} message: {bounded(str(error))}") from None
    return parsed


def _looks_like_text(text: str) -> bool:
    # A binary message nearly always contains tag or length bytes below 0x20.
    return all(ch in "\t\n\r" or ch >= " " for ch in text)


# --- endorsements ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ComponentEndorsement:
    """One component's signed statement, as carried in an Oak `Endorsements` message."""

    #: The proto field name of the component: `stage0`, `kernel`, `init_ram_fs`, ...
    component: str
    #: The in-toto statement JSON, byte-exact as signed.
    statement: bytes
    #: ECDSA P-256 / SHA-256 signature (ASN.1 DER) over `statement`.
    signature: bytes
    #: JSON of Rekor's GET /api/v1/log/entries/{uuid}; None when the endorsement was not logged.
    rekor_log_entry: bytes | None
    #: The inline subject (attachment or regex) whose SHA-256 the statement names, if carried.
    subject: bytes | None
    #: A C2SP tlog-proof (c2sp.org/tlog-proof text) for the statement; None when absent.
    #: Only a SignedEndorsement carries it (field 4), byte-exact as received.
    c2sp_tlog_proof: bytes | None = None
    #: A Public Endorsement Service confirmation (SignedEndorsement field 5: the JSON form of
    #: google.pes.v1.PublicEndorsement, see auditor.verify.pes); None when absent.
    pes_confirmation: bytes | None = None

    def merged_with(self, other: ComponentEndorsement) -> ComponentEndorsement | None:
        """One endorsement with the receipts of both, or None when they disagree on a field.

        Oak's real messages carry each component twice (the layered oneof and a Variant event):
        the oneof's TransparentReleaseEndorsement has no fields 4 and 5, so the Variant's
        receipts must survive the de-duplication.
        """
        if (self.component, self.statement, self.signature) != (
            other.component,
            other.statement,
            other.signature,
        ):
            return None
        for name in ("rekor_log_entry", "subject", "c2sp_tlog_proof", "pes_confirmation"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is not None and theirs is not None and mine != theirs:
                return None
        # Absent fields are None, never b"", so `or` picks whichever copy has the field.
        return replace(
            self,
            rekor_log_entry=self.rekor_log_entry or other.rekor_log_entry,
            subject=self.subject or other.subject,
            c2sp_tlog_proof=self.c2sp_tlog_proof or other.c2sp_tlog_proof,
            pes_confirmation=self.pes_confirmation or other.pes_confirmation,
        )


# Variant.id values name the message type of Variant.value
# (oak_attestation_verification/src/lib.rs, cc/utils/variant_uuids.h).
AMD_SEV_SNP_PLATFORM_ENDORSEMENT_ID = uuid.UUID("5a12d00f-48a0-4224-bff4-975c7657438f")
FIRMWARE_ENDORSEMENT_ID = uuid.UUID("de4a0d55-60ea-4dc6-abd1-09ed744f80ea")
KERNEL_ENDORSEMENT_ID = uuid.UUID("89511d65-5d35-4601-900b-1e6dbaf842b6")
SYSTEM_ENDORSEMENT_ID = uuid.UUID("4722655d-963d-4fc9-8443-f14571dd32a2")
CONTAINER_ENDORSEMENT_ID = uuid.UUID("7297a51f-a05d-49a1-afdb-64cdee07862d")
APPLICATION_ENDORSEMENT_ID = uuid.UUID("e84ed714-669d-430a-a60f-8a651e5a5503")
# oak_proto_rust/src/variant.rs CONFIDENTIAL_SPACE_ENDORSEMENT_ID (16 random bytes, not a v4 UUID).
CONFIDENTIAL_SPACE_ENDORSEMENT_ID = uuid.UUID("656b1f37-766a-a28f-3151-e001877bbd7a")

# Variant payload type and the component name of each of its SignedEndorsement fields.
_VARIANT_COMPONENTS: dict[uuid.UUID, tuple[type[_message.Message], dict[str, str]]] = {
    FIRMWARE_ENDORSEMENT_ID: (endorsement_pb2.FirmwareEndorsement, {"firmware": "stage0"}),
    KERNEL_ENDORSEMENT_ID: (
        endorsement_pb2.KernelEndorsement,
        {name: name for name in ("kernel", "kernel_cmd_line", "init_ram_fs", "memory_map", "acpi")},
    ),
    SYSTEM_ENDORSEMENT_ID: (endorsement_pb2.SystemEndorsement, {"system_image": "system_image"}),
    CONTAINER_ENDORSEMENT_ID: (
        endorsement_pb2.ContainerEndorsement,
        {"binary": "container_binary", "configuration": "container_configuration"},
    ),
    APPLICATION_ENDORSEMENT_ID: (
        endorsement_pb2.ApplicationEndorsement,
        {"binary": "application_binary", "configuration": "application_configuration"},
    ),
    CONFIDENTIAL_SPACE_ENDORSEMENT_ID: (
        endorsement_pb2.ConfidentialSpaceEndorsement,
        {"workload_endorsement": "workload"},
    ),
}
_KERNEL_LAYER_COMPONENTS = ("kernel", "kernel_cmd_line", "init_ram_fs", "memory_map", "acpi")


def read_endorsements(data: bytes) -> list[ComponentEndorsement]:
    """The endorsed components of an `oak.attestation.v1.Endorsements` message.

    Reads the layered oneof (`oak_containers`, `oak_restricted_kernel`, `cb`) first, then the
    newer `initial`/`events` Variants (SignedEndorsements). A Variant endorsement that repeats
    one already read is merged into it (keeping every receipt of both); one that differs
    (another statement, or another receipt, for the same component) is returned too, so that
    nothing signed and nothing logged goes unseen.
    """
    endorsements = parse_message(data, endorsement_pb2.Endorsements)
    found = list(_layered_endorsements(endorsements))
    for endorsement in _variant_endorsements(endorsements):
        for index, earlier in enumerate(found):
            merged = earlier.merged_with(endorsement)
            if merged is not None:
                found[index] = merged
                break
        else:
            found.append(endorsement)
    return found


def _layered_endorsements(
    endorsements: endorsement_pb2.Endorsements,
) -> Iterator[ComponentEndorsement]:
    kind = endorsements.WhichOneof("type")
    layers: list[tuple[_message.Message, dict[str, str]]] = []
    if kind == "oak_containers":
        containers = endorsements.oak_containers
        layers = [
            (containers.root_layer, {"stage0": "stage0"}),
            (containers.kernel_layer, {name: name for name in _KERNEL_LAYER_COMPONENTS}),
            (containers.system_layer, {"system_image": "system_image"}),
            (
                containers.container_layer,
                {"binary": "container_binary", "configuration": "container_configuration"},
            ),
        ]
    elif kind == "oak_restricted_kernel":
        restricted = endorsements.oak_restricted_kernel
        layers = [
            (restricted.root_layer, {"stage0": "stage0"}),
            (restricted.kernel_layer, {name: name for name in _KERNEL_LAYER_COMPONENTS}),
            (
                restricted.application_layer,
                {"binary": "application_binary", "configuration": "application_configuration"},
            ),
        ]
    elif kind == "cb":
        layers = [(endorsements.cb.root_layer, {"stage0": "stage0"})]
    for layer, components in layers:
        for field, component in components.items():
            release: endorsement_pb2.TransparentReleaseEndorsement = getattr(layer, field)
            if release.endorsement:
                yield ComponentEndorsement(
                    component=component,
                    statement=release.endorsement,
                    signature=release.endorsement_signature,
                    rekor_log_entry=release.rekor_log_entry or None,
                    subject=release.subject or None,
                )


def _variant_endorsements(
    endorsements: endorsement_pb2.Endorsements,
) -> Iterator[ComponentEndorsement]:
    variants = list(endorsements.events)
    if endorsements.HasField("initial"):
        variants.insert(0, endorsements.initial)
    for variant in variants:
        if len(variant.id) != 16:
            raise InputError(f"endorsement Variant id is {len(variant.id)} bytes, not a UUID")
        known = _VARIANT_COMPONENTS.get(uuid.UUID(bytes=variant.id))
        if known is None or not variant.value:
            # The platform endorsement (a VCEK certificate) and future types carry no statement.
            continue
        payload_cls, components = known
        payload = parse_binary_message(variant.value, payload_cls)
        for field, component in components.items():
            signed: endorsement_pb2.SignedEndorsement = getattr(payload, field)
            if signed.endorsement.serialized:
                yield ComponentEndorsement(
                    component=component,
                    statement=signed.endorsement.serialized,
                    signature=signed.signature.raw,
                    rekor_log_entry=signed.rekor_log_entry or None,
                    subject=signed.endorsement.subject or None,
                    c2sp_tlog_proof=signed.c2sp_tlog_proof or None,
                    pes_confirmation=signed.pes_confirmation or None,
                )


# --- reference values ------------------------------------------------------------------------


class TLogStrategy(StrEnum):
    """How the receipts a component's policy populates combine (TLogReferenceValues.strategy)."""

    #: Nothing is verified, whatever is populated.
    SKIP = "skip"
    #: Every populated verification must pass; none populated is the same as SKIP.
    ALL = "all"
    #: At least one populated verification must pass; none populated always fails.
    ANY = "any"


class KeyType(StrEnum):
    """oak.attestation.v1.KeyType: the algorithm a VerifyingKey verifies with."""

    ECDSA_P256_SHA256 = "ecdsa-p256-sha256"
    RSA_SHA2_256 = "rsa-sha2-256"


@dataclass(frozen=True)
class VerifyingKey:
    """One key of an Oak VerifyingKeySet."""

    key_id: int
    key_type: KeyType
    #: DER SubjectPublicKeyInfo.
    spki_der: bytes


@dataclass(frozen=True)
class KeySet:
    """An Oak VerifyingKeySet: the keys, and the Rekor integration-time floor when given."""

    keys: tuple[VerifyingKey, ...]
    #: signed_timestamp.not_before_absolute: the signed timestamp must not be earlier.
    not_before: datetime | None = None
    #: signed_timestamp.not_before_relative: ... nor earlier than now plus this (signed) delta.
    not_before_relative: timedelta | None = None


@dataclass(frozen=True)
class TLogPolicy:
    """Which transparency receipts a component's endorsement must carry, and how to check them.

    Semantics of Oak's `verify_tlog` (tr/verify_endorsement/lib.rs): `rekor` verifies the Rekor
    v1 entry under these log keys, `c2sp` the C2SP tlog-proof under this c2sp.org/tlog-policy
    text, `pes` the PES confirmation under these PES keys; None means not populated (ignored).
    """

    strategy: TLogStrategy
    rekor: KeySet | None = None
    c2sp_policy: str | None = None
    pes: KeySet | None = None
    #: True when read from the deprecated `EndorsementReferenceValue.rekor` (no `tlog`).
    deprecated_rekor_field: bool = False

    @property
    def populated(self) -> tuple[str, ...]:
        """The receipts this policy verifies: a subset of ("rekor", "c2sp", "pes")."""
        present = (("rekor", self.rekor), ("c2sp", self.c2sp_policy), ("pes", self.pes))
        return tuple(name for name, value in present if value is not None)

    @property
    def requires_receipts(self) -> bool:
        """Whether an endorsement without a valid receipt fails this policy."""
        if self.strategy is TLogStrategy.SKIP:
            return False
        # `any` with nothing populated can never pass, so it, too, demands what cannot be had.
        return self.strategy is TLogStrategy.ANY or bool(self.populated)


@dataclass(frozen=True)
class ComponentKeys:
    """Which keys may endorse a component, under which claims, per Oak reference values."""

    component: str
    #: SubjectPublicKeyInfo DER of each accepted endorser key (ECDSA P-256).
    keys: list[bytes]
    required_claims: list[str]
    #: What transparency evidence the endorsement must carry.
    tlog: TLogPolicy

    @property
    def tlog_required(self) -> bool:
        """Whether the reference values demand transparency-log evidence for the endorsement."""
        return self.tlog.requires_receipts


# The per-component reference value messages; each has a `type` oneof with `endorsement`.
_ReferenceSlot = (
    reference_value_pb2.BinaryReferenceValue
    | reference_value_pb2.KernelBinaryReferenceValue
    | reference_value_pb2.TextReferenceValue
)


def read_reference_values(data: bytes) -> list[ComponentKeys]:
    """The endorsement-verified components of an `oak.attestation.v1.ReferenceValues` message.

    Components whose reference value is `skip`, unset, or a digest/regex check (no keys
    involved) are left out. An endorsement reference value that Oak's verifier rejects outright
    (no transparency-log policy at all, a `tlog` without a strategy) is an InputError.
    """
    values = parse_message(data, reference_value_pb2.ReferenceValues)
    found = []
    for component, reference in _reference_slots(values):
        if reference.WhichOneof("type") == "endorsement":
            found.append(_component_keys(component, reference.endorsement))
    return found


def _reference_slots(
    values: reference_value_pb2.ReferenceValues,
) -> Iterator[tuple[str, _ReferenceSlot]]:
    kind = values.WhichOneof("type")
    if kind == "oak_containers":
        containers = values.oak_containers
        yield from _root_layer_slots(containers.root_layer)
        yield from _kernel_layer_slots(containers.kernel_layer)
        yield "system_image", containers.system_layer.system_image
        yield "container_binary", containers.container_layer.binary
        yield "container_configuration", containers.container_layer.configuration
    elif kind == "oak_restricted_kernel":
        restricted = values.oak_restricted_kernel
        yield from _root_layer_slots(restricted.root_layer)
        yield from _kernel_layer_slots(restricted.kernel_layer)
        yield "application_binary", restricted.application_layer.binary
        yield "application_configuration", restricted.application_layer.configuration
    elif kind == "cb":
        yield from _root_layer_slots(values.cb.root_layer)


def _root_layer_slots(
    layer: reference_value_pb2.RootLayerReferenceValues,
) -> Iterator[tuple[str, _ReferenceSlot]]:
    # Stage0 is endorsed once per TEE platform; both name the same component.
    yield "stage0", layer.amd_sev.stage0
    yield "stage0", layer.intel_tdx.stage0


def _kernel_layer_slots(
    layer: reference_value_pb2.KernelLayerReferenceValues,
) -> Iterator[tuple[str, _ReferenceSlot]]:
    yield "kernel", layer.kernel
    yield "kernel_cmd_line", layer.kernel_cmd_line_text
    yield "init_ram_fs", layer.init_ram_fs
    yield "memory_map", layer.memory_map
    yield "acpi", layer.acpi


def _component_keys(
    component: str, reference: reference_value_pb2.EndorsementReferenceValue
) -> ComponentKeys:
    raws = [key.raw for key in reference.endorser.keys]
    if not raws and reference.endorser_public_key:
        # The deprecated field predates key sets and holds the same SPKI DER.
        raws = [reference.endorser_public_key]
    if not raws:
        raise InputError(f"reference values for {component} name no endorser key")
    for index, raw in enumerate(raws):
        _check_p256_spki(raw, f"{component} endorser key {index}")
    return ComponentKeys(
        component=component,
        keys=raws,
        required_claims=list(reference.required_claims.claim_types),
        tlog=_tlog_policy(component, reference),
    )


def _check_p256_spki(raw: bytes, what: str) -> None:
    key = _load_spki(raw, what)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise InputError(f"{what} is not an ECDSA P-256 key")


def _load_spki(raw: bytes, what: str) -> PublicKeyTypes:
    try:
        return load_der_public_key(raw)
    except (ValueError, UnsupportedAlgorithm):
        raise InputError(f"{what} is not a DER SubjectPublicKeyInfo of a known key type") from None


def _tlog_policy(
    component: str, reference: reference_value_pb2.EndorsementReferenceValue
) -> TLogPolicy:
    # tr/verify_endorsement/lib.rs `verify_endorsement`: `tlog` wins when set; otherwise the
    # deprecated `rekor` decides; with neither Oak fails ("no rekor key set").
    what = f"{component} tlog"
    if reference.HasField("tlog"):
        tlog = reference.tlog
        strategy = tlog.WhichOneof("strategy")
        if strategy is None:
            # reference_value.proto: "Must be populated - rejected if empty."
            raise InputError(f"reference values for {component}: tlog has no strategy")
        return TLogPolicy(
            strategy=TLogStrategy(strategy),
            rekor=_key_set(tlog.rekor, f"{what} rekor") if tlog.HasField("rekor") else None,
            c2sp_policy=tlog.c2sp.policy if tlog.HasField("c2sp") else None,
            pes=_key_set(tlog.pes.key_set, f"{what} pes") if tlog.HasField("pes") else None,
        )
    if reference.HasField("rekor"):
        # The deprecated form: `verify` is `tlog { all {} rekor { <keys> } }`, `skip` is skip.
        rekor = reference.rekor
        kind = rekor.WhichOneof("type")
        if kind is None:
            raise InputError(f"reference values for {component}: rekor is neither skip nor verify")
        if kind == "skip":
            return TLogPolicy(TLogStrategy.SKIP, deprecated_rekor_field=True)
        return TLogPolicy(
            TLogStrategy.ALL,
            rekor=_key_set(rekor.verify, f"{component} rekor"),
            deprecated_rekor_field=True,
        )
    raise InputError(f"reference values for {component} have neither tlog nor rekor")


def _key_set(keys: reference_value_pb2.VerifyingKeySet, what: str) -> KeySet:
    parsed = tuple(_verifying_key(key, f"{what} key {i}") for i, key in enumerate(keys.keys))
    if not keys.HasField("signed_timestamp"):
        return KeySet(parsed)
    floor = keys.signed_timestamp
    try:
        absolute = (
            floor.not_before_absolute.ToDatetime(tzinfo=UTC)
            if floor.HasField("not_before_absolute")
            else None
        )
        relative = (
            floor.not_before_relative.ToTimedelta()
            if floor.HasField("not_before_relative")
            else None
        )
    except (ValueError, OverflowError):
        raise InputError(f"{what} signed_timestamp is out of range") from None
    return KeySet(parsed, not_before=absolute, not_before_relative=relative)


_KEY_TYPES = {
    reference_value_pb2.KEY_TYPE_ECDSA_P256_SHA256: KeyType.ECDSA_P256_SHA256,
    reference_value_pb2.KEY_TYPE_RSA_SHA2_256: KeyType.RSA_SHA2_256,
}


def _verifying_key(key: reference_value_pb2.VerifyingKey, what: str) -> VerifyingKey:
    key_type = _KEY_TYPES.get(key.type)
    if key_type is None:
        # Oak cannot verify with such a key ("Undefined key type").
        raise InputError(f"{what} has no usable key type ({key.type})")
    if key_type is KeyType.ECDSA_P256_SHA256:
        _check_p256_spki(key.raw, what)
    elif not isinstance(_load_spki(key.raw, what), rsa.RSAPublicKey):
        raise InputError(f"{what} is declared RSA but is not an RSA key")
    return VerifyingKey(key_id=key.key_id, key_type=key_type, spki_der=key.raw)


# --- attachments -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FirmwareMeasurements:
    """What a stage0 FirmwareAttachment (claim 10271) says the firmware measures to."""

    #: vCPU count -> SNP launch digest (SHA-384, lowercase hex).
    launch_digests: dict[int, str]
    #: SHA-256 of the firmware ROM (lowercase hex), when the attachment carries it.
    rom_sha256: str | None
    #: Intel TDX MRTD of the firmware (SHA-384, lowercase hex), when the attachment carries it.
    tdx_measurement: str | None = None


@dataclass(frozen=True)
class KernelMeasurements:
    """What a KernelAttachment (claim 98982) says the bzImage measures to (lowercase hex)."""

    image_sha256: str
    setup_data_sha256: str


_HEX = re.compile(r"[0-9a-fA-F]*")


def parse_firmware_attachment(data: bytes) -> FirmwareMeasurements:
    """The SNP launch digests, TDX measurement and ROM digest of a `FirmwareAttachment`.

    attachment.proto: at least one of `configs` (AMD SEV-SNP) and `tdx_measurement` is set.
    An attachment is read in binary only, as Oak's verifier decodes it (prost): the statement
    names the digest of the serialized message, and text that Oak cannot decode endorses
    nothing Oak would accept.
    """
    attachment = parse_binary_message(data, attachment_pb2.FirmwareAttachment)
    if not attachment.configs and not attachment.HasField("tdx_measurement"):
        raise InputError(
            "FirmwareAttachment has no launch digest (configs is empty) and no tdx_measurement"
        )
    digests = {}
    for vcpus, digest in sorted(attachment.configs.items()):
        if vcpus < 1:
            raise InputError(f"FirmwareAttachment has a launch digest for {vcpus} vCPUs")
        digests[vcpus] = _hex(digest, "sha2_384", 48, f"FirmwareAttachment {vcpus}-vCPU")
    rom = None
    if attachment.HasField("binary"):
        rom = _hex(attachment.binary, "sha2_256", 32, "FirmwareAttachment binary")
    tdx = None
    if attachment.HasField("tdx_measurement"):
        tdx = _hex(attachment.tdx_measurement, "sha2_384", 48, "FirmwareAttachment tdx_measurement")
    return FirmwareMeasurements(launch_digests=digests, rom_sha256=rom, tdx_measurement=tdx)


def parse_kernel_attachment(data: bytes) -> KernelMeasurements:
    """The kernel image and setup data digests of a serialized `KernelAttachment` (binary only,
    as `parse_firmware_attachment`)."""
    attachment = parse_binary_message(data, attachment_pb2.KernelAttachment)
    return KernelMeasurements(
        image_sha256=_hex(attachment.image, "sha2_256", 32, "KernelAttachment image"),
        setup_data_sha256=_hex(
            attachment.setup_data, "sha2_256", 32, "KernelAttachment setup_data"
        ),
    )


def _hex(digest: digest_pb2.HexDigest, algorithm: str, size: int, what: str) -> str:
    value: str = getattr(digest, algorithm)
    if not value:
        raise InputError(f"{what} digest has no {algorithm}")
    if len(value) != 2 * size or not _HEX.fullmatch(value):
        raise InputError(f"{what} {algorithm} is not {size} bytes of hex: {value[:100]!r}")
    return value.lower()
