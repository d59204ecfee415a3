"""Which checkpoints the tiled-log source accepts: the log's key, its name, nothing else."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import load_der_public_key

from auditor.errors import InputError
from auditor.source.tiles import CheckpointRejectedError, LogKeyVerifier
from auditor.verify.checkpoint import CheckpointFormatError
from testlog import TiledLog, Witness

DATA = Path(__file__).resolve().parents[1] / "data" / "sigstore"
STAGING = "log2025-alpha1.rekor.sigstage.dev"


def _staging_key() -> ed25519.Ed25519PublicKey:
    root = json.loads((DATA / "staging_trusted_root.json").read_text())
    (tlog,) = [t for t in root["tlogs"] if t["baseUrl"] == f"https://{STAGING}"]
    key = load_der_public_key(base64.b64decode(tlog["publicKey"]["rawBytes"]))
    assert isinstance(key, ed25519.Ed25519PublicKey)
    return key


def _staging_checkpoint() -> str:
    bundle = json.loads((DATA / "staging-rekor-v2.txt.sigstore.json").read_text())
    envelope = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
    return str(envelope["envelope"])


def test_a_real_rekor_v2_checkpoint_verifies_under_the_trusted_root_key() -> None:
    checkpoint = LogKeyVerifier(STAGING, _staging_key())(_staging_checkpoint())
    assert (checkpoint.origin, checkpoint.size) == (STAGING, 646)


def test_a_real_checkpoint_under_another_name_or_key_is_rejected() -> None:
    with pytest.raises(CheckpointRejectedError, match=r"origin 'log2025-alpha1\.rekor\."
                       r"sigstage\.dev' is not the log's name 'log2025-alpha2"):
        LogKeyVerifier("log2025-alpha2.rekor.sigstage.dev", _staging_key())(_staging_checkpoint())
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises(CheckpointRejectedError, match="no signature line from a known key"):
        LogKeyVerifier(STAGING, other)(_staging_checkpoint())


def test_extension_lines_and_witness_lines_are_accepted() -> None:
    witness = Witness("witness.example/w", ed25519.Ed25519PrivateKey.generate())
    log = TiledLog("tiles.example/log", witnesses=[witness], extensions=["ext 1", "ext 2"])
    log.extend([b"a", b"b", b"c"])
    checkpoint = LogKeyVerifier(log.name, log.public_key)(log.checkpoint())
    assert checkpoint.extensions == ("ext 1", "ext 2")
    assert checkpoint.root_hash == log.root()
    assert len(checkpoint.signatures) == 2


def test_a_tampered_checkpoint_is_rejected_and_a_malformed_one_is_an_input_error() -> None:
    log = TiledLog("tiles.example/log")
    log.extend([b"a", b"b", b"c"])
    verifier = LogKeyVerifier(log.name, log.public_key)
    lines = log.checkpoint().split("\n")
    lines[1] = "4"
    with pytest.raises(CheckpointRejectedError, match="does not verify"):
        verifier("\n".join(lines))
    with pytest.raises(CheckpointFormatError) as error:
        verifier("tiles.example/log\n3\n")
    assert isinstance(error.value, InputError)
