"""tlog-policy: Oak's policy.rs cases (parsing, rejections, quorums) and checkpoint verdicts.

Every case of Oak's tr/c2sp/policy.rs tests is ported (project-oak/oak; same fixed Ed25519
seeds where Oak uses them). Oak's `check_quorum` takes a set of already verified keys; here a
quorum is always judged from real signature lines on a checkpoint, signed by the independent
signers of testlog/tlog_proof.py. The spec's own example policy (c2sp.org/tlog-policy, two
levels of groups) is evaluated too.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa

from auditor.errors import InputError
from auditor.verify.checkpoint import Checkpoint, parse_checkpoint
from auditor.verify.policy import (
    Group,
    Policy,
    PolicyError,
    WitnessStatus,
    evaluate_checkpoint,
    parse_policy,
)
from testlog.tlog_proof import (
    Cosigner,
    LogSigner,
    NoteSigner,
    SubtreeCosigner,
    checkpoint_text,
    signed_checkpoint,
)

TIME = 1700000000
ROOT = bytes(range(32))


def _seed(byte: int) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(bytes([byte]) * 32)


# Oak: make_log_vkey("example.com/log", [0x01; 32]) and witnesses from fixed seeds.
LOG = LogSigner("example.com/log", _seed(0x01))
W1 = Cosigner("witness.example.com/w1", _seed(0xAA))
W2 = Cosigner("witness.example.com/w2", _seed(0xBB))
W3 = Cosigner("witness.example.com/w3", _seed(0xCC))
W4 = Cosigner("witness.example.com/w4", _seed(0x04))


def _policy(*lines: str, log: NoteSigner = LOG) -> Policy:
    return parse_policy(f"log {log.vkey}\n" + "".join(f"{line}\n" for line in lines))


def _checkpoint(*cosigners: NoteSigner, log: NoteSigner = LOG, origin: str | None = None,
                size: int = 3) -> Checkpoint:
    text = checkpoint_text(origin or log.name, size, ROOT)
    return parse_checkpoint(signed_checkpoint(text, [(log, 0), *((w, TIME) for w in cosigners)]))


def _holds(policy: Policy, *cosigners: NoteSigner) -> bool:
    verdict = evaluate_checkpoint(policy, _checkpoint(*cosigners))
    assert verdict.log_key is not None, verdict.log_detail
    return verdict.quorum_satisfied


# --- parsing: what Oak accepts ------------------------------------------------------------------


def test_no_log_keys_accepted() -> None:
    policy = parse_policy("quorum none\n")
    assert policy.logs == () and policy.quorum is None


def test_quorum_none_needs_no_cosignature() -> None:
    policy = _policy("quorum none")
    assert policy.quorum is None and len(policy.logs) == 1
    assert _holds(policy)


def test_log_key_and_url_stored() -> None:
    policy = parse_policy(f"log {LOG.vkey} https://log.example.com/\nquorum none\n")
    (log,) = policy.logs
    assert log.key.vkey == LOG.vkey and log.url == "https://log.example.com/"


def test_multiple_log_keys_for_rotation() -> None:
    rotated = LogSigner("example.com/log", _seed(0x02))
    policy = parse_policy(f"log {LOG.vkey}\nlog {rotated.vkey}\nquorum none\n")
    assert [k.vkey for k in policy.log_keys] == [LOG.vkey, rotated.vkey]
    # Either key may sign (tlog-policy: "all of the listed logs are accepted").
    for signer in (LOG, rotated):
        verdict = evaluate_checkpoint(policy, _checkpoint(log=signer))
        assert verdict.log_key is not None and verdict.log_key.vkey == signer.vkey


def test_single_witness_quorum() -> None:
    policy = _policy(f"witness wit-1 {W1.vkey}", "quorum wit-1")
    assert not _holds(policy)
    assert _holds(policy, W1)


def test_group_threshold() -> None:
    policy = _policy(f"witness w1 {W1.vkey}", f"witness w2 {W2.vkey}", f"witness w3 {W3.vkey}",
                     "group G 2 w1 w2 w3", "quorum G")
    assert policy.groups == (Group("G", 2, ("w1", "w2", "w3")),)
    assert not _holds(policy)
    assert not _holds(policy, W1)
    assert _holds(policy, W1, W2) and _holds(policy, W2, W3) and _holds(policy, W1, W3)
    assert _holds(policy, W1, W2, W3)


def test_group_any() -> None:
    policy = _policy(f"witness w1 {W1.vkey}", f"witness w2 {W2.vkey}", "group G any w1 w2",
                     "quorum G")
    assert not _holds(policy)
    assert _holds(policy, W1) and _holds(policy, W2)


def test_group_all() -> None:
    policy = _policy(f"witness w1 {W1.vkey}", f"witness w2 {W2.vkey}", "group G all w1 w2",
                     "quorum G")
    assert not _holds(policy, W1) and not _holds(policy, W2)
    assert _holds(policy, W1, W2)


def test_nested_groups() -> None:
    # Oak: (w1 OR w2) AND (w3 AND w4).
    policy = _policy(
        f"witness w1 {W1.vkey}", f"witness w2 {W2.vkey}", f"witness w3 {W3.vkey}",
        f"witness w4 {W4.vkey}", "group left any w1 w2", "group right all w3 w4",
        "group root all left right", "quorum root",
    )
    assert not _holds(policy, W1)
    assert not _holds(policy, W3, W4)
    assert _holds(policy, W1, W3, W4) and _holds(policy, W2, W3, W4)
    assert not _holds(policy, W1, W3)


def test_comments_blank_lines_and_whitespace() -> None:
    text = (f"# comment\n\n  # indented comment\n \t\n\tlog \t {LOG.vkey}  \n"
            f"witness\tw1\t{W1.vkey}\nquorum w1")  # no final newline, like Oak's tests
    policy = parse_policy(text)
    assert policy.quorum == "w1" and policy.witnesses[0].key.vkey == W1.vkey


def test_ml_dsa_log_and_witness_keys_are_accepted() -> None:
    log = SubtreeCosigner("example.com/log", mldsa.MLDSA44PrivateKey.generate())
    witness = SubtreeCosigner("ml.example/w", mldsa.MLDSA44PrivateKey.generate())
    policy = parse_policy(f"log {log.vkey}\nwitness w {witness.vkey}\nquorum w\n")
    assert len(policy.logs) == 1 and len(policy.witnesses) == 1


def test_spec_example_policy_two_levels_of_groups() -> None:
    # c2sp.org/tlog-policy "Example policy": 2 of the X witnesses and any of the Y witnesses.
    xs = [Cosigner(f"x{i}.example", _seed(0x10 + i)) for i in range(3)]
    ys = [Cosigner(f"y{i}.example", _seed(0x20 + i)) for i in range(3)]
    policy = _policy(
        *(f"witness X{i + 1} {w.vkey}" for i, w in enumerate(xs)), "group X-witnesses 2 X1 X2 X3",
        *(f"witness Y{i + 1} {w.vkey}" for i, w in enumerate(ys)),
        "group Y-witnesses any Y1 Y2 Y3", "group X-and-Y all X-witnesses Y-witnesses",
        "quorum X-and-Y",
    )
    assert _holds(policy, xs[0], xs[2], ys[1])
    assert not _holds(policy, xs[0], ys[0], ys[1], ys[2])
    assert not _holds(policy, *xs)


# --- parsing: what Oak (and the spec) reject ------------------------------------------------------


def _ed(name: str, byte: int) -> str:
    return LogSigner(name, _seed(byte)).vkey


REJECTED = [
    ("", "no quorum line"),
    (f"log {LOG.vkey}\n", "no quorum line"),
    (f"log {LOG.vkey}\nwitness dup {W1.vkey}\nwitness dup {W2.vkey}\nquorum none\n",
     "line 3: duplicate name 'dup'"),
    (f"witness w1 {W1.vkey}\ngroup w1 any w1\nquorum none\n", "line 2: duplicate name 'w1'"),
    (f"witness w1 {W1.vkey}\nquorum w1\nquorum w1\n",
     "line 3: a second quorum line (the first is line 2)"),
    (f"log {LOG.vkey}\nquorum unknown\n", "line 2: unknown quorum name 'unknown'"),
    (f"witness w1 {W1.vkey}\ngroup G 1 w1 w2\nquorum G\n", "unknown group member 'w2'"),
    (f"witness w1 {W1.vkey}\ngroup G any w1 none\nquorum G\n", "unknown group member 'none'"),
    (f"quorum none\ngroup G any w1\n{W1.vkey}\n", "line 2: unknown group member 'w1'"),
    ("bogus foo bar\n", "line 1: unknown keyword 'bogus'"),
    ("Log x\nquorum none\n", "unknown keyword 'Log'"),
    (f"witness w1 {_ed('witness.example.com/w1', 0xAA)}\nquorum w1\n",
     "line 1: witness key witness.example.com/w1 has type 0x01 Ed25519; a witness key must be "
     "0x04 cosignature/v1 (Ed25519) or 0x06 subtree/v1 (ML-DSA-44)"),
    (f"log {Cosigner('example.com/log', _seed(1)).vkey}\nquorum none\n",
     "a log key must be 0x01 Ed25519 or 0x06 subtree/v1 (ML-DSA-44)"),
    ("witness w1 not-a-valid-vkey\nquorum w1\n", "witness key is not a valid verifier key"),
    ("log not-a-valid-vkey\nquorum none\n", "log key is not a valid verifier key"),
    ("log\nquorum none\n", "a log line takes 1 or 2 arguments, got 0"),
    (f"log {LOG.vkey} url extra\nquorum none\n", "a log line takes 1 or 2 arguments, got 3"),
    ("witness w1\nquorum none\n", "a witness line takes 2 or 3 arguments, got 1"),
    (f"witness w1 {W1.vkey} url extra\nquorum none\n", "witness line takes 2 or 3 arguments"),
    ("group G any\nquorum none\n", "a group line takes at least 3 arguments, got 2"),
    ("quorum\n", "a quorum line takes 1 argument, got 0"),
    (f"witness w1 {W1.vkey}\nquorum w1 extra\n", "a quorum line takes 1 argument, got 2"),
    (f"witness w1 {W1.vkey}\ngroup G xyz w1\nquorum G\n", "invalid threshold 'xyz'"),
    (f"witness w1 {W1.vkey}\ngroup G -1 w1\nquorum G\n", "invalid threshold '-1'"),
    (f"witness w1 {W1.vkey}\ngroup G 0 w1\nquorum G\n",
     "threshold 0 out of range for a group of 1 member"),
    (f"witness w1 {W1.vkey}\ngroup G 2 w1\nquorum G\n",
     "threshold 2 out of range for a group of 1 member"),
    (f"witness w1 {W1.vkey}\ngroup G 1 w1 w1\nquorum G\n", "duplicate group member 'w1'"),
    (f"log {LOG.vkey}\nlog {LogSigner('other.com/log', LOG.private_key).vkey}\nquorum none\n",
     "line 2: duplicate log key other.com/log+"),
    (f"witness none {W1.vkey}\nquorum none\n", "line 1: 'none' is a reserved name"),
    (f"witness w1 {W1.vkey}\ngroup none any w1\nquorum w1\n", "line 2: 'none' is a reserved name"),
    (f"witness w1 {W1.vkey}\nwitness w2 {Cosigner('witness.example.com/w2', W1.private_key).vkey}"
     "\nquorum none\n", "line 2: duplicate witness key (witness 'w1' has it)"),
    (f"log {LOG.vkey}\r\nquorum none\n", "line 1: control character '\\r'"),
    ("quorum none\x00\n", "control character"),
]


@pytest.mark.parametrize(("text", "reason"), REJECTED)
def test_rejected_policies_name_line_and_reason(text: str, reason: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert reason in str(caught.value)
    assert isinstance(caught.value, InputError) and "\n" not in str(caught.value)


def test_member_of_two_groups_is_rejected_on_its_line() -> None:
    # Oak: were this accepted, w1 alone would satisfy a quorum that looks like it needs two.
    text = (f"log {LOG.vkey}\nwitness w1 {W1.vkey}\nwitness w2 {W2.vkey}\nwitness w3 {W3.vkey}\n"
            "group A any w1 w2\ngroup B any w1 w3\ngroup Q all A B\nquorum Q\n")
    with pytest.raises(PolicyError, match="policy line 6: duplicate group member 'w1'"):
        parse_policy(text)


def test_group_member_of_two_groups_is_rejected() -> None:
    text = (f"witness w1 {W1.vkey}\nwitness w2 {W2.vkey}\ngroup A any w1\ngroup B any A w2\n"
            "group C any A\nquorum B\n")
    with pytest.raises(PolicyError, match="line 5: duplicate group member 'A'"):
        parse_policy(text)


def test_names_are_opaque_octets() -> None:
    # tlog-policy "Character set": the Kelvin sign is not the letter K.
    policy = parse_policy(f"witness K {W1.vkey}\nwitness \u212a {W2.vkey}\nquorum \u212a\n")
    assert [w.name for w in policy.witnesses] == ["K", "\u212a"]
    # A non-breaking space is part of a name, not a separator.
    with pytest.raises(PolicyError, match=r"takes 2 or 3 arguments, got 1"):
        parse_policy(f"witness w1\u00a0{W1.vkey}\nquorum none\n")


def test_a_policy_must_be_text() -> None:
    with pytest.raises(PolicyError, match="text, not bytes"):
        parse_policy(b"quorum none\n")  # type: ignore[arg-type]


# --- evaluating: log signature ----------------------------------------------------------------


def test_unrelated_witness_does_not_satisfy_quorum() -> None:
    other = Cosigner("witness.example.com/other", _seed(0xFF))
    assert not _holds(_policy(f"witness w1 {W1.vkey}", "quorum w1"), other)


def test_verdict_names_the_log_key_and_ignores_unknown_lines() -> None:
    stranger = LogSigner("example.com/log", _seed(0x77))  # same name, unknown key
    verdict = evaluate_checkpoint(_policy("quorum none"), _checkpoint(stranger, W1))
    assert verdict.ok
    assert verdict.log_key is not None and verdict.log_key.vkey == LOG.vkey
    assert verdict.log_detail.startswith(f"signed by log key example.com/log+{LOG.key_id.hex()}")


def test_log_key_of_another_origin_is_not_eligible() -> None:
    # Oak test_verify_wrong_origin: the policy's log is wrong.com/log.
    other = LogSigner("wrong.com/log", _seed(99))
    verdict = evaluate_checkpoint(_policy("quorum none", log=other), _checkpoint())
    assert verdict.log_key is None and not verdict.ok
    assert verdict.log_detail == ("checkpoint origin 'example.com/log' is no policy log's name "
                                  "(logs: wrong.com/log)")


def test_log_signature_on_a_checkpoint_of_another_origin_is_refused() -> None:
    # The log's key signs, but the checkpoint claims to be another log's.
    cp = _checkpoint(origin="example.com/other-log")
    assert evaluate_checkpoint(_policy("quorum none"), cp).log_key is None


def test_no_line_from_a_policy_log_key() -> None:
    # Oak test_verify_signature_mismatch: a policy key whose key ID matches no line.
    other = LogSigner("example.com/log", _seed(99))
    verdict = evaluate_checkpoint(_policy("quorum none", log=other), _checkpoint())
    assert verdict.log_key is None
    assert "no signature line from a known key" in verdict.log_detail


def test_bad_signature_by_a_policy_log_key_fails() -> None:
    cp = _checkpoint()
    forged = signed_checkpoint(cp.signed_text.replace(b"\n3\n", b"\n4\n"), [(LOG, 0)])
    tampered = parse_checkpoint(cp.signed_text.decode() + "\n" + forged.split("\n\n")[1])
    verdict = evaluate_checkpoint(_policy("quorum none"), tampered)
    assert verdict.log_key is None
    assert f"signature by example.com/log (key hint {LOG.key_id.hex()}) does not verify" in (
        verdict.log_detail)


def test_two_log_signatures_are_refused() -> None:
    # Oak counts the lines by trusted log keys and wants exactly one.
    rotated = LogSigner("example.com/log", _seed(0x02))
    policy = parse_policy(f"log {LOG.vkey}\nlog {rotated.vkey}\nquorum none\n")
    verdict = evaluate_checkpoint(policy, _checkpoint(rotated))
    assert verdict.log_key is None
    assert verdict.log_detail == ("log signature: 2 signature lines by the log's keys; exactly one "
                                  "is expected (a log signs a checkpoint once)")


def test_ml_dsa_log_signature() -> None:
    log = SubtreeCosigner("example.com/ml-log", mldsa.MLDSA44PrivateKey.generate())
    text = checkpoint_text(log.name, 7, ROOT)
    cp = parse_checkpoint(signed_checkpoint(text, [(log, TIME), (W1, TIME)]))
    verdict = evaluate_checkpoint(_policy(f"witness w1 {W1.vkey}", "quorum w1", log=log), cp)
    assert verdict.ok
    assert verdict.log_key is not None and verdict.log_key.vkey == log.vkey


# --- evaluating: witnesses and the explanation of a failed quorum ---------------------------------


def test_failed_quorum_says_exactly_why() -> None:
    policy = _policy(f"witness w1 {W1.vkey}", f"witness w2 {W2.vkey}", f"witness w3 {W3.vkey}",
                     "group G 2 w1 w2 w3", "quorum G")
    cp = _checkpoint(W1)
    bad = W3.line(cp.signed_text.replace(b"\n3\n", b"\n4\n"), TIME)
    cp = parse_checkpoint(cp.raw + bad)
    verdict = evaluate_checkpoint(policy, cp)
    assert not verdict.quorum_satisfied and verdict.log_key is not None
    assert [o.status for o in verdict.witnesses] == [
        WitnessStatus.COSIGNED, WitnessStatus.MISSING, WitnessStatus.BAD_SIGNATURE]
    assert verdict.cosigned_by == ("w1",)
    assert verdict.witnesses[0].timestamp == TIME
    assert verdict.quorum_detail == (
        "quorum G does not hold: group G has 1 of the 2 needed ("
        f"w2: no cosignature from witness.example.com/w2+{W2.key_id.hex()}; "
        "w3: bad cosignature by witness.example.com/w3: cosignature/v1 (Ed25519) signature "
        "does not verify)"
    )


def test_nested_explanation_and_bad_cosignatures_never_count() -> None:
    policy = _policy(f"witness w1 {W1.vkey}", f"witness w2 {W2.vkey}", f"witness w3 {W3.vkey}",
                     "group left any w1 w2", "group root all left w3", "quorum root")
    cp = _checkpoint(W3)
    cp = parse_checkpoint(cp.raw + W1.line(b"other text\n", TIME))
    verdict = evaluate_checkpoint(policy, cp)
    assert not verdict.quorum_satisfied
    assert verdict.quorum_detail.startswith(
        "quorum root does not hold: group root has 1 of the 2 needed (left: group left has 0 of "
        "the 1 needed (w1: bad cosignature by witness.example.com/w1")
    assert [(g.group.name, g.satisfied) for g in verdict.groups] == [
        ("left", False), ("root", False)]


def test_a_known_witness_bad_cosignature_rejects_the_note_though_the_quorum_holds() -> None:
    """signed-note: a line whose name and key ID match a known key MUST be verified, and if it
    fails the client SHOULD reject the whole note. It was only left uncounted (as Oak does)."""
    policy = _policy(f"witness w1 {W1.vkey}", f"witness w2 {W2.vkey}", "group G any w1 w2",
                     "quorum G")
    cp = _checkpoint(W1)
    cp = parse_checkpoint(cp.raw + W2.line(b"other text\n", TIME))
    verdict = evaluate_checkpoint(policy, cp)
    assert verdict.quorum_satisfied and verdict.log_key is not None
    assert not verdict.ok
    assert verdict.rejection == (
        "checkpoint rejected: a known witness's cosignature does not verify (witness w2: bad "
        "cosignature by witness.example.com/w2: cosignature/v1 (Ed25519) signature does not "
        "verify)")


def test_a_bad_line_beside_a_good_one_by_the_same_witness_rejects_the_note() -> None:
    # Every line by a known key is verified, not only until one verifies.
    policy = _policy(f"witness w1 {W1.vkey}", "quorum w1")
    cp = _checkpoint(W1)
    verdict = evaluate_checkpoint(policy, parse_checkpoint(cp.raw + W1.line(b"x\n", TIME)))
    assert verdict.witnesses[0].status is WitnessStatus.BAD_SIGNATURE
    assert verdict.rejection is not None and "witness w1:" in verdict.rejection
    assert not verdict.ok


def test_bad_lines_of_unknown_keys_stay_ignored() -> None:
    """signed-note MUST: a line sharing a known key's name but not its key ID (or from a
    witness no policy names) is ignored, however bad its signature."""
    policy = _policy(f"witness w1 {W1.vkey}", "quorum w1")
    impostor = Cosigner(W1.name, _seed(0x77))
    cp = _checkpoint(W1)
    cp = parse_checkpoint(cp.raw + impostor.line(b"x\n", TIME) + W4.line(b"y\n", TIME))
    verdict = evaluate_checkpoint(policy, cp)
    assert verdict.ok and verdict.rejection is None


def test_witnesses_are_counted_once() -> None:
    # Two lines by the same witness are one witness (distinct witnesses count).
    policy = _policy(f"witness w1 {W1.vkey}", f"witness w2 {W2.vkey}", "group G 2 w1 w2",
                     "quorum G")
    cp = _checkpoint(W1, W1)
    assert len(cp.signatures) == 3
    assert not evaluate_checkpoint(policy, cp).quorum_satisfied


def test_witness_key_matched_by_name_and_key_id_not_by_policy_name() -> None:
    # The policy-local name (w1) is not the key name; lines are matched by the key's name and id.
    policy = _policy(f"witness witness.example.com/w2 {W1.vkey}",
                     "quorum witness.example.com/w2")
    assert not _holds(policy, W2)
    assert _holds(policy, W1)


def test_ml_dsa_witness_in_a_group_with_an_ed25519_witness() -> None:
    ml = SubtreeCosigner("ml.example/w", mldsa.MLDSA44PrivateKey.generate())
    policy = _policy(f"witness w1 {W1.vkey}", f"witness m {ml.vkey}", "group G all w1 m",
                     "quorum G")
    assert _holds(policy, W1, ml)
    assert not _holds(policy, ml)
