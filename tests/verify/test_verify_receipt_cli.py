"""`audit verify-entry` on a C2SP tlog-proof and on a PES confirmation, through the CLI.

Oak's vectors verify: `tests/data/oak/c2sp/test.tlog-proof` under the keys and policy of Oak's
tr/c2sp/lib.rs tests, `tests/data/oak/pes/tr_pes/pes_confirmation.json` under its own `CN=PES`
certificate, and the parts of `oak_attestation_verification/testdata/pes` under the PES root
(tests/data/PROVENANCE.md). Each tampering fails, naming its check, with exit 1; what cannot be
read is exit 2.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
    load_pem_public_key,
)

from auditor.oak.proto.google.pes.v1 import endorsement_pb2 as pes_pb2
from testlog.synthetic import Endorser
from testlog.tlog_proof import Cosigner, LogSigner
from tests.cli_runner import RunAudit
from tests.oakdata import OAK, RELEASE
from tests.receipts import Pes, Publisher, TiledLog

OAK_PROOF = (OAK / "c2sp" / "test.tlog-proof").read_bytes()
# Oak tr/c2sp/lib.rs tests (TEST_MAIN_VKEY, TEST_WITNESS_VKEY, TEST_ENTRY).
OAK_LOG_VKEY = "fake.log.origin/log+527eabb8+AddT9PtBhhNAsDYZ0V0euiRbXuvrLsw4L6vKARfipnmz"
OAK_WITNESS_VKEY = "test-witness+26349ef0+BIQDFTUlktisMqJzWn8qhteWrRr4dLcQ9R37T+8LQyQF"
OAK_POLICY = f"log {OAK_LOG_VKEY}\nwitness w1 {OAK_WITNESS_VKEY}\nquorum w1\n"
OAK_ENTRY = b"test entry data"
TR_PES = OAK / "pes" / "tr_pes" / "pes_confirmation.json"
OAV = OAK / "pes" / "oak_attestation_verification"


def write(directory: Path, name: str, data: bytes | str) -> str:
    path = directory / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def verify(audit: RunAudit, *args: str) -> tuple[int, dict[str, Any]]:
    result = audit("verify-entry", *args, "--json")
    assert "Traceback" not in result.stderr
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}


def outcomes(document: dict[str, Any]) -> dict[str, bool | None]:
    return {check["name"]: check["ok"] for check in document["checks"]}


def failed(document: dict[str, Any]) -> list[str]:
    return [check["name"] for check in document["checks"] if check["ok"] is False]


def detail(document: dict[str, Any], name: str) -> str:
    return next(str(c["detail"]) for c in document["checks"] if c["name"] == name)


# --- C2SP tlog-proof ------------------------------------------------------------------------


def oak_proof(audit: RunAudit, tmp_path: Path, proof: bytes = OAK_PROOF,
              policy: str = OAK_POLICY, entry: bytes = OAK_ENTRY,
              name: str = "test.tlog-proof") -> tuple[int, dict[str, Any]]:
    return verify(audit, write(tmp_path, name, proof), "--artifact",
                  write(tmp_path, "entry", entry), "--tlog-policy",
                  write(tmp_path, "policy", policy))


def test_oaks_tlog_proof_vector_verifies(audit: RunAudit, tmp_path: Path) -> None:
    code, document = oak_proof(audit, tmp_path)
    assert code == 0 and document["ok"] is True
    checks = outcomes(document)
    assert [checks[n] for n in ("tlog_proof", "tlog_checkpoint", "witness_quorum")] == [True] * 3
    assert document["receipt"] == {
        "kind": "c2sp-tlog-proof", "origin": "fake.log.origin/log", "tree_size": 4, "index": 3,
        "root_hash": "08fbfd847d12853ea4fd653d4197a1d5b57b6d87943a4ae706e08b0901bd1a01",
        "extra": False, "signatures": ["fake.log.origin/log", "test-witness"]}
    # The bytes are no Oak statement, and no signature was given: said, not failed.
    assert checks["statement"] is None and checks["endorsement_signature"] is None


def test_the_kind_is_recognised_by_content_not_name(audit: RunAudit, tmp_path: Path) -> None:
    assert oak_proof(audit, tmp_path, name="receipt.json")[0] == 0


def _oak_replace(old: bytes, new: bytes) -> bytes:
    assert OAK_PROOF.count(old) == 1
    return OAK_PROOF.replace(old, new)


def _flip_signature(line_from_end: int) -> bytes:
    line = OAK_PROOF.split(b"\n")[-line_from_end]
    name, encoded = line.rsplit(b" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[10] ^= 1
    return _oak_replace(line, name + b" " + base64.b64encode(bytes(blob)))


OTHER_WITNESS = Cosigner("test-witness")


@pytest.mark.parametrize(
    ("proof", "policy", "check", "phrase"),
    [
        (_oak_replace(b"index 3\n", b"index 2\n"), OAK_POLICY, "tlog_proof",
         "inclusion proof does not verify"),
        (_oak_replace(b"JBLYbBgEHNZMP9yBly3cVyFLQPqn+z0YdjoHdksDJeY=",
                      base64.b64encode(bytes(32))), OAK_POLICY, "tlog_proof", "yields root"),
        (_flip_signature(3), OAK_POLICY, "tlog_checkpoint",
         "signature by fake.log.origin/log (key hint 527eabb8) does not verify"),
        (_oak_replace(OAK_PROOF.split(b"\n")[-2] + b"\n", b""), OAK_POLICY, "witness_quorum",
         "no cosignature from test-witness+26349ef0"),
        (OAK_PROOF, OAK_POLICY.replace(OAK_WITNESS_VKEY, OTHER_WITNESS.vkey), "witness_quorum",
         f"no cosignature from test-witness+{OTHER_WITNESS.key_id.hex()}"),
        (OAK_PROOF, OAK_POLICY.replace(OAK_LOG_VKEY, LogSigner("fake.log.origin/log").vkey),
         "tlog_checkpoint", "no signature line from a known key"),
    ],
    ids=["index", "proof-hash", "checkpoint-signature", "missing-cosignature",
         "wrong-witness-key", "wrong-log-key"],
)
def test_a_tampered_tlog_proof_fails_naming_its_check(
        audit: RunAudit, tmp_path: Path, proof: bytes, policy: str, check: str,
        phrase: str) -> None:
    code, document = oak_proof(audit, tmp_path, proof, policy)
    assert code == 1 and document["ok"] is False
    assert failed(document) == [check]
    assert phrase in detail(document, check)


def test_a_bad_cosignature_by_the_policy_witness_rejects_the_checkpoint(
        audit: RunAudit, tmp_path: Path) -> None:
    # signed-note: a known key's signature that does not verify rejects the whole note.
    code, document = oak_proof(audit, tmp_path, _flip_signature(2), OAK_POLICY)
    assert code == 1 and failed(document) == ["tlog_checkpoint", "witness_quorum"]
    assert detail(document, "tlog_checkpoint").startswith(
        "checkpoint rejected: a known witness's cosignature does not verify (witness w1: bad "
        "cosignature by test-witness")


def test_another_statement_fails_tlog_proof(audit: RunAudit, tmp_path: Path) -> None:
    code, document = oak_proof(audit, tmp_path, entry=b"test entry datA")
    assert code == 1 and failed(document) == ["tlog_proof"]


PUBLISHER = Publisher()
LOG = TiledLog()


def extra_proof(audit: RunAudit, tmp_path: Path, statement: bytes, pinned: Endorser,
                signer: Endorser = PUBLISHER.endorser) -> tuple[int, dict[str, Any]]:
    proof = LOG.proof(PUBLISHER.endorse("system_image", b"image").statement, extra_for=signer)
    return verify(audit, write(tmp_path, "p.tlog-proof", proof),
                  "--artifact", write(tmp_path, "statement.json", statement),
                  "--endorser-key", write(tmp_path, "endorser.pem", pinned.public_pem),
                  "--tlog-policy", write(tmp_path, "policy", LOG.policy))


def test_extra_binds_statement_and_endorser_key(audit: RunAudit, tmp_path: Path) -> None:
    statement = PUBLISHER.endorse("system_image", b"image").statement
    code, document = extra_proof(audit, tmp_path, statement, PUBLISHER.endorser)
    assert code == 0, document
    checks = outcomes(document)
    # The HashedRekord's signature is the endorsement signature, under the pinned key.
    assert checks["endorser_key"] is True and checks["endorsement_signature"] is True
    assert checks["statement"] is True and checks["tlog_proof"] is True
    assert document["receipt"]["extra"] is True


def test_extra_for_another_statement_fails_tlog_proof(audit: RunAudit, tmp_path: Path) -> None:
    other = PUBLISHER.endorse("system_image", b"another image").statement
    code, document = extra_proof(audit, tmp_path, other, PUBLISHER.endorser)
    assert code == 1 and "tlog_proof" in failed(document)
    assert "but sha256(statement) is" in detail(document, "tlog_proof")


def test_extra_by_a_key_that_is_not_pinned_fails(audit: RunAudit, tmp_path: Path) -> None:
    statement = PUBLISHER.endorse("system_image", b"image").statement
    stranger = Endorser("stranger")
    code, document = extra_proof(audit, tmp_path, statement, PUBLISHER.endorser, stranger)
    assert code == 1
    assert "which is not an endorser key" in detail(document, "tlog_proof")
    # The statement bytes are the same, but the HashedRekord's signature is the stranger's.
    assert "tlog_proof" in failed(document) and "endorser_key" in failed(document)


def test_unreadable_proofs_and_missing_trust_exit_2(audit: RunAudit, tmp_path: Path) -> None:
    garbage = write(tmp_path, "garbage.tlog-proof", b"not a proof\n")
    entry = write(tmp_path, "entry", OAK_ENTRY)
    policy = write(tmp_path, "policy", OAK_POLICY)
    result = audit("verify-entry", garbage, "--artifact", entry, "--tlog-policy", policy)
    assert result.exit_code == 2 and "garbage.tlog-proof: tlog-proof does not start" in (
        result.stderr)
    proof = write(tmp_path, "t.tlog-proof", OAK_PROOF)
    result = audit("verify-entry", proof, "--artifact", entry)
    assert result.exit_code == 2 and "give --tlog-policy FILE" in result.stderr
    result = audit("verify-entry", proof, "--tlog-policy", policy)
    assert result.exit_code == 2 and "give --artifact STATEMENT" in result.stderr
    bad_policy = write(tmp_path, "bad-policy", "quorum w1\n")
    result = audit("verify-entry", proof, "--artifact", entry, "--tlog-policy", bad_policy)
    assert result.exit_code == 2 and "bad-policy" in result.stderr
    entry_json = str(RELEASE / "components" / "kernel" / "logentry.json")
    result = audit("verify-entry", entry_json, "--tlog-policy", policy)
    assert result.exit_code == 2 and "apply to a tlog-proof or PES confirmation" in result.stderr


# --- PES confirmation -----------------------------------------------------------------------


def _der_to_pem_key(der: bytes) -> bytes:
    return load_der_public_key(der).public_bytes(Encoding.PEM,
                                                 PublicFormat.SubjectPublicKeyInfo)


def tr_pes_parts(tmp_path: Path) -> dict[str, str]:
    """The statement, PES certificate and endorser key of Oak's tr/pes confirmation."""
    document = json.loads(TR_PES.read_bytes())
    pes = document["endorsementSignatures"][0]["verificationMaterial"]["x509Certificate"]
    certificate = x509.load_der_x509_certificate(base64.b64decode(pes["derBytes"]))
    endorser = document["statementSignature"]["verificationMaterial"]["ecdsaP256Sha256"]
    return {
        "statement": write(tmp_path, "statement.json",
                           base64.b64decode(document["statement"]["serialized"])),
        "pes": write(tmp_path, "pes.pem", certificate.public_bytes(Encoding.PEM)),
        "endorser": write(tmp_path, "endorser.pem",
                          _der_to_pem_key(base64.b64decode(endorser["derBytes"]))),
    }


