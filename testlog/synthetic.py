"""Synthetic Oak-style endorsements: keys, in-toto statements, and their ``rekord`` entries
(Rekor v1) or ``hashedrekord`` 0.0.2 entries (Rekor v2, tiled logs).

Shaped like Oak's (``tests/data/oak/**/endorsement.json``): an in-toto Statement v1 with
the Oak endorsement predicate, one subject digest and a 90-day validity window starting
at the entry's integratedTime, signed ECDSA P-256 / SHA-256 (DER) by an endorser key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from testlog.log import LogEntry, RekorLog

OAK_ENDORSEMENT_PREDICATE = "https://project-oak.github.io/oak/tr/endorsement/v1"
VALIDITY = dt.timedelta(days=90)


class Endorser:
    """An endorser (component) signing key."""

    def __init__(self, name: str, private_key: ec.EllipticCurvePrivateKey | None = None):
        self.name = name
        self.private_key = private_key or ec.generate_private_key(ec.SECP256R1())
        self.public_pem: bytes = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))


@dataclass(frozen=True)
class Endorsement:
    """A logged endorsement: the statement, its signature, its key, and the log entry."""

    endorser: Endorser
    statement: bytes
    signature: bytes
    subject: bytes
    entry: LogEntry

    @property
    def statement_sha256(self) -> str:
        return hashlib.sha256(self.statement).hexdigest()


def oak_statement(subject_name: str, subject: bytes, issued: int) -> bytes:
    """An Oak endorsement statement for ``subject``, valid for 90 days from ``issued``."""
    start = dt.datetime.fromtimestamp(issued, tz=dt.UTC)

    def stamp(t: dt.datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "predicateType": OAK_ENDORSEMENT_PREDICATE,
        "subject": [
            {"name": subject_name, "digest": {"sha256": hashlib.sha256(subject).hexdigest()}}
        ],
        "predicate": {
            "issuedOn": stamp(start),
            "validity": {"notBefore": stamp(start), "notAfter": stamp(start + VALIDITY)},
            "claims": [],
        },
    }
    return json.dumps(statement, indent=2).encode() + b"\n"


def endorse(
    log: RekorLog, endorser: Endorser, subject: bytes, *, integrated_time: int | None = None
) -> Endorsement:
    """Sign an Oak statement about ``subject`` with ``endorser`` and log it as a ``rekord``."""
    issued = log.clock() if integrated_time is None else integrated_time
    statement = oak_statement(endorser.name, subject, issued)
    signature = endorser.sign(statement)
    # The signature was made just above: skip the log's own check (a third of the cost).
    entry = log.add_rekord(
        statement,
        signature,
        endorser.public_pem,
        integrated_time=integrated_time,
        check_signature=False,
    )
    return Endorsement(endorser, statement, signature, subject, entry)


def add_endorsements(
    log: RekorLog, endorsers: Sequence[Endorser], count: int, *, start_time: int | None = None
) -> list[Endorsement]:
    """Log ``count`` endorsements, round-robin over ``endorsers``, one second apart: from
    ``start_time``, else from the log's clock, but never into the future (an auditor fails an
    entry dated more than an hour past when it was served: 20,000 entries one second apart
    from now end 5.5 hours ahead), so a large batch ends now."""
    base = log.clock() if start_time is None else start_time
    if start_time is None:
        base = min(base, int(time.time()) - count + 1)
    out = []
    for i in range(count):
        endorser = endorsers[i % len(endorsers)]
        subject = f"{endorser.name} build {log.size}".encode()  # unique per log position
        out.append(endorse(log, endorser, subject, integrated_time=base + i))
    return out


def tiled_endorsement(endorser: Endorser, subject: bytes, issued: int, *,
                      certificate: bytes | None = None) -> tuple[bytes, bytes]:
    """(statement, entry): an Oak statement about ``subject`` valid for 90 days from ``issued``,
    and the Rekor v2 ``hashedrekord`` 0.0.2 entry of its signature by ``endorser`` (its bare
    key, or the DER ``certificate`` issued for it)."""
    from testlog.tiles import hashedrekord_v002, spki_der

    statement = oak_statement(endorser.name, subject, issued)
    digest, signature = hashlib.sha256(statement).digest(), endorser.sign(statement)
    if certificate is not None:
        return statement, hashedrekord_v002(digest, signature, certificate_der=certificate)
    return statement, hashedrekord_v002(digest, signature,
                                        public_key_der=spki_der(endorser.private_key))
