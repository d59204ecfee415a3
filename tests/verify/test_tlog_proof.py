"""C2SP tlog-proofs: Oak's vector, Oak's lib.rs and verify_endorsement cases, tampering.

Anchors:
- tests/data/oak/c2sp/test.tlog-proof (Oak's tr/c2sp/testdata at commit
  578b95116bac0dec45b852788c98d1fe19c168bd) with the keys, policy and entry of Oak's
  tr/c2sp/lib.rs tests (TEST_MAIN_VKEY, TEST_WITNESS_VKEY, TEST_ENTRY), quoted below;
- Oak's TEST_REAL_* Merkle vector from the same file (a real Tessera inclusion proof);
- proofs made here from testlog's Merkle tree and signers, for Oak's synthetic cases and for
  HashedRekord `extra` bodies (Oak's verify_c2sp_tlog_proof cases in
  tr/verify_endorsement/lib.rs).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from auditor.errors import InputError
from auditor.verify.keys import PublicKey, load_public_key
from auditor.verify.policy import Policy, parse_policy
from auditor.verify.tlog_proof import (
    CHECK_NAMES,
    TlogProofFormatError,
    TlogProofVerification,
    check_tlog_proof,
    parse_tlog_proof,
    verify_tlog_proof,
)
from testlog.bodies import hashedrekord_body, parse_verifier
from testlog.merkle import MerkleTree
from testlog.synthetic import Endorser
from testlog.tlog_proof import (
    Cosigner,
    LogSigner,
    NoteSigner,
    SubtreeCosigner,
    checkpoint_text,
    logged_proof,
    signed_checkpoint,
    tlog_proof,
)

DATA = Path(__file__).resolve().parents[1] / "data"
OAK_PROOF = (DATA / "oak" / "c2sp" / "test.tlog-proof").read_bytes()

# Oak tr/c2sp/lib.rs tests (project-oak/oak; vector at 578b95116bac0dec45b852788c98d1fe19c168bd).
TEST_ENTRY = b"test entry data"
TEST_MAIN_VKEY = "fake.log.origin/log+527eabb8+AddT9PtBhhNAsDYZ0V0euiRbXuvrLsw4L6vKARfipnmz"
TEST_WITNESS_VKEY = "test-witness+26349ef0+BIQDFTUlktisMqJzWn8qhteWrRr4dLcQ9R37T+8LQyQF"
OAK_POLICY = f"log {TEST_MAIN_VKEY}\nwitness w1 {TEST_WITNESS_VKEY}\nquorum w1\n"
TEST_REAL_ENTRY = b"hello tesseroak\n"
TEST_REAL_PROOF_HASHES = [
    "fGRlLyuz+L9Jb8+uTSut/2aVc4z7fKFW+clvsb6xjEM=",
    "F6LautOHD5eppkWC0xn/lz00X5g2yLlZAkl2jCI/wdE=",
    "qH7OJxFNup+TDvJuohd2HphKVngfMeMzUK8QChEDcas=",
    "+Y3g758yXtPCRh/eqhLTA3bdcx+cCV1Uah0JdgB0YEs=",
    "vq8cJSjj8dPVmFBRUqDLlaMqW6aAYR2GKugVhgudXLs=",
    "J0z3X5qTb9WFC1gABhVFx0bW1rVZRL+DAoBL2e2h4G4=",
    "NmSbYg25xNFzTRerIsF3HbEMyTIDqW87AQd9ekzopE8=",
    "L8BZipjURnkctkjJtGJs+YyTXMssvNKA7+a8nV2JT/s=",
    "pva4RFzCejMkVMVmYc93As2lbk7WAyrw58TvrzEOjNc=",
]
TEST_REAL_ROOT_HASH = "QYfrD7XAd4qUHbRBs4dDyDZwpZN4M/cccXr2G56pxkY="

TIME = 1700000000


def _seed(byte: int) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(bytes([byte]) * 32)


# Oak's fake identities: the log from seed [42; 32], the witness from [43; 32].
LOG = LogSigner("test.log.example.com/log", _seed(42))
WITNESS = Cosigner("test-witness.example.com", _seed(43))


def _verify(proof: bytes | str, policy: str = OAK_POLICY, statement: bytes = TEST_ENTRY,
            keys: tuple[PublicKey, ...] = ()) -> TlogProofVerification:
    return check_tlog_proof(proof, parse_policy(policy), statement, keys)


def _only_failure(result: TlogProofVerification) -> str:
    """The one failed check's name (the others must pass), with its detail."""
    failures = [c for c in result.checks if c.ok is not True]
    assert len(failures) == 1, result.checks
    return f"{failures[0].name}: {failures[0].detail}"


