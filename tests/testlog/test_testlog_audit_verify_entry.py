"""Entries served by the local Rekor pass the project's own verifier, ``audit verify-entry``.

The auditor's verifier is validated on the real Oak entries of the public log; if it
accepts what the local log serves (and rejects each tampering with the matching check),
the local log is faithful enough to test the crawler with.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from testlog import Endorser, RekorLog, RunningServer, add_endorsements
from testlog.synthetic import Endorsement


def _audit(*args: str | Path) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "verify-entry", *map(str, args), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, json.loads(done.stdout)


def _failed(report: dict[str, Any]) -> list[str]:
    return [c["name"] for c in report["checks"] if c["ok"] is False]


@pytest.fixture
def endorsement(
    rekor_log: RekorLog, endorsers: list[Endorser], rekor_server: RunningServer
) -> Endorsement:
    add_endorsements(rekor_log, endorsers, 6)
    rekor_log.rotate()
    return add_endorsements(rekor_log, endorsers, 5)[3]


def _files(tmp_path: Path, server: RunningServer, endorsement: Endorsement) -> dict[str, Path]:
    index = endorsement.entry.virtual_index
    response = requests.get(f"{server.url}/api/v1/log/entries?logIndex={index}", timeout=10)
    assert response.status_code == 200
    files = {
        "entry": tmp_path / "logentry.json",
        "log_key": tmp_path / "rekor.pem",
        "endorser": tmp_path / "endorser.pem",
        "artifact": tmp_path / "endorsement.json",
        "subject": tmp_path / "subject.bin",
    }
    files["entry"].write_bytes(response.content)
    files["log_key"].write_bytes(server.log.signer.public_pem)
    files["endorser"].write_bytes(endorsement.endorser.public_pem)
    files["artifact"].write_bytes(endorsement.statement)
    files["subject"].write_bytes(endorsement.subject)
    return files


def _verify(files: dict[str, Path]) -> tuple[int, dict[str, Any]]:
    return _audit(files["entry"], "--rekor-key", files["log_key"],
                  "--endorser-key", files["endorser"], "--artifact", files["artifact"],
                  "--subject", files["subject"])  # fmt: skip


def test_a_served_rekord_entry_passes_audit_verify_entry(
    tmp_path: Path, rekor_server: RunningServer, endorsement: Endorsement
) -> None:
    code, report = _verify(_files(tmp_path, rekor_server, endorsement))
    assert (code, _failed(report)) == (0, [])
    assert report["ok"] is True
    assert report["entry"]["log_index"] == 9 and report["entry"]["shard_index"] == 3
    assert {c["name"] for c in report["checks"] if c["ok"]} >= {
        "inclusion_proof", "checkpoint_signature", "set", "endorser_key", "subject"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("switch", "check"),
    [("tamper_inclusion_proof", "inclusion_proof"), ("tamper_set", "set"),
     ("tamper_checkpoint", "checkpoint_signature"),
     ("repeat_signature", "checkpoint_signature")],
)  # fmt: skip
def test_audit_verify_entry_names_each_tampering(
    tmp_path: Path,
    rekor_server: RunningServer,
    endorsement: Endorsement,
    switch: str,
    check: str,
) -> None:
    setattr(rekor_server.faults, switch, True)
    code, report = _verify(_files(tmp_path, rekor_server, endorsement))
    assert code == 1
    assert check in _failed(report)


def test_a_served_hashedrekord_by_a_key_passes_audit_verify_entry(
    tmp_path: Path, rekor_log: RekorLog, rekor_server: RunningServer
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    endorser = Endorser("kernel", key)
    artifact = b"a file signed as a hashedrekord\n"
    digest = hashlib.sha256(artifact).digest()
    signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    entry = rekor_log.add_hashedrekord(digest, signature, endorser.public_pem)
    served = requests.get(f"{rekor_server.url}/api/v1/log/entries/{entry.uuid}", timeout=10)
    (tmp_path / "entry.json").write_bytes(served.content)
    (tmp_path / "rekor.pem").write_bytes(rekor_log.signer.public_pem)
    (tmp_path / "key.pem").write_bytes(endorser.public_pem)
    code, report = _audit(tmp_path / "entry.json", "--rekor-key", tmp_path / "rekor.pem",
                          "--endorser-key", tmp_path / "key.pem")  # fmt: skip
    assert (code, _failed(report)) == (0, [])
    assert report["entry"]["kind"] == "hashedrekord"
