"""An inclusion proof's hashes are parsed at once, and a bad one is still named exactly."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from auditor.errors import InputError
from auditor.source.rekor_v1 import parse_entry_document
from tests.oakdata import RELEASE

DOCUMENT: dict[str, Any] = json.loads(
    (RELEASE / "components/kernel/logentry.json").read_bytes())
((UUID, ENTRY),) = DOCUMENT.items()
HASHES: list[str] = ENTRY["verification"]["inclusionProof"]["hashes"]
WHERE = f"test: entry {UUID[:24]}.inclusionProof.hashes"


def with_hash(index: int, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    document[UUID]["verification"]["inclusionProof"]["hashes"][index] = value
    return document


def test_the_real_hashes_in_order() -> None:
    proof = parse_entry_document(DOCUMENT, source="test").proof
    assert proof is not None and len(HASHES) > 3
    assert proof.hashes == tuple(bytes.fromhex(h) for h in HASHES)


@pytest.mark.parametrize(("value", "problem"), [
    (7, "not a string"), (None, "not a string"), (["ab"], "not a string"),
    ("zz" * 32, "not valid hex"), ("abc", "not valid hex")])
def test_a_bad_hash_is_named(value: Any, problem: str) -> None:
    index = len(HASHES) - 2
    with pytest.raises(InputError) as raised:
        parse_entry_document(with_hash(index, value), source="test")
    assert str(raised.value) == f"{WHERE}[{index}]: {problem}"


def test_the_first_bad_hash_is_the_one_named() -> None:
    document = with_hash(1, "xy")
    document[UUID]["verification"]["inclusionProof"]["hashes"][3] = 5
    with pytest.raises(InputError, match=r"hashes\[1\]: not valid hex"):
        parse_entry_document(document, source="test")
