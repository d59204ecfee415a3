"""Hostile log documents: any mutation of a real entry is an InputError or a verdict, never a
crash, and never a pass for an altered entry."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.errors import InputError
from auditor.source.documents import parse_log_document
from auditor.source.entry import LogEntry
from auditor.verify.entry import EndorsementMaterial, verify_entry
from auditor.verify.keys import load_public_key
from auditor.verify.trust import load_keyring
from tests.oakdata import REKOR_KEY, RELEASE

KERNEL = RELEASE / "components/kernel"
DOCUMENT: dict[str, Any] = json.loads((KERNEL / "logentry.json").read_bytes())
KEYRING = load_keyring([REKOR_KEY], None)
MATERIAL = EndorsementMaterial(
    artifact=(KERNEL / "endorsement.json").read_bytes(),
    subject=(KERNEL / "subject.bin").read_bytes(),
    endorser_keys=(load_public_key((KERNEL / "endorser_public_key.pem").read_bytes()),))


# Every path to a leaf value in the entry document (body decoded separately below).
def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths(v, (*prefix, k))] or [prefix]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _paths(v, (*prefix, i))] or [prefix]
    return [prefix]


PATHS = _paths(DOCUMENT)
HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.text(max_size=40), st.lists(st.integers(), max_size=3),
                    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _set(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    if path:
        target[path[-1]] = value


def _verdict(document: Any) -> bool | None:
    """True/False verification outcome, or None when the document is rejected as input."""
    try:
        parsed = parse_log_document(json.dumps(document).encode(), source="fuzz")
    except InputError:
        return None
    assert isinstance(parsed, LogEntry)
    return verify_entry(parsed, KEYRING, MATERIAL).ok


def test_the_real_document_passes() -> None:
    assert _verdict(DOCUMENT) is True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), HOSTILE)
def test_any_replaced_field_is_rejected_or_fails(path: tuple[Any, ...], value: Any) -> None:
    document = copy.deepcopy(DOCUMENT)
    original: Any = DOCUMENT
    for key in path:
        original = original[key]
    if value == original and type(value) is type(original):
        return
    _set(document, path, value)
    assert _verdict(document) is not True


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_altered_body_field_fails(data: st.DataObject) -> None:
    document = copy.deepcopy(DOCUMENT)
    (entry,) = document.values()
    body = json.loads(base64.b64decode(entry["body"]))
    paths = _paths(body)
    path = data.draw(st.sampled_from(paths))
    value = data.draw(HOSTILE)
    original: Any = body
    for key in path:
        original = original[key]
    if value == original and type(value) is type(original):
        return
    _set(body, path, value)
    entry["body"] = base64.b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()
    assert _verdict(document) is not True


def test_a_uuid_key_with_a_trailing_newline_is_not_a_uuid() -> None:
    """`$` also matches before a final newline: such a key was taken for a UUID and stored
    with its newline (then failed leaf_hash), where it is no entry UUID at all."""
    ((uuid, entry),) = DOCUMENT.items()
    assert _verdict({uuid + "\n": entry}) is None