def _log_policy(log: NoteSigner = LOG, *lines: str) -> str:
    return f"log {log.vkey}\n" + "".join(f"{line}\n" for line in lines) + (
        "" if any(line.startswith("quorum") for line in lines) else "quorum none\n")


# --- Oak's vector -----------------------------------------------------------------------------


def test_oak_vector_parses() -> None:
    # Oak test_parse_proof_real_vectors.
    proof = parse_tlog_proof(OAK_PROOF)
    assert (proof.extra, proof.index, len(proof.hashes)) == (None, 3, 2)
    cp = proof.checkpoint
    assert (cp.origin, cp.size, len(cp.signatures)) == ("fake.log.origin/log", 4, 2)
    assert cp.signatures[0].name == "fake.log.origin/log"


def test_oak_vector_verifies_under_oaks_keys_and_policy() -> None:
    # Oak test_verify_real_vectors.
    result = _verify(OAK_PROOF)
    assert result.ok
    assert [c.name for c in result.checks] == list(CHECK_NAMES)
    assert all(c.ok for c in result.checks)
    assert result.check("tlog_proof").detail == (
        "the statement itself is the logged entry; it is leaf 3 of the tree of size 4 with root "
        "08fbfd847d12853ea4fd653d4197a1d5b57b6d87943a4ae706e08b0901bd1a01")
    assert result.check("tlog_checkpoint").detail.startswith(
        "signed by log key fake.log.origin/log+527eabb8 (Ed25519)")
    assert result.check("witness_quorum").detail == (
        "quorum w1 holds: cosigned by test-witness at time 1771605822")
    assert result.verdict is not None and result.verdict.cosigned_by == ("w1",)


def _replace(old: bytes, new: bytes) -> bytes:
    assert OAK_PROOF.count(old) == 1
    return OAK_PROOF.replace(old, new)


def test_tampered_index_fails_tlog_proof() -> None:
    failure = _only_failure(_verify(_replace(b"index 3\n", b"index 2\n")))
    assert failure.startswith("tlog_proof: the statement itself is the logged entry; RFC 9162 "
                              "inclusion proof does not verify: inclusion proof for index 2")


def test_index_outside_the_tree_fails_tlog_proof() -> None:
    failure = _only_failure(_verify(_replace(b"index 3\n", b"index 4\n")))
    assert failure.endswith("leaf index 4 is outside a tree of size 4")


def test_tampered_proof_hash_fails_tlog_proof() -> None:
    first = b"JBLYbBgEHNZMP9yBly3cVyFLQPqn+z0YdjoHdksDJeY="
    failure = _only_failure(_verify(_replace(first, base64.b64encode(bytes(32)))))
    assert failure.startswith("tlog_proof:") and "yields root" in failure


def test_wrong_statement_fails_tlog_proof() -> None:
    # Oak test_verify_wrong_entry / verify_c2sp_tlog_proof_fails_with_wrong_entry.
    failure = _only_failure(_verify(OAK_PROOF, statement=b"test entry datA"))
    assert failure.startswith("tlog_proof:") and "does not verify" in failure


