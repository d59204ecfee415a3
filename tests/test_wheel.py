"""An installed wheel carries what it needs at run time: migrations, shipped keys, the demo."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_runs_the_offline_demo_from_its_own_files(tmp_path: Path, db_url: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(tmp_path / "dist"), str(ROOT)], check=True,
                   capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("auditor-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
        names = archive.namelist()
    assert not [n for n in names if n.startswith(("tests/", "testlog/"))]
    demo = site / "auditor" / "_reference_values" / "demo" / "oak.toml"
    assert demo.exists() and (site / "auditor" / "_migrations" / "env.py").exists()
    env = {**os.environ, "PYTHONPATH": str(site), "AUDITOR_DB": db_url}
    code = ("import auditor.store.database as d, auditor.keyset as c;"
            "print(d.migrations_dir()); print(c.shipped_reference_values()[0])")
    where = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True,
                           capture_output=True, text=True).stdout.split()
    assert all(str(site) in path for path in where), where
    result = subprocess.run([sys.executable, "-m", "auditor", "run", "--config", str(demo),
                             "--offline"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr  # the demo's real findings
    assert "ENDORSED_NOT_LOGGED" in result.stderr and "6 MATCH" in result.stderr
