"""Rekor v1 API documents: `GET /api/v1/log/entries/{uuid}` responses.

The response is `{uuid: {body, integratedTime, logID, logIndex, verification: {inclusionProof,
signedEntryTimestamp}}}` (sigstore/rekor `openapi.yaml`). Everything here is hostile input:
each field is type-checked and a malformed document is an InputError naming the field.
"""

from __future__ import annotations

import re
from typing import Any

from auditor.errors import InputError
from auditor.source.entry import InclusionProof, LogEntry
from auditor.source.fields import TIME_MAX, b64_field, bounded, hex_field
from auditor.source.json_input import loads

_UUID = re.compile(r"(?:[0-9a-f]{16})?[0-9a-f]{64}")


def _field(obj: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = obj.get(name)
    # bool is an int subclass: a JSON `true` is never a valid index or size.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(f"{where}: field {name!r} missing or not a {kind.__name__}")
    return value


def _proof(obj: Any, where: str) -> InclusionProof:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: not an object")
    hashes = _field(obj, "hashes", list, where)
    checkpoint = obj.get("checkpoint")
    if checkpoint is not None and not isinstance(checkpoint, str):
        raise InputError(f"{where}: checkpoint is not a string")
    return InclusionProof(
        log_index=bounded(_field(obj, "logIndex", int, where), f"{where}.logIndex"),
        tree_size=bounded(_field(obj, "treeSize", int, where), f"{where}.treeSize"),
        root_hash=hex_field(_field(obj, "rootHash", str, where), f"{where}.rootHash"),
        hashes=_hashes(hashes, where),
        checkpoint=checkpoint or None,
    )


def _hashes(hashes: list[Any], where: str) -> tuple[bytes, ...]:
    """The audit path's hashes. Every entry has a dozen or more: the message naming a bad one
    is built only when there is one."""
    try:
        return tuple(bytes.fromhex(h) for h in hashes)  # hex_field's parse, without the names
    except (TypeError, ValueError):
        pass
    for i, h in enumerate(hashes):
        if not isinstance(h, str):
            raise InputError(f"{where}.hashes[{i}]: not a string")
        hex_field(h, f"{where}.hashes[{i}]")
    raise AssertionError("unreachable: some hash did not parse")


def parse_entry_document(document: Any, *, source: str) -> LogEntry:
    """One entry from a parsed `{uuid: entry}` document."""
    if not isinstance(document, dict) or len(document) != 1:
        raise InputError(f"{source}: expected a JSON object with exactly one entry UUID key")
    ((uuid, entry),) = document.items()
    return parse_entry(uuid, entry, source=source)


def parse_entry(uuid: str, entry: Any, *, source: str) -> LogEntry:
    where = f"{source}: entry {uuid[:24]}"
    if not isinstance(uuid, str) or not _UUID.fullmatch(uuid):  # `$` would allow a "\n"
        raise InputError(f"{source}: {uuid!r} is not a 64- or 80-hex Rekor entry UUID")
    if not isinstance(entry, dict):
        raise InputError(f"{where}: not an object")
    body_text = _field(entry, "body", str, where)
    verification = entry.get("verification") or {}
    if not isinstance(verification, dict):
        raise InputError(f"{where}: verification is not an object")
    proof_obj = verification.get("inclusionProof")
    set_text = verification.get("signedEntryTimestamp")
    log_id = _field(entry, "logID", str, where)
    if set_text is not None and not isinstance(set_text, str):
        raise InputError(f"{where}: signedEntryTimestamp is not a string")
    return LogEntry(
        rekor_version=1,
        uuid=uuid,
        body=b64_field(body_text, f"{where}.body"),
        body_text=body_text,
        integrated_time=bounded(_field(entry, "integratedTime", int, where),
                                f"{where}.integratedTime", TIME_MAX),
        log_id=hex_field(log_id, f"{where}.logID", 32),
        log_index=bounded(_field(entry, "logIndex", int, where), f"{where}.logIndex"),
        proof=None if proof_obj is None else _proof(proof_obj, f"{where}.inclusionProof"),
        signed_entry_timestamp=None if not set_text else b64_field(set_text, f"{where}.SET"),
        log_id_text=log_id,
    )


def parse_entry_bytes(raw: bytes, *, source: str) -> LogEntry:
    return parse_entry_document(loads(raw, source), source=source)