def test_oaks_tr_pes_confirmation_verifies(audit: RunAudit, tmp_path: Path) -> None:
    parts = tr_pes_parts(tmp_path)
    code, document = verify(audit, str(TR_PES), "--artifact", parts["statement"],
                            "--pes-key", parts["pes"], "--endorser-key", parts["endorser"],
                            "--at", "2026-06-01T00:00:00Z")
    assert code == 0, document
    checks = outcomes(document)
    assert checks["pes_confirmation"] is True
    # The endorser signature the confirmation carries is checked as the endorsement's.
    assert checks["endorser_key"] is True and checks["endorsement_signature"] is True
    assert checks["statement"] is True and checks["validity"] is True
    assert document["receipt"]["entry_id"].startswith("entries/1b71272824ca62894647e6c0")


def test_the_unsigned_name_of_a_confirmation_is_never_shown_as_verified(
        audit: RunAudit, tmp_path: Path) -> None:
    # PES signs no name: renamed, the confirmation still verifies, and the detail said
    # "PES confirmation endorsements/<whatever> verifies".
    parts = tr_pes_parts(tmp_path)
    renamed = write(tmp_path, "renamed.json", _tampered(["name"], "endorsements/forged"))
    code, document = verify(audit, renamed, "--artifact", parts["statement"],
                            "--pes-key", parts["pes"], "--endorser-key", parts["endorser"],
                            "--at", "2026-06-01T00:00:00Z")
    assert code == 0 and outcomes(document)["pes_confirmation"] is True
    text = detail(document, "pes_confirmation")
    assert text.startswith("PES confirmation verifies under PES key id 0; logged as entries/")
    assert text.endswith("(its name, endorsements/forged, is not signed)")


