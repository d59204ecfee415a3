"""The Oak Restricted Kernel release: its real Rekor entries and the shipped release keys.

Data: tests/data/oak-rk/ (see its PROVENANCE.md), keys: reference_values/keys/
oak_restricted_kernel_release.toml. The first tests also prove the data was copied exactly:
a wrong byte anywhere in a statement, signature, entry, certificate or subject fails them.
"""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from auditor.keyset import load_key_sources, reference_values_dir
from auditor.oak.messages import ComponentEndorsement, parse_message, read_endorsements
from auditor.oak.proto.attestation import endorsement_pb2
from auditor.source.rekor_v1 import parse_entry_document
from auditor.verify.check_names import CHECK_NAMES
from auditor.verify.entry import EndorsementMaterial, verify_entry
from auditor.verify.keys import PublicKey, load_public_key, load_public_key_b64
from auditor.verify.trust import production_keyring
from tests.cli_runner import RunAudit

DATA = Path(__file__).resolve().parents[1] / "data"
RK = DATA / "oak-rk"
ENDORSEMENTS = RK / "milan_rk_release_endorsements.textproto"
RK_KEYS = reference_values_dir() / "keys" / "oak_restricted_kernel_release.toml"
CONTAINERS_KEYS = reference_values_dir() / "keys" / "oak_containers_release.toml"
# The key of DOMAIN.md's single-entry-2024: Oak's transparent-release development key.
DEVELOPMENT_KEY = DATA / "oak" / "single-entry-2024" / "endorser_public_key.pem"

LOGGED = ("stage0", "kernel", "kernel_cmd_line", "init_ram_fs")


def _endorsements() -> dict[str, ComponentEndorsement]:
    found = read_endorsements(ENDORSEMENTS.read_bytes())
    by_name = {e.component: e for e in found}
    assert len(by_name) == len(found), "a component appears twice"
    return by_name


def _rekor_body_key(endorsement: ComponentEndorsement) -> PublicKey:
    assert endorsement.rekor_log_entry is not None
    ((_, entry),) = json.loads(endorsement.rekor_log_entry).items()
    body = json.loads(base64.b64decode(entry["body"]))
    return load_public_key_b64(body["spec"]["signature"]["publicKey"]["content"])


def test_the_release_has_four_logged_components_and_an_unlogged_application() -> None:
    endorsements = _endorsements()
    assert list(endorsements) == [*LOGGED, "application_binary"]
    assert [c for c, e in endorsements.items() if e.rekor_log_entry] == list(LOGGED)


@pytest.mark.parametrize("component", LOGGED)
def test_every_rekor_entry_verifies_on_every_check(component: str) -> None:
    endorsement = _endorsements()[component]
    assert endorsement.rekor_log_entry is not None
    entry = parse_entry_document(json.loads(endorsement.rekor_log_entry), source=component)
    material = EndorsementMaterial(
        artifact=endorsement.statement,
        signature=endorsement.signature,
        subject=endorsement.subject,
        endorser_keys=load_key_sources([RK_KEYS]).keys_for(component),
    )
    verification = verify_entry(entry, production_keyring(), material)

    assert [c.name for c in verification.checks] == list(CHECK_NAMES)
    not_passed = {c.name: c.detail for c in verification.checks if c.ok is not True}
    # The initrd's subject is the file itself: no inline subject travels with it.
    assert set(not_passed) == ({"subject"} if endorsement.subject is None else set()), not_passed
    assert verification.check("validity").detail.startswith("integratedTime ")
    assert verification.ok


def test_shipped_keys_are_exactly_the_rekor_body_keys() -> None:
    shipped = load_key_sources([RK_KEYS])
    assert set(shipped.components) == set(LOGGED)
    for component, endorsement in _endorsements().items():
        if endorsement.rekor_log_entry is None:
            continue
        shipped_der = {key.spki_der for key in shipped.keys_for(component)}
        assert shipped_der == {_rekor_body_key(endorsement).spki_der}, component


def test_required_claims_are_the_statement_claims() -> None:
    tables = tomllib.loads(RK_KEYS.read_text())["components"]
    for component in LOGGED:
        statement = json.loads(_endorsements()[component].statement)
        claims = sorted(claim["type"] for claim in statement["predicate"]["claims"])
        assert tables[component]["required_claims"] == claims, component