def test_tampered_checkpoint_signature_fails_tlog_checkpoint() -> None:
    line = OAK_PROOF.split(b"\n")[-3]
    name, encoded = line.rsplit(b" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[10] ^= 1
    tampered = _replace(line, name + b" " + base64.b64encode(bytes(blob)))
    failure = _only_failure(_verify(tampered))
    assert failure == ("tlog_checkpoint: log signature: signature by fake.log.origin/log "
                       "(key hint 527eabb8) does not verify")


def test_tampered_checkpoint_size_fails_every_signature() -> None:
    result = _verify(_replace(b"\n4\nCPv9", b"\n5\nCPv9"))
    assert [c.ok for c in result.checks] == [False, False, False]


def test_missing_cosignature_fails_witness_quorum() -> None:
    witness_line = OAK_PROOF.split(b"\n")[-2] + b"\n"
    failure = _only_failure(_verify(_replace(witness_line, b"")))
    assert failure == ("witness_quorum: quorum w1 does not hold: no cosignature from "
                       "test-witness+26349ef0")


def _corrupt_line(line: bytes) -> bytes:
    name, encoded = line.rsplit(b" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[-1] ^= 1  # the signature's last byte: the key ID and the timestamp stay
    return name + b" " + base64.b64encode(bytes(blob))


def test_a_known_witness_bad_cosignature_rejects_the_checkpoint() -> None:
    """Oak's vector with its test-witness line corrupted: the key name and ID are the policy
    witness's, so signed-note says verify it and reject the note when it fails. It was ignored
    (and the policy failed only for want of the quorum); with a second witness meeting the
    quorum it was a clean receipt."""
    tampered = _replace(OAK_PROOF.split(b"\n")[-2], _corrupt_line(OAK_PROOF.split(b"\n")[-2]))
    result = _verify(tampered)
    assert not result.ok and result.check("tlog_proof").ok
    assert result.check("tlog_checkpoint").detail == (
        "checkpoint rejected: a known witness's cosignature does not verify (witness w1: bad "
        "cosignature by test-witness: cosignature/v1 (Ed25519) signature does not verify)")
    assert result.check("witness_quorum").ok is False
    other = Cosigner("other-witness", _seed(44))
    text = tampered.decode() + other.line(parse_tlog_proof(tampered).checkpoint.signed_text,
                                          TIME)
    either = (f"log {TEST_MAIN_VKEY}\nwitness w1 {TEST_WITNESS_VKEY}\nwitness w2 {other.vkey}\n"
              "group G any w1 w2\nquorum G\n")
    result = _verify(text, either)
    assert result.check("tlog_checkpoint").ok is False
    assert "witness w1: bad cosignature by test-witness" in result.check("tlog_checkpoint").detail


def test_the_log_line_twice_fails_tlog_checkpoint() -> None:
    log_line = OAK_PROOF.split(b"\n")[-3] + b"\n"
    failure = _only_failure(_verify(_replace(log_line, log_line * 2)))
    assert failure == ("tlog_checkpoint: log signature: 2 signature lines by the log's keys; "
                       "exactly one is expected (a log signs a checkpoint once)")


def test_wrong_witness_key_fails_witness_quorum() -> None:
    # Same witness name, another key: its key ID matches no line, so the witness is missing.
    other = Cosigner("test-witness", _seed(0))
    policy = f"log {TEST_MAIN_VKEY}\nwitness w1 {other.vkey}\nquorum w1\n"
    failure = _only_failure(_verify(OAK_PROOF, policy))
    assert failure == ("witness_quorum: quorum w1 does not hold: no cosignature from "
                       f"test-witness+{other.key_id.hex()}")


def test_wrong_log_key_fails_tlog_checkpoint() -> None:
    # Oak verify_c2sp_tlog_proof_fails_with_wrong_key: same origin, another key.
    other = LogSigner("fake.log.origin/log")
    policy = f"log {other.vkey}\nwitness w1 {TEST_WITNESS_VKEY}\nquorum w1\n"
    failure = _only_failure(_verify(OAK_PROOF, policy))
    assert failure.startswith("tlog_checkpoint: log signature: no signature line from a known key")


def test_every_one_byte_change_to_the_vector_is_caught() -> None:
    # Each change is a malformed proof or a failed check; none is silently accepted.
    for position in range(len(OAK_PROOF)):
        mutated = bytearray(OAK_PROOF)
        mutated[position] ^= 0x01
        result = _verify(bytes(mutated))
        assert not result.ok, (position, result.checks)


def test_oak_real_merkle_vector() -> None:
    # Oak test_verify_real_merkle_vectors: leaf 76958 of 76959, signed here by a fake log.
    root = base64.b64decode(TEST_REAL_ROOT_HASH)
    note = signed_checkpoint(checkpoint_text(LOG.name, 76959, root), [(LOG, 0)])
    hashes = "".join(f"{h}\n" for h in TEST_REAL_PROOF_HASHES)
    proof = f"c2sp.org/tlog-proof@v1\nindex 76958\n{hashes}\n{note}"
    assert _verify(proof, _log_policy(), TEST_REAL_ENTRY).ok
    assert not _verify(proof.replace("index 76958", "index 76957"), _log_policy(),
                       TEST_REAL_ENTRY).ok


# --- Oak's synthetic lib.rs and verify_endorsement cases ------------------------------------------


@pytest.mark.parametrize(("size", "index"), [(1, 0), (2, 0), (3, 1), (4, 2), (16, 15), (5, 4)])
def test_synthetic_proofs_verify(size: int, index: int) -> None:
    # Oak test_verify_synthetic, test_verify_single_leaf_tree, test_verify_last_leaf.
    entries = [b"filler %d" % i for i in range(size)]
    entries[index] = b"valid-entry"
    proof = logged_proof(entries, index, LOG)
    assert _verify(proof, _log_policy(), b"valid-entry").ok


def test_extension_lines_are_signed_and_kept() -> None:
    # Oak test_verify_with_extension_lines.
    tree = MerkleTree([hashlib.sha256(b"\0ext-entry").digest(), bytes(32)])
    note = signed_checkpoint(checkpoint_text(LOG.name, 2, tree.root(), ["extra-data"]),
                             [(LOG, 0)])
    proof = tlog_proof(tree, 0, note)
    assert parse_tlog_proof(proof).checkpoint.extensions == ("extra-data",)
    assert _verify(proof, _log_policy(), b"ext-entry").ok


def test_index_beyond_tree_size_is_a_failed_proof() -> None:
    # Oak test_verify_invalid_merkle_chain: index 5 in a tree of 5, with leaf 0's proof.
    proof = logged_proof([b"valid-entry", b"1", b"2", b"3", b"4"], 0, LOG)
    failure = _only_failure(_verify(proof.replace("index 0\n", "index 5\n"), _log_policy(),
                                    b"valid-entry"))
    assert failure.endswith("leaf index 5 is outside a tree of size 5")


@pytest.mark.parametrize(
    ("group", "cosigners", "holds"),
    [
        ("any", (0,), True),  # Oak test_verify_with_policy_any_single_signer
        ("any", (0, 1), True),  # Oak test_verify_with_policy_success
        ("all", (0,), False),  # Oak test_verify_with_policy_failure
        ("all", (0, 1), True),
    ],
)
def test_witness_groups(group: str, cosigners: tuple[int, ...], holds: bool) -> None:
    witnesses = [Cosigner("fake-witness", _seed(43)), Cosigner("fake-witness-2", _seed(44))]
    proof = logged_proof([b"a", b"valid-entry", b"c"], 1, LOG,
                         [(witnesses[i], TIME + i) for i in cosigners])
    policy = _log_policy(LOG, f"witness w1 {witnesses[0].vkey}", f"witness w2 {witnesses[1].vkey}",
                         f"group g {group} w1 w2", "quorum g")
    result = _verify(proof, policy, b"valid-entry")
    assert result.check("witness_quorum").ok is holds
    assert result.check("tlog_proof").ok and result.check("tlog_checkpoint").ok


@pytest.mark.parametrize("log_type", ["ed25519", "ml-dsa"])
@pytest.mark.parametrize("witness_type", [None, "ed25519", "ml-dsa"])
def test_log_and_witness_signature_types(log_type: str, witness_type: str | None) -> None:
    # Oak verify_c2sp_tlog_proof_succeeds_with_ml_dsa_log(_and_ed25519_witness),
    # ..._with_ed25519_log_and_ml_dsa_witness.
    log: NoteSigner = (LOG if log_type == "ed25519"
                       else SubtreeCosigner("test.ml-dsa.example.com/log"))
    witnesses: list[tuple[NoteSigner, int]] = []
    lines = ["quorum none"]
    if witness_type is not None:
        witness: NoteSigner = (WITNESS if witness_type == "ed25519"
                               else SubtreeCosigner("ml-dsa-witness.example.com"))
        witnesses = [(witness, TIME)]
        lines = [f"witness w1 {witness.vkey}", "quorum w1"]
    proof = logged_proof([b"ml-dsa log + witness"], 0, log, witnesses)
    assert _verify(proof, _log_policy(log, *lines), b"ml-dsa log + witness").ok


def test_proof_without_witnesses_fails_a_witness_policy() -> None:
    # Oak verify_c2sp_tlog_proof_fails_when_witness_policy_unsatisfied.
    proof = logged_proof([b"test endorsement data"], 0, LOG)
    policy = _log_policy(LOG, f"witness w1 {WITNESS.vkey}", "quorum w1")
    failure = _only_failure(_verify(proof, policy, b"test endorsement data"))
    assert failure == ("witness_quorum: quorum w1 does not hold: no cosignature from "
                       f"{WITNESS.name}+{WITNESS.key_id.hex()}")


# --- extra: the logged HashedRekord body ------------------------------------------------------


STATEMENT = b'{"_type": "https://in-toto.io/Statement/v1", "subject": []}\n'
ENDORSER = Endorser("endorser", None)


def _endorser_key(endorser: Endorser = ENDORSER) -> PublicKey:
    return load_public_key(endorser.public_pem)


def _hashedrekord(statement: bytes = STATEMENT, signer: Endorser = ENDORSER,
                  signed: bytes | None = None) -> bytes:
    signature = signer.sign(statement if signed is None else signed)
    return hashedrekord_body(hashlib.sha256(statement).hexdigest(), signature,
                             parse_verifier(signer.public_pem))


def _extra_proof(body: bytes, index: int = 1) -> str:
    entries = [b"first", b"second", b"third"]
    entries[index] = body
    return logged_proof(entries, index, LOG, extra=True)


def test_extra_hashedrekord_binds_statement_and_endorser() -> None:
    # Oak verify_c2sp_tlog_proof_with_extra_data_succeeds.
    body = _hashedrekord()
    result = _verify(_extra_proof(body), _log_policy(), STATEMENT, (_endorser_key(),))
    assert result.ok
    assert result.entry_body is not None and result.entry_body.kind == "hashedrekord"
    assert result.check("tlog_proof").detail.startswith(
        "extra (hashedrekord v0.0.1) binds the statement, signed by endorser key sha256:"
        f"{_endorser_key().key_id.hex()}; it is leaf 1 of the tree of size 3")


def test_extra_with_wrong_endorser_key_fails_tlog_proof() -> None:
    # Oak verify_c2sp_tlog_proof_with_extra_data_fails_on_key_mismatch.
    trusted = _endorser_key(Endorser("trusted", None))
    result = _verify(_extra_proof(_hashedrekord()), _log_policy(), STATEMENT, (trusted,))
    assert _only_failure(result) == (
        "tlog_proof: extra (hashedrekord v0.0.1) is signed by sha256:"
        f"{_endorser_key().key_id.hex()}, which is not an endorser key")


def test_extra_for_another_statement_fails_tlog_proof() -> None:
    other = b"another statement\n"
    failure = _only_failure(_verify(_extra_proof(_hashedrekord(other)), _log_policy(), STATEMENT,
                                    (_endorser_key(),)))
    assert failure == (
        f"tlog_proof: extra (hashedrekord v0.0.1) logs sha256:{hashlib.sha256(other).hexdigest()}"
        f", but sha256(statement) is {hashlib.sha256(STATEMENT).hexdigest()}")


def test_extra_whose_signature_is_not_over_the_statement_fails_tlog_proof() -> None:
    body = _hashedrekord(signed=b"something else")
    failure = _only_failure(_verify(_extra_proof(body), _log_policy(), STATEMENT,
                                    (_endorser_key(),)))
    assert failure == ("tlog_proof: extra (hashedrekord v0.0.1): its signature does not verify "
                       "over the statement")


def test_extra_that_is_not_the_logged_leaf_fails_inclusion() -> None:
    # A valid binding body that the log never logged: the inclusion proof is for another leaf.
    proof = _extra_proof(_hashedrekord())
    logged = parse_tlog_proof(proof)
    swapped = proof.replace(f"extra {base64.b64encode(logged.extra or b'').decode()}",
                            f"extra {base64.b64encode(_hashedrekord()).decode()}")
    assert swapped != proof  # ECDSA signatures differ, so the bodies differ
    failure = _only_failure(_verify(swapped, _log_policy(), STATEMENT, (_endorser_key(),)))
    assert "binds the statement" in failure and "inclusion proof does not verify" in failure


def test_extra_without_a_pinned_endorser_key_fails() -> None:
    failure = _only_failure(_verify(_extra_proof(_hashedrekord()), _log_policy(), STATEMENT))
    assert failure.endswith("but no endorser key is pinned")


def test_extra_dsse_body_is_not_a_hashedrekord() -> None:
    # A DSSE entry signs an envelope, not the statement's bytes: it cannot bind the statement.
    body = json.dumps({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(STATEMENT).hexdigest()},
        "signatures": [{"signature": base64.b64encode(ENDORSER.sign(STATEMENT)).decode(),
                        "verifier": base64.b64encode(ENDORSER.public_pem).decode()}],
    }}).encode()
    failure = _only_failure(_verify(_extra_proof(body), _log_policy(), STATEMENT,
                                    (_endorser_key(),)))
    assert failure == "tlog_proof: extra (dsse v0.0.1) is not a HashedRekord body"


