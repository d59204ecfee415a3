"""Hostile JSON: the exact duplicate-key check runs only where a colon is not a member's own."""

from __future__ import annotations

import pytest

from auditor.source.json_input import DuplicateKeyError, JsonInputError, loads


@pytest.mark.parametrize("text", [
    b'{"a":1,"a":2}',
    b'{"x":[{"b":{"c":1,"c":1}}]}',
    b'{"url":"https://example","a":{"k":"v:w","k":"v"}}',  # colons in strings besides
])
def test_a_key_twice_is_refused_at_any_depth(text: bytes) -> None:
    with pytest.raises(DuplicateKeyError, match="duplicate JSON key"):
        loads(text, "doc")
    assert isinstance(loads(text, "doc", duplicates=True), dict)


def test_colons_inside_strings_are_no_duplicate() -> None:
    assert loads(b'{"a":"x:y:z","b":["::",{"c":":"}]}', "doc") == {
        "a": "x:y:z", "b": ["::", {"c": ":"}]}


def test_a_document_of_too_many_values_is_refused_whatever_its_size() -> None:
    with pytest.raises(JsonInputError, match="more than 10 values"):
        loads(b"[" + b"0," * 10 + b"0]", "doc", max_items=10)
    assert loads(b"[0,0]", "doc", max_items=4) == [0, 0]
