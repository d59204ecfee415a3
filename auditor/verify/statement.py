"""Oak endorsement statements (in-toto Statement v1, Oak endorsement predicate v1).

The statement is kept as the exact bytes that were signed; this module only reads it. Older Oak
formats that still sit in the log are classified as legacy, never crashed on (Oak `docs/tr/`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from auditor.source.fields import rfc3339
from auditor.source.json_input import JsonInputError, loads
from auditor.wording import quoted

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
OAK_ENDORSEMENT_V1 = "https://project-oak.github.io/oak/tr/endorsement/v1"
_LEGACY_MARKERS = ("amber-endorsement", "transparent-release/claim/v1")

# Multicodec-style names Oak uses, folded onto one spelling per algorithm.
_DIGEST_ALIASES = {
    "sha2_256": "sha256",
    "sha2-256": "sha256",
    "sha2_384": "sha384",
    "sha2-384": "sha384",
    "sha2_512": "sha512",
    "sha2-512": "sha512",
    "sha3-224": "sha3_224",
    "sha3-256": "sha3_256",
    "sha3-384": "sha3_384",
    "sha3-512": "sha3_512",
}


class StatementFormat(StrEnum):
    OAK_V1 = "oak-endorsement-v1"
    LEGACY = "legacy"
    OTHER_INTOTO = "other-in-toto"
    NOT_A_STATEMENT = "not-a-statement"


class StatementError(Exception):
    """A statement that claims the v1 format but breaks it (an expected outcome)."""


@dataclass(frozen=True)
class Subject:
    name: str
    digests: dict[str, str]


@dataclass(frozen=True)
class Statement:
    format: StatementFormat
    predicate_type: str | None
    subjects: tuple[Subject, ...] = ()
    issued_on: datetime | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    claims: tuple[str, ...] = field(default_factory=tuple)

    @property
    def subject(self) -> Subject | None:
        return self.subjects[0] if len(self.subjects) == 1 else None


def normalize_digests(digests: dict[str, str]) -> dict[str, str]:
    return {_DIGEST_ALIASES.get(k.lower(), k.lower()): v.lower() for k, v in digests.items()}


class DigestComparison(StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    UNDECIDABLE = "undecidable"  # no algorithm in common
    CONTRADICTORY = "contradictory"  # some shared algorithms agree, others do not


def compare_digests(a: dict[str, str], b: dict[str, str]) -> DigestComparison:
    """A match needs a shared algorithm and every shared one equal (no shared one: undecidable)."""
    left, right = normalize_digests(a), normalize_digests(b)
    shared = left.keys() & right.keys()
    if not shared:
        return DigestComparison.UNDECIDABLE
    equal = [left[k] == right[k] for k in shared]
    if all(equal):
        return DigestComparison.MATCH
    return DigestComparison.CONTRADICTORY if any(equal) else DigestComparison.MISMATCH


def _time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise StatementError(f"{what} is missing or not a string")
    parsed = rfc3339(value)
    if parsed is None:
        raise StatementError(f"{what} {quoted(value)} is not an RFC 3339 timestamp (with its "
                             "offset, in the years 1 to 9999)")
    return parsed


def _subjects(document: dict[str, Any]) -> tuple[Subject, ...]:
    raw = document.get("subject")
    if not isinstance(raw, list):
        raise StatementError("subject is not a list")
    subjects = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("digest"), dict):
            raise StatementError(f"subject[{i}] has no digest map")
        digests = item["digest"]
        if not digests or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in digests.items()
        ):
            raise StatementError(f"subject[{i}].digest must map algorithm names to hex strings")
        name = item.get("name", "")
        if not isinstance(name, str):  # Oak's (serde) Subject takes a string, nothing else
            raise StatementError(f"subject[{i}].name is not a string")
        subjects.append(Subject(name=name, digests=dict(digests)))
    return tuple(subjects)


def _oak_v1(document: dict[str, Any]) -> Statement:
    subjects = _subjects(document)
    if len(subjects) != 1:
        raise StatementError(f"an Oak endorsement has exactly one subject, found {len(subjects)}")
    predicate = document.get("predicate")
    if not isinstance(predicate, dict):
        raise StatementError("predicate is missing")
    validity = predicate.get("validity")
    if not isinstance(validity, dict):
        raise StatementError("predicate.validity is missing")
    claims = predicate.get("claims", [])
    if not isinstance(claims, list) or not all(
        isinstance(c, dict) and isinstance(c.get("type"), str) for c in claims
    ):
        raise StatementError("predicate.claims must be a list of {type: URI}")
    not_before = _time(validity.get("notBefore"), "validity.notBefore")
    not_after = _time(validity.get("notAfter"), "validity.notAfter")
    if not_after < not_before:
        raise StatementError("validity.notAfter is before validity.notBefore")
    return Statement(
        format=StatementFormat.OAK_V1,
        predicate_type=OAK_ENDORSEMENT_V1,
        subjects=subjects,
        issued_on=_time(predicate.get("issuedOn"), "predicate.issuedOn"),
        not_before=not_before,
        not_after=not_after,
        claims=tuple(c["type"] for c in claims),
    )


def parse_statement(raw: bytes) -> Statement:
    """Classify and read a statement. Raises StatementError only for a broken Oak v1 one."""
    try:
        document = loads(raw, "statement")
    except JsonInputError:
        return Statement(StatementFormat.NOT_A_STATEMENT, None)
    if not isinstance(document, dict):
        return Statement(StatementFormat.NOT_A_STATEMENT, None)
    statement_type = document.get("_type")
    predicate_type = document.get("predicateType")
    if not isinstance(statement_type, str) or not statement_type.startswith(
        "https://in-toto.io/Statement/"
    ):
        return Statement(StatementFormat.NOT_A_STATEMENT, None)
    predicate = predicate_type if isinstance(predicate_type, str) else None
    if statement_type == STATEMENT_V1 and predicate == OAK_ENDORSEMENT_V1:
        return _oak_v1(document)
    fmt = (
        StatementFormat.LEGACY
        if predicate and any(m in predicate for m in _LEGACY_MARKERS)
        else StatementFormat.OTHER_INTOTO
    )
    try:
        subjects = _subjects(document)
    except StatementError:
        subjects = ()
    return Statement(fmt, predicate, subjects=subjects)