def oav_confirmation(tmp_path: Path) -> str:
    """Oak's oak_attestation_verification/testdata/pes parts, assembled into the JSON form as
    Oak's EndorsementData::load_for_pes_verification assembles them."""
    receipt = pes_pb2.TLogReceipt.FromString((OAV / "tlog_receipt.binarypb").read_bytes())
    endorser_der = load_pem_public_key((OAV / "endorser_public_key.pem").read_bytes()).public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    document = {
        "name": "endorsements/oav",
        "statement": {"serialized": base64.b64encode((OAV / "endorsement.json").read_bytes())
                      .decode(), "format": "JSON_INTOTO"},
        "statementSignature": {
            "signature": base64.b64encode((OAV / "endorser_signature.sig").read_bytes()).decode(),
            "verificationMaterial": {"ecdsaP256Sha256": {
                "derBytes": base64.b64encode(endorser_der).decode()}},
        },
        "endorsementSignatures": [{
            "signature": base64.b64encode(bytes.fromhex(
                (OAV / "pes_signature.hex").read_text().strip())).decode(),
            "verificationMaterial": {"x509Certificate": {"derBytes": base64.b64encode(
                (OAV / "pes_root_cert.der").read_bytes()).decode()}},
        }],
        "tlogReceipt": {"entryId": receipt.entry_id},
    }
    return write(tmp_path, "confirmation.txt", json.dumps(document))