def test_extra_that_is_not_a_hashedrekord_fails_tlog_proof() -> None:
    # Oak test_parse_proof_with_extra_data carries `extra dGVzdA==` ("test").
    proof = logged_proof([b"entry-data", b"x"], 0, LOG).replace(
        "c2sp.org/tlog-proof@v1\n", "c2sp.org/tlog-proof@v1\nextra dGVzdA==\n", 1)
    assert parse_tlog_proof(proof).extra == b"test"
    failure = _only_failure(_verify(proof, _log_policy(), b"entry-data", (_endorser_key(),)))
    assert failure == "tlog_proof: extra is not a Rekor HashedRekord body: body is not valid JSON"


def test_direct_verification_of_a_parsed_proof() -> None:
    proof = parse_tlog_proof(_extra_proof(_hashedrekord()))
    policy: Policy = parse_policy(_log_policy())
    assert verify_tlog_proof(proof, policy, STATEMENT, [_endorser_key()]).ok


# --- parsing strictness ----------------------------------------------------------------------

GOOD = OAK_PROOF.decode()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("invalid-header\nindex 0\n", "does not start with the line 'c2sp.org/tlog-proof@v1'"),
        ("", "ends before its header"),
        ("c2sp.org/tlog-proof@v1\nindex abc\n", "line 2 is not 'index <n>'"),
        ("c2sp.org/tlog-proof@v1\n", "ends before its index line"),
        ("c2sp.org/tlog-proof@v1\nextra dGVzdA==\n", "ends before its index line"),
        ("c2sp.org/tlog-proof@v1\nextra dGVzdA=\nindex 0\n", "extra data is not valid base64"),
        ("c2sp.org/tlog-proof@v1\nextra dGVzdB==\nindex 0\n", "extra data is not canonical"),
        ("c2sp.org/tlog-proof@v1\nextra  dGVzdA==\nindex 0\n", "extra data is not valid"),
        ("c2sp.org/tlog-proof@v1\nextra\nindex 0\n", "line 2 is not 'index <n>'"),
        ("c2sp.org/tlog-proof@v1\nindex 0\n\norigin\nnot_a_number\n",
         "checkpoint: checkpoint has no blank line"),
        ("c2sp.org/tlog-proof@v1\nindex 0\n\norigin\n1\nnot_b64\n\n\u2014 a AAAAAAA=\n",
         "checkpoint: checkpoint root hash is not valid base64"),
        (GOOD.replace("index 3", "index 03"), "line 2 is not 'index <n>'"),
        (GOOD.replace("index 3", "index +3"), "line 2 is not 'index <n>'"),
        (GOOD.replace("index 3", "index  3"), "line 2 is not 'index <n>'"),
        (GOOD.replace("index 3", "index 18446744073709551616"), "does not fit in 64 bits"),
        (GOOD.replace("index 3", "index 3 "), "line 2 is not 'index <n>'"),
        (GOOD.replace("\nJBLY", "\nextra dGVzdA==\nJBLY"), "line 3 (inclusion proof hash)"),
        (GOOD.replace("JBLYbBgEHNZMP9yBly3cVyFLQPqn+z0YdjoHdksDJeY=", "AAAA"),
         "line 3 (inclusion proof hash) is 3 bytes, not 32"),
        (GOOD.replace("R71E/0J8A2l+L5ZFDuy/fy59xnJFGYNDRo6pKoqoihc=",
                      "R71E/0J8A2l+L5ZFDuy/fy59xnJFGYNDRo6pKoqoihd="),
         "line 4 (inclusion proof hash) is not canonical base64"),
        (GOOD.replace("\n\nfake.log", "\nfake.log"), "line 5 (inclusion proof hash)"),
        (GOOD.split("\n\n")[0] + "\n", "ends before its blank line before the checkpoint"),
        (GOOD.replace("\n", "\r\n"), "does not start with the line"),
        (GOOD[:-1], "last signature line does not end in a newline"),
        (GOOD + "\n", "tlog-proof checkpoint:"),
        (GOOD.replace("\n\n\u2014", "\n\n"), "tlog-proof checkpoint:"),
        (GOOD.replace("index 3\n", "index 3\n" + "JBLYbBgEHNZMP9yBly3cVyFLQPqn+z0YdjoHdksDJeY=\n"
                                                 * 65), "more than 64 proof hashes"),
    ],
)
def test_malformed_proofs_are_input_errors(text: str, reason: str) -> None:
    with pytest.raises(TlogProofFormatError) as caught:
        parse_tlog_proof(text)
    assert reason in str(caught.value)
    assert isinstance(caught.value, InputError) and "\n" not in str(caught.value)