def test_only_stage0_shares_its_key_with_the_containers_release() -> None:
    rk = load_key_sources([RK_KEYS])
    containers = load_key_sources([CONTAINERS_KEYS])
    shared = [c for c in LOGGED if set(rk.keys_for(c)) & set(containers.keys_for(c))]
    assert shared == ["stage0"]
    rk_keys = {key for _, key in rk.all_keys()}
    assert not rk_keys & {key for c, key in containers.all_keys() if c != "stage0"}


def test_audit_import_exits_0_with_the_shipped_rk_keys(audit: RunAudit, db_url: str) -> None:
    result = audit("import", "--json", "--keys", str(RK_KEYS), str(ENDORSEMENTS))
    assert result.exit_code == 0, result.stderr
    checks = {item["component"]: {c["name"]: c["ok"] for c in item["checks"]}
              for item in json.loads(result.stdout)["imported"]}
    for component in LOGGED:
        assert checks[component]["endorser_key"] is True, component


def test_audit_import_fails_under_the_default_containers_keys(audit: RunAudit, db_url: str) -> None:
    # The default key set is the Containers deployment's: it pins other kernel, cmdline and
    # initrd keys, so the RK entries' signers are unpinned there. One deployment's key must
    # never vouch for another's component.
    result = audit("import", str(ENDORSEMENTS))
    assert result.exit_code == 1
    for component in ("kernel", "kernel_cmd_line", "init_ram_fs"):
        assert f"#{component}: endorser_key" in result.stderr


def test_the_application_is_signed_by_the_development_key_and_not_logged() -> None:
    application = _endorsements()["application_binary"]
    assert application.rekor_log_entry is None
    assert load_public_key(DEVELOPMENT_KEY.read_bytes()).verify(
        application.signature, application.statement)
    assert json.loads(application.statement)["subject"][0]["name"] == "oak_echo_enclave_app"


# AMD issues VCEKs with serial number 0, which cryptography warns about (RFC 5280 §4.1.2.2).
@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
def test_the_vcek_certificate_is_signed_by_amd_ask_milan() -> None:
    message = parse_message(ENDORSEMENTS.read_bytes(), endorsement_pb2.Endorsements)
    vcek = x509.load_der_x509_certificate(message.oak_restricted_kernel.root_layer.tee_certificate)
    ask = x509.load_pem_x509_certificate((RK / "ask_milan.pem").read_bytes())
    ask_key = ask.public_key()
    assert isinstance(ask_key, rsa.RSAPublicKey)
    assert vcek.issuer == ask.subject
    # AMD SEV-SNP ABI: VCEKs are signed RSASSA-PSS, SHA-384, 48-byte salt (raises if not).
    ask_key.verify(vcek.signature, vcek.tbs_certificate_bytes,
                   padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48),
                   hashes.SHA384())


def test_the_variants_repeat_the_layered_endorsements_exactly() -> None:
    message = parse_message(ENDORSEMENTS.read_bytes(), endorsement_pb2.Endorsements)
    layered = message.oak_restricted_kernel
    platform = endorsement_pb2.AmdSevSnpEndorsement.FromString(message.platform.value)
    assert platform.tee_certificate == layered.root_layer.tee_certificate
    initial = endorsement_pb2.FirmwareEndorsement.FromString(message.initial.value)
    kernel = endorsement_pb2.KernelEndorsement.FromString(message.events[0].value)
    application = endorsement_pb2.ApplicationEndorsement.FromString(message.events[1].value)
    pairs = [
        (initial.firmware, layered.root_layer.stage0),
        (kernel.kernel, layered.kernel_layer.kernel),
        (kernel.kernel_cmd_line, layered.kernel_layer.kernel_cmd_line),
        (kernel.init_ram_fs, layered.kernel_layer.init_ram_fs),
        (application.binary, layered.application_layer.binary),
    ]
    for signed, release in pairs:
        assert signed.endorsement.serialized == release.endorsement
        assert signed.endorsement.subject == release.subject
        assert signed.signature.raw == release.endorsement_signature
        assert signed.rekor_log_entry == release.rekor_log_entry
