"""Fast start: a query or `--help` loads only what it uses, and the report package no crawl or
network code. Each check runs in a fresh interpreter and reads its `sys.modules`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import auditor.report
from tests.oakdata import RELEASE

REPO = Path(__file__).resolve().parents[1]
#: Run `audit ARGS...` as the console script does, then write the loaded modules to a file.
RUN_AUDIT = """
import json, sys
from auditor.cli import main
try:
    main(sys.argv[2:])
except SystemExit as stop:
    code = stop.code
with open(sys.argv[1], "w") as out:
    json.dump({"exit": code, "modules": sorted(sys.modules)}, out)
"""
#: Packages no query, no `--help` and no report module needs.
NETWORK_AND_CRAWL = ("alembic", "requests", "urllib3", "auditor.crawl", "auditor.http_client",
                     "auditor.sources", "auditor.service", "auditor.notify")


def loaded(tmp_path: Path, *args: str, code: str = RUN_AUDIT) -> tuple[object, list[str]]:
    out = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code, str(out), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and out.exists(), done.stderr
    result = json.loads(out.read_text())
    return result["exit"], result["modules"]


def under(modules: list[str], packages: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)]


def test_report_modules_load_no_crawl_or_network_code(tmp_path: Path) -> None:
    names = sorted(f"auditor.report.{p.stem}" for p in Path(auditor.report.__file__).parent
                   .glob("*.py") if p.stem != "__init__")
    assert "auditor.report.html_page" in names and len(names) >= 10
    code = ("import importlib, json, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "json.dump({'exit': 0, 'modules': sorted(sys.modules)}, open(sys.argv[1], 'w'))\n")
    _, modules = loaded(tmp_path, code=code)
    assert set(names) <= set(modules)  # the check saw them loaded
    assert under(modules, NETWORK_AND_CRAWL) == []


def test_help_loads_no_store_network_or_tables(tmp_path: Path) -> None:
    code, modules = loaded(tmp_path, "--help")
    assert code == 0
    assert under(modules, (*NETWORK_AND_CRAWL, "sqlalchemy", "auditor.store", "jsonschema",
                           "rich.table", "cryptography", "google.protobuf",
                           "importlib.metadata")) == []
    assert "typer" in modules  # the check sees what was loaded


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A SQLite store holding Oak's real kernel endorsement."""
    database = tmp_path / "store.db"
    kernel = RELEASE / "components" / "kernel"
    code, _ = loaded(tmp_path, "import", str(kernel), "--key",
                     f"kernel={kernel / 'endorser_public_key.pem'}", "--db", str(database))
    assert code == 0
    return database


def test_a_component_query_loads_no_network_crawl_or_migrations(tmp_path: Path,
                                                                store: Path) -> None:
    code, modules = loaded(tmp_path, "component", "kernel", "--db", str(store))
    assert code == 0 and "auditor.store.views" in modules
    assert under(modules, (*NETWORK_AND_CRAWL, "jsonschema", "auditor.store.repository",
                           "sqlalchemy.dialects.postgresql", "auditor.cli.crawl",
                           "auditor.cli.measure")) == []
    # The table shows stored results: no verifier, no signature or protobuf library, and the
    # read models use the tables without building the ORM mapping.
    assert under(modules, ("auditor.verify.entry", "auditor.verify.receipts", "cryptography",
                           "google.protobuf", "auditor.store.models", "pydantic")) == []
    json_code, json_modules = loaded(tmp_path, "component", "kernel", "--json", "--db",
                                     str(store))
    assert json_code == 0 and under(json_modules, ("rich",)) == []


def test_a_run_without_tiled_logs_loads_no_tiled_log_code(tmp_path: Path) -> None:
    """The offline trial of a config (and every crawl) checks each configured tiled log's key
    and policy; with none configured it imported the tiled crawler and the whole tile stack
    for nothing (10-25 ms of every start)."""
    code, modules = loaded(tmp_path, "run", "--config",
                           str(REPO / "reference_values" / "demo" / "oak.toml"), "--offline",
                           "--db", f"sqlite:///{tmp_path / 'audit.db'}", "--report-dir",
                           str(tmp_path / "reports"))
    assert code == 1  # the demo's findings (see the README's quickstart)
    assert "auditor.service" in modules  # the check saw the run
    assert under(modules, ("auditor.crawl.tiled", "auditor.source.tiles")) == []
