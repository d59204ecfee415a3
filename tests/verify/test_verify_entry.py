"""End-to-end verification of the real Oak entries, and one tamper per check."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from auditor.source.rekor_v1 import parse_entry_document
from auditor.verify.check_names import CHECK_NAMES
from auditor.verify.entry import EndorsementMaterial, Verification, verify_entry
from auditor.verify.keys import PublicKey, load_public_key
from auditor.verify.trust import LogKeyring, load_keyring, production_keyring
from tests.oakdata import REKOR_KEY, RELEASE, SINGLE, real_entry_dirs

Document = dict[str, Any]


def pinned_keyring() -> LogKeyring:
    return load_keyring([REKOR_KEY], None)


def material_for(directory: Path, **changes: Any) -> EndorsementMaterial:
    subject = directory / "subject.bin"
    fields: dict[str, Any] = {
        "artifact": (directory / "endorsement.json").read_bytes(),
        "signature": (directory / "endorsement.json.sig").read_bytes(),
        "subject": subject.read_bytes() if subject.exists() else None,
        "endorser_keys": (load_public_key((directory / "endorser_public_key.pem").read_bytes()),),
    }
    fields.update(changes)
    return EndorsementMaterial(**fields)


def verify_document(document: Document, directory: Path, keyring: LogKeyring | None = None,
                    **changes: Any) -> Verification:
    entry = parse_entry_document(document, source="test")
    return verify_entry(entry, keyring or pinned_keyring(), material_for(directory, **changes))


def load(directory: Path) -> Document:
    document: Document = json.loads((directory / "logentry.json").read_bytes())
    return document


def inner(document: Document) -> Document:
    (value,) = document.values()
    result: Document = value
    return result


@pytest.mark.parametrize("directory", real_entry_dirs(), ids=lambda p: p.parent.name + "/" + p.name)
@pytest.mark.parametrize("keyring", [pinned_keyring, production_keyring], ids=["pem", "trustroot"])
def test_every_real_entry_verifies_on_every_check(directory: Path,
                                                  keyring: Callable[[], LogKeyring]) -> None:
    verification = verify_document(load(directory), directory, keyring())
    assert [c.name for c in verification.checks] == list(CHECK_NAMES)
    not_passed = {c.name: c.detail for c in verification.checks if c.ok is not True}
    # Where the subject is the file itself (initrd, system image) no inline subject travels.
    expected_skips = set() if (directory / "subject.bin").exists() else {"subject"}
    assert set(not_passed) == expected_skips, not_passed
    assert verification.ok


def _flip_proof_hash(d: Document) -> None:
    proof = inner(d)["verification"]["inclusionProof"]
    first = bytearray(bytes.fromhex(proof["hashes"][0]))
    first[0] ^= 1
    proof["hashes"][0] = first.hex()


def _change_integrated_time(d: Document) -> None:
    inner(d)["integratedTime"] += 1


def _capitalise_log_id(d: Document) -> None:
    # The same 32 bytes, but not the text the SET signed: it verified over the lower case.
    inner(d)["logID"] = inner(d)["logID"].upper()


def _swap_body_key(d: Document) -> None:
    body = json.loads(base64.b64decode(inner(d)["body"]))
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = PublicKey.from_crypto(other).to_pem().encode()
    body["spec"]["signature"]["publicKey"]["content"] = base64.b64encode(pem).decode()
    inner(d)["body"] = base64.b64encode(
        json.dumps(body, separators=(",", ":")).encode()).decode()


def _checkpoint_edit(edit: Callable[[str], str]) -> Callable[[Document], None]:
    def apply(d: Document) -> None:
        proof = inner(d)["verification"]["inclusionProof"]
        proof["checkpoint"] = edit(proof["checkpoint"])
    return apply


def _corrupt_signature(note: str) -> str:
    text, signature_line = note.rsplit("\n— ", 1)
    name, b64 = signature_line.strip().split(" ")
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    return f"{text}\n— {name} {base64.b64encode(bytes(raw)).decode()}\n"


def _repeat_signature(note: str) -> str:
    """The log's line twice: a tlog-proof refused it, a Rekor v1 checkpoint took it."""
    line = note.rsplit("\n— ", 1)[1]
    return f"{note}— {line}"


def _alter_size(note: str) -> str:
    origin, size, rest = note.split("\n", 2)
    return f"{origin}\n{int(size) + 1}\n{rest}"


# Each tamper must fail exactly the checks that guard what it altered.
TAMPERS: dict[str, tuple[Callable[[Document], None], set[str]]] = {
    "flip a proof hash": (_flip_proof_hash, {"inclusion_proof"}),
    "change integratedTime": (_change_integrated_time, {"set"}),
    "spell the logID in capitals": (_capitalise_log_id, {"set"}),
    "swap the body key": (_swap_body_key, {"leaf_hash", "inclusion_proof", "set",
                                           "body_signature", "endorser_key",
                                           "endorsement_signature"}),
    "corrupt the checkpoint signature": (_checkpoint_edit(_corrupt_signature),
                                         {"checkpoint_signature"}),
    "repeat the checkpoint's signature line": (_checkpoint_edit(_repeat_signature),
                                               {"checkpoint_signature"}),
    "alter the checkpoint size": (_checkpoint_edit(_alter_size),
                                  {"checkpoint_signature", "checkpoint_matches_proof"}),
}


