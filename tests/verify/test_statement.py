from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from auditor.verify.statement import (
    DigestComparison,
    StatementError,
    StatementFormat,
    compare_digests,
    parse_statement,
)
from tests.oakdata import RELEASE, SINGLE


def test_real_release_statement_parses() -> None:
    raw = (RELEASE / "components/stage0/endorsement.json").read_bytes()
    statement = parse_statement(raw)
    assert statement.format is StatementFormat.OAK_V1
    assert statement.subject is not None
    document = json.loads(raw)
    assert statement.subject.name == document["subject"][0]["name"]
    assert statement.subject.digests == document["subject"][0]["digest"]
    assert statement.not_before == datetime(2025, 6, 3, 2, 17, 36, 762000, tzinfo=UTC)
    assert statement.not_after == datetime(2025, 9, 1, 2, 17, 36, 762000, tzinfo=UTC)
    assert len(statement.claims) == len(document["predicate"]["claims"])


def _statement(**changes: object) -> bytes:
    document = json.loads((SINGLE / "endorsement.json").read_bytes())
    document.update(changes)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("statement_type", "predicate", "expected"),
    [
        ("https://in-toto.io/Statement/v0.1",
         "https://github.com/project-oak/transparent-release/schema/amber-endorsement/v1",
         StatementFormat.LEGACY),
        ("https://in-toto.io/Statement/v1",
         "https://github.com/project-oak/transparent-release/claim/v1", StatementFormat.LEGACY),
        ("https://in-toto.io/Statement/v1", "https://slsa.dev/provenance/v1",
         StatementFormat.OTHER_INTOTO),
    ],
)
def test_other_formats_are_classified(statement_type: str, predicate: str,
                                      expected: StatementFormat) -> None:
    raw = _statement(_type=statement_type, predicateType=predicate)
    assert parse_statement(raw).format is expected


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"[]", b'{"a": 1}', b"null"])
def test_non_statements(raw: bytes) -> None:
    assert parse_statement(raw).format is StatementFormat.NOT_A_STATEMENT


@pytest.mark.parametrize(
    "broken",
    [
        {"subject": []},
        {"subject": [{"name": "a", "digest": {}}]},
        # A name that is no string was reported as its Python spelling ('None', '7').
        {"subject": [{"name": None, "digest": {"sha256": "aa"}}]},
        {"subject": [{"name": 7, "digest": {"sha256": "aa"}}]},
        {"subject": [{"name": ["a"], "digest": {"sha256": "aa"}}]},
        {"subject": [{"name": "a", "digest": {"sha256": "aa"}}, {"name": "b",
                                                                  "digest": {"sha256": "bb"}}]},
        {"predicate": {"issuedOn": "2024-01-01T00:00:00Z"}},
        {"predicate": {"issuedOn": "x", "validity": {"notBefore": "2024-01-01T00:00:00Z",
                                                      "notAfter": "2024-02-01T00:00:00Z"}}},
        {"predicate": {"issuedOn": "2024-01-01T00:00:00Z",
                       "validity": {"notBefore": "2024-03-01T00:00:00Z",
                                    "notAfter": "2024-02-01T00:00:00Z"}}},
        {"predicate": {"issuedOn": "2024-01-01T00:00:00",
                       "validity": {"notBefore": "2024-01-01T00:00:00Z",
                                    "notAfter": "2024-02-01T00:00:00Z"}}},
    ],
)
def test_broken_v1_statements_raise(broken: dict[str, object]) -> None:
    with pytest.raises(StatementError):
        parse_statement(_statement(**broken))


@pytest.mark.parametrize("issued", [
    "20240101T000000Z",  # ISO 8601 basic format: fromisoformat reads it, RFC 3339 does not
    "2024-W01-1T00:00:00Z",  # an ISO week date
    "2024-01-01T00:00Z",  # no seconds
    "0001-01-01T00:00:00+01:00",  # before the first instant Python holds
])
def test_a_time_that_is_not_rfc3339_breaks_a_v1_statement(issued: str) -> None:
    """Oak parses RFC 3339: an ISO 8601 form it refuses must not make a valid statement."""
    with pytest.raises(StatementError, match="is not an RFC 3339 timestamp"):
        parse_statement(_statement(predicate={
            "issuedOn": issued, "validity": {"notBefore": "2024-01-01T00:00:00Z",
                                             "notAfter": "2024-02-01T00:00:00Z"}}))


def test_rfc3339_spellings_of_one_instant_agree() -> None:
    instants = {parse_statement(_statement(predicate={
        "issuedOn": issued, "validity": {"notBefore": "2024-01-01T00:00:00Z",
                                         "notAfter": "2024-02-01T00:00:00Z"}})).issued_on
                for issued in ("2024-01-01T05:30:00+05:30", "2024-01-01t00:00:00z",
                               "2024-01-01 00:00:00Z", "2024-01-01T00:00:00.000Z")}
    assert len(instants) == 1


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ({"sha256": "AA"}, {"sha2_256": "aa"}, DigestComparison.MATCH),
        ({"sha256": "aa"}, {"sha256": "bb"}, DigestComparison.MISMATCH),
        ({"sha256": "aa"}, {"sha384": "aa"}, DigestComparison.UNDECIDABLE),
        ({"sha256": "aa", "sha2_384": "cc"}, {"sha2_256": "aa", "sha384": "dd"},
         DigestComparison.CONTRADICTORY),
    ],
)
def test_digest_comparison(a: dict[str, str], b: dict[str, str],
                           expected: DigestComparison) -> None:
    assert compare_digests(a, b) is expected