def test_oaks_oak_attestation_verification_vector_verifies_under_its_root(
        audit: RunAudit, tmp_path: Path) -> None:
    root = str(OAV / "pes_root_cert.der")
    code, document = verify(audit, oav_confirmation(tmp_path),
                            "--artifact", str(OAV / "endorsement.json"),
                            "--pes-key", root, "--pes-root", root,
                            "--endorser-key", str(OAV / "endorser_public_key.pem"))
    assert code == 0, document
    assert outcomes(document)["pes_confirmation"] is True


def _tampered(field_path: list[str], value: object) -> bytes:
    document = json.loads(TR_PES.read_bytes())
    target = document
    for key in field_path[:-1]:
        target = target[key] if not key.isdigit() else target[int(key)]
    target[field_path[-1]] = value
    return json.dumps(document).encode()


def _flip_b64(text: str, index: int = 20) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[index] ^= 1
    return base64.b64encode(bytes(raw)).decode()


TR_PES_DOCUMENT = json.loads(TR_PES.read_bytes())


@pytest.mark.parametrize(
    ("confirmation", "phrase"),
    [
        (_tampered(["tlogReceipt", "entryId"], "entries/other"),
         "the PES signature does not verify"),
        (_tampered(["endorsementSignatures", "0", "signature"],
                   _flip_b64(TR_PES_DOCUMENT["endorsementSignatures"][0]["signature"])),
         "the PES signature does not verify"),
        (_tampered(["statement", "serialized"], base64.b64encode(b"{}").decode()),
         "the confirmation is for another statement"),
    ],
    ids=["entry-id", "pes-signature", "statement"],
)
def test_a_tampered_pes_confirmation_fails_pes_confirmation(
        audit: RunAudit, tmp_path: Path, confirmation: bytes, phrase: str) -> None:
    parts = tr_pes_parts(tmp_path)
    code, document = verify(audit, write(tmp_path, "c.json", confirmation), "--artifact",
                            parts["statement"], "--pes-key", parts["pes"],
                            "--endorser-key", parts["endorser"])
    assert code == 1 and "pes_confirmation" in failed(document)
    assert phrase in detail(document, "pes_confirmation")