@pytest.mark.parametrize("tamper", TAMPERS, ids=list(TAMPERS))
def test_each_tamper_fails_its_own_check(tamper: str) -> None:
    directory = RELEASE / "components/kernel"
    document = copy.deepcopy(load(directory))
    edit, expected = TAMPERS[tamper]
    edit(document)
    verification = verify_document(document, directory)
    assert {c.name for c in verification.failures} == expected
    assert not verification.ok


def test_wrong_log_key_fails_log_id_checkpoint_and_set() -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    keyring = LogKeyring.from_pems([PublicKey.from_crypto(other).to_pem().encode()], ["other"])
    directory = RELEASE / "components/stage0"
    verification = verify_document(load(directory), directory, keyring)
    assert {c.name for c in verification.failures} == {"log_id", "checkpoint_signature", "set"}


def test_wrong_endorser_key_fails_endorser_key_only() -> None:
    directory = RELEASE / "components/stage0"
    someone_else = load_public_key((RELEASE / "components/kernel/endorser_public_key.pem")
                                   .read_bytes())
    verification = verify_document(load(directory), directory, endorser_keys=(someone_else,))
    assert {c.name for c in verification.failures} == {"endorser_key"}


def test_altered_statement_byte_fails_hash_and_signature() -> None:
    directory = RELEASE / "components/init_ram_fs"
    statement = bytearray((directory / "endorsement.json").read_bytes())
    statement[statement.index(b"notAfter") + 20] ^= 1
    verification = verify_document(load(directory), directory, artifact=bytes(statement))
    assert {"artifact_hash", "endorsement_signature"} <= {c.name for c in verification.failures}


def test_altered_inline_subject_fails_subject() -> None:
    directory = RELEASE / "components/kernel_cmd_line"
    subject = (directory / "subject.bin").read_bytes() + b" "
    verification = verify_document(load(directory), directory, subject=subject)
    assert {c.name for c in verification.failures} == {"subject"}


def test_validity_is_judged_at_integrated_time_or_at() -> None:
    directory = SINGLE
    assert verify_document(load(directory), directory).check("validity").ok is True
    late = datetime(2025, 3, 1, tzinfo=UTC)
    verification = verify_document(load(directory), directory, at=late)
    assert {c.name for c in verification.failures} == {"validity"}


def test_missing_inclusion_proof_is_a_failure_not_a_promise() -> None:
    document = copy.deepcopy(load(SINGLE))
    del inner(document)["verification"]["inclusionProof"]
    verification = verify_document(document, SINGLE)
    assert verification.check("inclusion_proof").ok is False
    assert "signed promise is not a proof" in verification.check("inclusion_proof").detail
    assert verification.check("set").ok is True


def test_proof_without_checkpoint_says_its_root_is_unauthenticated() -> None:
    document = copy.deepcopy(load(SINGLE))
    del inner(document)["verification"]["inclusionProof"]["checkpoint"]
    verification = verify_document(document, SINGLE)
    assert verification.check("inclusion_proof").ok is True
    assert verification.check("checkpoint_signature").ok is False
    assert "unauthenticated" in verification.check("checkpoint_signature").detail


def test_entry_uuid_that_does_not_carry_the_leaf_hash() -> None:
    document = load(SINGLE)
    ((uuid, value),) = document.items()
    wrong = uuid[:-1] + ("0" if uuid[-1] != "0" else "1")
    verification = verify_document({wrong: value}, SINGLE)
    assert {c.name for c in verification.failures} == {"leaf_hash"}


def test_checkpoint_origin_must_name_the_entry_tree() -> None:
    document = copy.deepcopy(load(SINGLE))
    ((uuid, value),) = document.items()
    # Same leaf hash, another tree id prefix: the checkpoint's origin no longer matches.
    moved = f"{int(uuid[:16], 16) + 1:016x}" + uuid[16:]
    verification = verify_document({moved: value}, SINGLE)
    failures = {c.name: c.detail for c in verification.failures}
    assert set(failures) == {"checkpoint_matches_proof"}
    assert "origin" in failures["checkpoint_matches_proof"]


@pytest.mark.parametrize("forged", [False, True], ids=["signature kept", "signature altered"])
def test_a_hostile_signer_name_is_quoted_cut(forged: bool) -> None:
    """An ECDSA signature line's name is not signed: under a log key pinned without a name
    (--rekor-key), a line renamed to half a megabyte was quoted whole, verified or not."""
    document = copy.deepcopy(load(SINGLE))
    proof = inner(document)["verification"]["inclusionProof"]
    text, line = proof["checkpoint"].rsplit("\n— ", 1)
    _, signature = line.strip().split(" ")
    if forged:
        signature = signature[:-8] + ("A" * 8 if signature[-8:] != "A" * 8 else "B" * 8)
    proof["checkpoint"] = f"{text}\n— {'n' * 500_000} {signature}\n"
    verification = verify_document(document, SINGLE)
    details = [c.detail for c in verification.checks]
    assert max(len(d) for d in details) < 1000
    assert verification.check("checkpoint_signature").ok is (not forged)
