"""scripts/testlog_serve.py starts a populated log, prints where things are, stops on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import requests
from cryptography.hazmat.primitives import serialization

SCRIPT = Path(__file__).parents[2] / "scripts" / "testlog_serve.py"


def test_the_demo_server_serves_its_entries_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--entries", "7", "--keys", "2", "--shards", "2",
         "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().rstrip("\n").split(": ", 1) for _ in range(5))
        info = requests.get(lines["url"] + "/api/v1/log", timeout=10).json()
        assert info["treeSize"] + info["inactiveShards"][0]["treeSize"] == 7
        key = requests.get(lines["url"] + "/api/v1/log/publicKey", timeout=10).content
        assert Path(lines["log key"]).read_bytes() == key
        serialization.load_pem_public_key(key)
        assert sorted(p.name for p in Path(lines["endorser keys"]).iterdir()) == [
            "kernel.pem",
            "stage0.pem",
        ]
        assert len(list(Path(lines["statements"]).iterdir())) == 7
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