def test_a_wrong_endorser_key_fails_pes_confirmation(audit: RunAudit, tmp_path: Path) -> None:
    parts = tr_pes_parts(tmp_path)
    other = write(tmp_path, "other.pem", Endorser("other").public_pem)
    code, document = verify(audit, str(TR_PES), "--artifact", parts["statement"],
                            "--pes-key", parts["pes"], "--endorser-key", other)
    assert code == 1 and failed(document) == ["endorser_key", "pes_confirmation"]
    assert "is not the pinned endorser key" in detail(document, "pes_confirmation")


def test_a_wrong_pes_key_fails_pes_confirmation(audit: RunAudit, tmp_path: Path) -> None:
    parts = tr_pes_parts(tmp_path)
    code, document = verify(audit, str(TR_PES), "--artifact", parts["statement"],
                            "--pes-key", write(tmp_path, "pes2.pem", Pes().pem),
                            "--endorser-key", parts["endorser"])
    assert code == 1 and failed(document) == ["pes_confirmation"]
    assert "is not in the configured PES key set" in detail(document, "pes_confirmation")


def test_a_pes_certificate_outside_the_roots_fails(audit: RunAudit, tmp_path: Path) -> None:
    parts = tr_pes_parts(tmp_path)
    code, document = verify(audit, str(TR_PES), "--artifact", parts["statement"],
                            "--pes-key", parts["pes"], "--endorser-key", parts["endorser"],
                            "--pes-root", str(OAV / "pes_root_cert.der"))
    assert code == 1 and failed(document) == ["pes_confirmation"]
    assert "is neither a configured PES root nor issued by one" in detail(
        document, "pes_confirmation")


def test_unreadable_confirmations_and_missing_keys_exit_2(audit: RunAudit,
                                                          tmp_path: Path) -> None:
    parts = tr_pes_parts(tmp_path)
    broken = write(tmp_path, "broken.json", _tampered(["tlogReceipt"], {}))
    result = audit("verify-entry", broken, "--artifact", parts["statement"],
                   "--pes-key", parts["pes"])
    assert result.exit_code == 2 and "broken.json" in result.stderr
    assert "no tlogReceipt.entryId" in result.stderr
    result = audit("verify-entry", str(TR_PES), "--artifact", parts["statement"])
    assert result.exit_code == 2 and "give --pes-key PEM_OR_CERT" in result.stderr
    policy = write(tmp_path, "policy", OAK_POLICY)
    result = audit("verify-entry", str(TR_PES), "--artifact", parts["statement"],
                   "--pes-key", parts["pes"], "--tlog-policy", policy)
    assert result.exit_code == 2 and "--tlog-policy applies to a tlog-proof" in result.stderr


def test_human_output_names_the_receipt_and_the_verdict(audit: RunAudit, tmp_path: Path) -> None:
    proof = write(tmp_path, "t.tlog-proof", OAK_PROOF)
    result = audit("verify-entry", proof, "--artifact", write(tmp_path, "e", OAK_ENTRY),
                   "--tlog-policy", write(tmp_path, "p", OAK_POLICY))
    assert result.exit_code == 0 and result.stdout == ""
    assert "C2SP tlog-proof · fake.log.origin/log · index 3 of 4" in result.stderr
    assert "verified the C2SP tlog-proof; not checked: endorser_key (no signature given" in (
        result.stderr)


