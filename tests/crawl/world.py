"""The local log of endorsements the crawl tests run against, and what they read back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from auditor.store import models
from auditor.store.database import open_database
from testlog import Endorser, RekorLog, RunningServer
from testlog.synthetic import Endorsement, add_endorsements, endorse
from tests.cli_runner import RunAudit


def key_flags(directory: Path, endorsers: list[Endorser]) -> list[str]:
    """`--key COMPONENT=PEM` for each endorser, its PEM written into `directory`."""
    flags = []
    for endorser in endorsers:
        path = directory / f"{endorser.name}.pem"
        path.write_bytes(endorser.public_pem)
        flags += ["--key", f"{endorser.name}={path}"]
    return flags


def save_statements(directory: Path, endorsements: list[Endorsement]) -> None:
    """Each endorsement's statement under its content address, as `--statements DIR` reads."""
    directory.mkdir(exist_ok=True)
    for endorsement in endorsements:
        (directory / f"sha2-256:{endorsement.statement_sha256}").write_bytes(
            endorsement.statement)


@dataclass
class World:
    """A local log with endorsements by three component keys and one stranger."""

    log: RekorLog
    server: RunningServer
    endorsers: list[Endorser]
    stranger: Endorser
    endorsements: list[Endorsement]
    directory: Path
    log_key: Path
    statements: Path

    def key_flags(self, endorsers: list[Endorser] | None = None) -> list[str]:
        return key_flags(self.directory, endorsers or self.endorsers)

    def flags(self, endorsers: list[Endorser] | None = None) -> list[str]:
        return ["--rekor-url", self.server.url, "--rekor-key", str(self.log_key),
                "--statements", str(self.statements), "--rate", "1000",
                *self.key_flags(endorsers)]

    def publish(self, endorser: Endorser, subject: bytes) -> Endorsement:
        endorsement = endorse(self.log, endorser, subject)
        self.save_statement(endorsement)
        self.endorsements.append(endorsement)
        return endorsement

    def save_statement(self, endorsement: Endorsement) -> None:
        save_statements(self.statements, [endorsement])

    def pinned(self, endorsers: list[Endorser] | None = None) -> list[Endorsement]:
        names = {e.name for e in endorsers or self.endorsers}
        return [e for e in self.endorsements if e.endorser.name in names]


@pytest.fixture
def world(rekor_log: RekorLog, rekor_server: RunningServer, endorsers: list[Endorser],
          tmp_path: Path) -> World:
    stranger = Endorser("stranger")
    endorsements = add_endorsements(rekor_log, [*endorsers, stranger], 40)
    statements = tmp_path / "statements"
    statements.mkdir()
    log_key = tmp_path / "log.pem"
    log_key.write_bytes(rekor_log.signer.public_pem)
    result = World(rekor_log, rekor_server, endorsers, stranger, endorsements, tmp_path, log_key,
                   statements)
    for endorsement in endorsements:
        result.save_statement(endorsement)
    return result


def crawl(audit: RunAudit, world: World, *extra: str,
          endorsers: list[Endorser] | None = None) -> tuple[int, dict[str, Any]]:
    result = audit("crawl", *world.flags(endorsers), *extra, "--json")
    assert "Traceback" not in result.stderr
    summary: dict[str, Any] = json.loads(result.stdout) if result.stdout else {}
    return result.exit_code, summary


def quick_retries(directory: Path) -> list[str]:
    """Flags for a config whose retries wait a few milliseconds: a test of giving up need not
    wait out the default backoffs (16 s on average, 31 s at worst, for 6 retries)."""
    config = directory / "quick-retries.toml"
    config.write_text("[log]\nbackoff_base = 0.005\n")
    return ["--config", str(config)]


def stored(db_url: str) -> dict[str, int]:
    with open_database(db_url)() as session:
        entries = list(session.scalars(select(models.Entry)))
        return {
            "entries": len(entries),
            "distinct": len({e.leaf_hash for e in entries}),
            "endorsements": session.scalar(select(func.count()).select_from(
                models.Endorsement)) or 0,
            "failed": session.scalar(select(func.count()).select_from(models.Verification)
                                     .where(models.Verification.ok.is_(False))) or 0,
        }


def rules(summary: dict[str, Any]) -> list[str]:
    return sorted(f["rule"] for f in summary["findings"])