def test_bytes_that_are_not_utf8_or_too_large_or_not_text() -> None:
    with pytest.raises(TlogProofFormatError, match="not UTF-8 text \\(byte 0\\)"):
        parse_tlog_proof(b"\xff" + OAK_PROOF)
    with pytest.raises(TlogProofFormatError, match="more than 1 MiB"):
        parse_tlog_proof(OAK_PROOF + b"x" * (1 << 20))
    with pytest.raises(TlogProofFormatError, match="text, not int"):
        parse_tlog_proof(3)  # type: ignore[arg-type]


def test_sixty_four_proof_hashes_are_allowed() -> None:
    hashes = "JBLYbBgEHNZMP9yBly3cVyFLQPqn+z0YdjoHdksDJeY=\n" * 62
    proof = parse_tlog_proof(GOOD.replace("index 3\n", "index 3\n" + hashes))
    assert len(proof.hashes) == 64


def test_a_malformed_receipt_is_a_failed_check() -> None:
    # Oak verify_c2sp_tlog_proof_fails_when_proof_missing / ..._with_invalid_proof.
    for received in (b"", b"not a valid proof"):
        result = _verify(received)
        assert not result.ok and result.proof is None
        assert [(c.name, c.ok) for c in result.checks] == [
            ("tlog_proof", False), ("tlog_checkpoint", None), ("witness_quorum", None)]
        assert result.checks[0].detail.startswith("malformed tlog-proof: tlog-proof ")


def test_round_trip_of_generated_proof_text() -> None:
    # Oak test_serialize_roundtrip_with_cosignature: what testlog renders parses back intact.
    proof = logged_proof([b"a", b"cosig-roundtrip", b"c"], 1, LOG, [(WITNESS, TIME)])
    parsed = parse_tlog_proof(proof)
    assert parsed.index == 1 and len(parsed.hashes) == 2
    assert [s.name for s in parsed.checkpoint.signatures] == [LOG.name, WITNESS.name]
    assert parsed.checkpoint.raw == proof.split("\n\n", 1)[1]


def test_a_hostile_origin_is_quoted_cut_in_tlog_checkpoint() -> None:
    """An origin that is no policy log's was quoted whole: half a megabyte of detail, stored
    with the endorsement that carried the receipt."""
    text = GOOD.replace("fake.log.origin/log\n4", "o" * 500_000 + "\n4")
    verification = check_tlog_proof(text, parse_policy(OAK_POLICY), TEST_ENTRY, [])
    check = verification.check("tlog_checkpoint")
    assert check.ok is False and len(check.detail) < 500
    assert "(500,002 characters)" in check.detail
