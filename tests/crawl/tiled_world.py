"""A local tiled log (Rekor v2-style entries) whose entries under each pinned key are known."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from auditor.store import models
from auditor.store.database import open_database
from auditor.verify.note_keys import NoteKey, SignatureType
from testlog import Endorser, FulcioLikeIssuer, RunningTileServer, TiledLog
from testlog.synthetic import tiled_endorsement
from testlog.tiles import dsse_v002, hashedrekord_v002, spki_der
from tests.cli_runner import RunAudit
from tests.crawl.world import key_flags

DAY = 86_400
ISSUER = FulcioLikeIssuer()
#: A key no component pins (its entries are counted, never stored).
STRANGER = ec.generate_private_key(ec.SECP256R1())


def vkey(log: TiledLog) -> str:
    """The log's signed-note verifier key (`<name>+<hex id>+<base64(0x01 ‖ key)>`)."""
    return NoteKey(log.name, SignatureType.ED25519, log.public_key.public_bytes_raw()).vkey


@dataclass
class TiledWorld:
    """A served tiled log with Oak-style endorsements by pinned keys among other entries."""

    server: RunningTileServer
    endorsers: list[Endorser]
    directory: Path
    #: Index -> (component, leaf hash) of every entry under a pinned key, and its statement.
    pinned: dict[int, tuple[str, str]] = field(default_factory=dict)
    statement_of: dict[int, bytes] = field(default_factory=dict)
    unparsable: set[int] = field(default_factory=set)

    @property
    def log(self) -> TiledLog:
        return self.server.log

    @property
    def statements(self) -> Path:
        path = self.directory / "statements"
        path.mkdir(exist_ok=True)
        return path

    def key_flags(self, endorsers: list[Endorser] | None = None) -> list[str]:
        return key_flags(self.directory, endorsers or self.endorsers)

    def flags(self, endorsers: list[Endorser] | None = None) -> list[str]:
        return ["--tiled-log", self.server.url, "--log-verifier", vkey(self.log),
                "--statements", str(self.statements), "--rate", "1000",
                *self.key_flags(endorsers)]

    def publish(self, endorser: Endorser, *, certificate: bool = False, issued: int | None = None,
                save: bool = True) -> int:
        """Log an Oak endorsement by `endorser` (valid from a day ago); its index."""
        index = self.log.size
        issued = int(time.time()) - DAY if issued is None else issued
        issued_to = ISSUER.issue(endorser.private_key.public_key(), number=index) \
            if certificate else None
        statement, entry = tiled_endorsement(
            endorser, b"%s build %d" % (endorser.name.encode(), index), issued,
            certificate=issued_to)
        self.statement_of[index] = statement
        if save:
            self.save(statement)
        self.log.append(entry)
        self.pinned[index] = (endorser.name, hashlib.sha256(b"\0" + entry).hexdigest())
        return index

    def save(self, statement: bytes) -> None:
        (self.statements / f"sha2-256:{hashlib.sha256(statement).hexdigest()}").write_bytes(
            statement)

    def grow(self, count: int) -> None:
        """Append `count` entries: endorsements by the pinned keys in turn (every 11th, every
        other one with a certificate), junk (every 97th), DSSE and plain entries by a stranger."""
        for _ in range(count):
            i = self.log.size
            if i % 11 == 3:
                endorser = self.endorsers[(i // 11) % len(self.endorsers)]
                self.publish(endorser, certificate=bool(i % 2))
            elif i % 97 == 5:
                self.log.append(b"not a log entry %d" % i)
                self.unparsable.add(i)
            elif i % 41 == 7:
                self.log.append(dsse_v002(hashlib.sha256(b"%d" % i).digest(),
                                          [(b"sig", spki_der(STRANGER), None)]))
            else:
                self.log.append(hashedrekord_v002(hashlib.sha256(b"%d" % i).digest(), b"sig",
                                                  public_key_der=spki_der(STRANGER)))

    def expected(self, endorsers: list[Endorser] | None = None) -> set[tuple[int, str]]:
        names = {e.name for e in endorsers or self.endorsers}
        return {(i, leaf) for i, (name, leaf) in self.pinned.items() if name in names}


def crawl(audit: RunAudit, world: TiledWorld, *extra: str,
          endorsers: list[Endorser] | None = None) -> tuple[int, dict[str, Any]]:
    result = audit("crawl", *world.flags(endorsers), *extra, "--json")
    assert "Traceback" not in result.stderr, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout) if result.stdout else {}
    return result.exit_code, summary


def stored_entries(db_url: str) -> set[tuple[int, str]]:
    """(log index, leaf hash) of every stored entry; fails on a duplicate."""
    with open_database(db_url)() as session:
        rows = [(e.log_index, e.leaf_hash) for e in session.scalars(select(models.Entry))]
    assert len(rows) == len(set(rows)), "an entry was stored twice"
    return set(rows)


def failed_verifications(db_url: str) -> int:
    with open_database(db_url)() as session:
        return session.scalar(select(func.count()).select_from(models.Verification)
                              .where(models.Verification.ok.is_(False))) or 0


def rules(summary: dict[str, Any]) -> list[str]:
    return sorted(f["rule"] for f in summary["findings"])