@pytest.mark.parametrize(("damage", "said"), [
    (lambda text: text[:300], "not valid JSON"),
    (lambda text: text.rstrip()[:-1] + ', "name": "endorsements/x"}', "duplicate JSON key 'name'"),
])
def test_a_confirmation_that_is_not_json_is_refused_for_that(
        audit: RunAudit, tmp_path: Path, damage: Any, said: str) -> None:
    """A cut confirmation, or one with a key twice, was called 'a log entry or bundle' to
    which --pes-key does not apply."""
    parts = tr_pes_parts(tmp_path)
    broken = write(tmp_path, "broken.json", damage(TR_PES.read_text()))
    result = audit("verify-entry", broken, "--artifact", parts["statement"],
                   "--pes-key", parts["pes"])
    assert result.exit_code == 2 and said in result.stderr
    assert "log entry or bundle" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_confirmation_under_its_proto_field_names_is_recognised(audit: RunAudit,
                                                                  tmp_path: Path) -> None:
    """Protobuf JSON parsers take a field's proto name too (statement_signature); such a
    confirmation parses, but was not recognised as one and was refused as a log entry."""
    parts = tr_pes_parts(tmp_path)
    text = TR_PES.read_text()
    for json_name, proto_name in (("statementSignature", "statement_signature"),
                                  ("endorsementSignatures", "endorsement_signatures"),
                                  ("tlogReceipt", "tlog_receipt")):
        text = text.replace(f'"{json_name}"', f'"{proto_name}"')
    code, document = verify(audit, write(tmp_path, "snake.json", text), "--artifact",
                            parts["statement"], "--pes-key", parts["pes"], "--key",
                            parts["endorser"], "--at", "2026-06-01T00:00:00Z")
    assert code == 0 and outcomes(document)["pes_confirmation"] is True


# --- what the terminal shows of a receipt's hostile text --------------------------------------

#: An ANSI sequence, a bidi override, a one-byte CSI, and a newline starting a verdict of the
#: attacker's.
FORGING = "EVIL\x1b[31mRED \u202eRLO\nFORGED: verified: all applicable checks pass\x9b31m"


def _no_forged_line(stderr: str) -> list[str]:
    assert "\x1b" not in stderr and "\u202e" not in stderr and "\x9b" not in stderr, stderr
    assert "\\x0aFORGED: verified" in stderr, stderr  # the value is shown, escaped
    return [line for line in stderr.splitlines() if line.lstrip().startswith("FORGED")]


def test_a_statement_s_hostile_predicate_type_stays_on_the_verdict_s_line(
        audit: RunAudit, tmp_path: Path) -> None:
    """The verdict after the table names each check not done with its reason, which quotes
    the statement's predicate type: it was printed raw, escape sequences and newline alike."""
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1",
                            "predicateType": "https://evil.example/" + FORGING,
                            "subject": [{"name": "x", "digest": {"sha256": "ab" * 32}}],
                            "predicate": {}}).encode()
    proof = LOG.proof(statement, extra_for=PUBLISHER.endorser)
    result = audit("verify-entry", write(tmp_path, "p.tlog-proof", proof),
                   "--artifact", write(tmp_path, "statement.json", statement),
                   "--endorser-key", write(tmp_path, "endorser.pem", PUBLISHER.endorser.public_pem),
                   "--tlog-policy", write(tmp_path, "policy", LOG.policy))
    assert result.exit_code == 0, result.stderr
    (verdict,) = [line for line in result.stderr.splitlines() if line.startswith("verified ")]
    assert "not checked: statement (an in-toto statement with predicate" in verdict
    assert _no_forged_line(result.stderr) == []


def test_a_confirmation_s_hostile_name_stays_on_the_table_title_s_line(
        audit: RunAudit, tmp_path: Path) -> None:
    """PES signs neither the confirmation's name nor shows it verified, but the table's title
    names it: printed with its newline, it drew a line of the attacker's above the table."""
    parts = tr_pes_parts(tmp_path)
    renamed = write(tmp_path, "renamed.json", _tampered(["name"], "endorsements/" + FORGING))
    result = audit("verify-entry", renamed, "--artifact", parts["statement"],
                   "--pes-key", parts["pes"], "--endorser-key", parts["endorser"],
                   "--at", "2026-06-01T00:00:00Z")
    assert result.exit_code == 0, result.stderr
    assert "PES confirmation endorsements/EVIL\\x1b[31mRED" in result.stderr
    assert _no_forged_line(result.stderr) == []
