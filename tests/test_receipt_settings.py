"""Where the trust for receipts comes from: Oak reference values and the auditor's config."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import ConfigError
from auditor.keyset import KeySet, add_key_source
from auditor.oak.messages import TLogStrategy
from auditor.settings import load_config_file
from auditor.verify.keys import load_public_key
from auditor.verify.receipt_state import ReceiptKind
from testlog.synthetic import Endorser
from tests.receipts import Pes, TiledLog, c2sp_tlog, pes_tlog, reference_values

LOG = TiledLog()
PES = Pes()
PUBLISHER = Endorser("publisher")


def config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "policy").write_text(LOG.policy)
    (tmp_path / "pes.pem").write_bytes(PES.pem)
    path = tmp_path / "auditor.toml"
    path.write_text(text)
    return path


def test_the_auditors_policy_covers_every_receipt_it_has_trust_for(tmp_path: Path) -> None:
    settings = load_config_file(config(tmp_path, (
        '[components.kernel]\ntlog = "all"\ntlog_policy = "policy"\npes_keys = ["pes.pem"]\n'
        'pes_roots = []\n[components.stage0]\ntlog = "any"\n')))
    # Policy-only tables pin no key: the shipped release keys still apply.
    assert settings.keyset.keys_for("kernel") and settings.keyset.keys_for("stage0")
    signer = settings.keyset.keys_for("kernel")[0].key_id.hex()
    (kernel,) = settings.keyset.requirements_for("kernel", signer)
    assert (kernel.strategy, kernel.receipts) == (TLogStrategy.ALL, tuple(ReceiptKind))
    assert kernel.source.endswith("auditor.toml: components.kernel")
    (stage0,) = settings.keyset.requirements_for("stage0", None)
    assert stage0.receipts == (ReceiptKind.REKOR,)  # no tlog-policy or PES key for stage0
    trust = settings.keyset.receipt_trust("kernel")
    assert len(trust.tlog_policies) == 1 and trust.pes_keys[0].keys[0].key_type == (
        "ecdsa-p256-sha256")
    assert settings.keyset.receipt_trust("stage0").tlog_policies == ()


@pytest.mark.parametrize(("table", "phrase"), [
    ('receipts = ["c2sp"]\n', "receipts chooses the receipts of a `tlog` policy: set tlog"),
    ('tlog = "any"\nreceipts = ["sth"]\n', "receipts 'sth': choose one of rekor, c2sp, pes"),
    ('tlog = "most"\n', "tlog 'most': choose one of skip, all, any"),
    ('pes_keys = ["-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----"]\n',
     "pes_keys[0]: not a valid PEM public key"),
    ('pes_roots = ["pes.pem"]\n', "pes_roots[0]: not a PEM or DER X.509 certificate"),
    ('tlog_policy = "missing"\n', "cannot read"),
    ('tlog_polcy = "policy"\n', "did you mean 'tlog_policy'?"),
])
def test_bad_receipt_settings_are_config_errors(tmp_path: Path, table: str, phrase: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config_file(config(tmp_path, f"[components.kernel]\n{table}"))
    assert phrase in str(raised.value)


def test_oaks_policy_applies_to_what_its_keys_sign(tmp_path: Path) -> None:
    values = tmp_path / "rv.textproto"
    tlog = f"tlog {{ all {{}} {c2sp_tlog(LOG.policy)} {pes_tlog(PES.pem)} }}"
    values.write_text(reference_values(PUBLISHER.public_pem, tlog))
    keyset = KeySet()
    add_key_source(keyset, values)
    add_key_source(keyset, values)  # the same source twice adds nothing
    signer = load_public_key(PUBLISHER.public_pem).key_id.hex()
    (requirement,) = keyset.requirements_for("system_image", signer)
    assert requirement.strategy is TLogStrategy.ALL
    assert requirement.receipts == (ReceiptKind.C2SP, ReceiptKind.PES)
    assert requirement.source == f"Oak reference values {values}"
    # Another key's endorsement of the component is not under this policy.
    assert keyset.requirements_for("system_image", "00" * 32) == []
    trust = keyset.receipt_trust("system_image")
    assert len(trust.tlog_policies) == 1 and trust.pes_keys[0].keys[0].key_id == 7


def test_a_bad_tlog_policy_in_reference_values_is_a_config_error(tmp_path: Path) -> None:
    values = tmp_path / "rv.textproto"
    values.write_text(reference_values(PUBLISHER.public_pem,
                                       "tlog { all {} " + c2sp_tlog("quorum w1\n") + " }"))
    with pytest.raises(ConfigError, match="system_image tlog c2sp policy: policy line 1"):
        add_key_source(KeySet(), values)
