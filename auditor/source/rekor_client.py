"""The Rekor v1 read API over HTTP (sigstore/rekor `openapi.yaml`), for a busy public service
and a hostile one.

Transport (rate limit, retries, deadlines, Retry-After) is the shared `auditor.http_client`; this
module knows the API. Everything the log sends is hostile input: each document is type-checked
field by field and a document that does not match the API becomes a ``MalformedResponseError``
naming the URL, never a ``KeyError``/``TypeError`` traceback. Whether the entries *verify* is
not decided here (see ``auditor.verify``); this module only promises well-typed values.
"""

from __future__ import annotations

import base64
import json
import random
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization

from auditor.errors import IncompleteError, InputError
from auditor.http_client import (
    MAX_RESPONSE_BYTES,
    Deadline,
    HttpClient,
    HttpRefused,
    Retryable,
    RetryPolicy,
    one_line,
)
from auditor.source.entry import LogEntry
from auditor.source.json_input import JsonInputError, loads
from auditor.source.rekor_v1 import parse_entry
from auditor.web_url import checked_http_url

#: Rekor refuses more than 10 items (entryUUIDs + logIndexes + entries) per retrieve (422).
RETRIEVE_LIMIT = 10
_UUID = re.compile(r"(?:[0-9a-f]{16})?[0-9a-f]{64}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
# Trillian tree IDs are positive int64s, printed in decimal (the API's pattern is ^[0-9]+$).
_TREE_ID = re.compile(r"[0-9]{1,19}")
_INT64_MAX = 2**63 - 1
_API = "/api/v1"

T = TypeVar("T")

#: The log refused a request (exit 3: the source misbehaves; see `HttpRefused`).
RekorAPIError = HttpRefused


class MalformedResponseError(IncompleteError):
    """A complete HTTP answer whose document does not match the Rekor v1 API."""


class ConflictingAnswersError(MalformedResponseError):
    """One answer gave two different entries for one requested key (a UUID or an index)."""

    def __init__(self, message: str, key: str | int, answers: tuple[RawEntry, RawEntry]):
        super().__init__(message)
        self.key = key
        self.answers = answers


@dataclass(frozen=True)
class RawEntry:
    """One entry as served, its bytes for storage, and its parsed fields.

    ``uuid`` is the key the log answered with (usually the 80-hex form). ``raw`` is the JSON
    document ``{uuid: entry}`` for this one entry: the exact response bytes for a
    single-entry GET; for a batch retrieve, ``json.dumps({uuid: obj}, separators=(",", ":"))``
    of that element of the answer (the base64 body string, which the SET signs, is preserved
    verbatim either way).
    """

    uuid: str
    raw: bytes
    entry: LogEntry


@dataclass(frozen=True)
class ShardHead:
    """One shard's head as ``GET /log`` reports it (nothing here is verified yet)."""

    tree_id: int
    tree_size: int
    root_hash: bytes
    #: The signed note (checkpoint) text, as received.
    checkpoint: str


@dataclass(frozen=True)
class LogInfo:
    active: ShardHead
    #: Frozen shards, in the order the log lists them.
    inactive: tuple[ShardHead, ...]


@dataclass(frozen=True)
class ConsistencyProofResponse:
    root_hash: bytes
    hashes: tuple[bytes, ...]


@dataclass(frozen=True)
class RetrieveResult:
    """A batch retrieve, matched to the request by key (never by position).

    ``by_uuid`` is keyed by the requested UUID (lowercase, in the form requested: a 64-hex
    request may be answered by the 80-hex entry); ``by_index`` by the requested virtual index.
    """

    by_uuid: dict[str, RawEntry]
    by_index: dict[int, RawEntry]
    missing_uuids: tuple[str, ...]
    missing_indexes: tuple[int, ...]


class RekorClient:
    """A client for the read calls of the Rekor v1 API (sigstore/rekor `openapi.yaml`).

    ``base_url`` is the log's address, with or without the ``/api/v1`` suffix. ``requests``
    counts HTTP requests sent (retries included) and ``retries`` the attempts beyond the
    first, for the crawl summary. ``sleep`` and ``clock`` are injectable so that tests
    neither wait nor depend on wall-clock timing.
    """

    def __init__(
        self,
        base_url: str,
        *,
        requests_per_second: float = 4.0,
        connect_timeout: float = 5,
        read_timeout: float = 30,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30,
        retry_after_max: float = 120,
        deadline: Deadline | None = None,
        http: HttpClient | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = _api_base(base_url)
        self.http = http or HttpClient(
            "Rekor", requests_per_second=requests_per_second,
            policy=RetryPolicy(max_retries=max_retries, backoff_base=backoff_base,
                               backoff_max=backoff_max, connect_timeout=connect_timeout,
                               read_timeout=read_timeout, retry_after_max=retry_after_max),
            deadline=deadline, session=session, sleep=sleep, clock=clock, rng=rng)

    @property
    def requests(self) -> int:
        return self.http.stats.requests

    @property
    def retries(self) -> int:
        return self.http.stats.retries

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RekorClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the read calls of the Rekor v1 API ----------------------------------------------------

    def log_info(self) -> LogInfo:
        """``GET /log``: the active shard's head and the frozen shards' heads."""
        return self._fetch("GET", "/log", decode=_log_info)

    def consistency_proof(
        self, first_size: int, last_size: int, tree_id: int | None = None
    ) -> ConsistencyProofResponse:
        """``GET /log/proof``: a consistency proof within one tree (the active one by default)."""
        first = _check_int(first_size, "first_size", minimum=1)
        last = _check_int(last_size, "last_size", minimum=first)
        params: dict[str, str] = {"firstSize": str(first), "lastSize": str(last)}
        if tree_id is not None:
            params["treeID"] = str(_check_tree_id(tree_id))
        return self._fetch("GET", "/log/proof", params=params, decode=_consistency_proof)

    def entry_by_index(self, index: int) -> RawEntry | None:
        """``GET /log/entries?logIndex=N`` by virtual index; None past the end (a 404)."""
        wanted = _check_int(index, "index", minimum=0)

        def decode(content: bytes, where: str) -> RawEntry:
            raw = _single_entry(content, where)
            if raw.entry.log_index != wanted:
                raise MalformedResponseError(
                    f"Rekor {where}: asked for entry {wanted}, got logIndex {raw.entry.log_index}"
                )
            return raw

        return self._call(
            "GET", "/log/entries", params={"logIndex": str(wanted)}, raw=decode, absent=True
        )

    def entry_by_uuid(self, uuid: str) -> RawEntry | None:
        """``GET /log/entries/{uuid}`` (64- or 80-hex); None when the log has no such entry."""
        wanted = check_uuid(uuid)

        def decode(content: bytes, where: str) -> RawEntry:
            raw = _single_entry(content, where)
            if not same_entry_uuid(wanted, raw.uuid):
                raise MalformedResponseError(
                    f"Rekor {where}: asked for entry {wanted}, got {raw.uuid}"
                )
            return raw

        return self._call("GET", f"/log/entries/{wanted}", raw=decode, absent=True)

    def retrieve(self, uuids: Iterable[str] = (), indexes: Iterable[int] = ()) -> RetrieveResult:
        """``POST /log/entries/retrieve`` in batches of at most ``RETRIEVE_LIMIT`` items.

        Results are matched to the request by key: UUID (a 64-hex request matches the 80-hex
        entry with the same leaf hash) or the entry's virtual ``logIndex``. The log omits
        what it does not have and may answer in any order, with duplicates; two *different*
        entries for one key are a MalformedResponseError.
        """
        wanted_uuids = _unique(check_uuid(u) for u in uuids)
        wanted_indexes = _unique(_check_int(i, "index", minimum=0) for i in indexes)
        items: list[str | int] = [*wanted_uuids, *wanted_indexes]
        by_uuid: dict[str, RawEntry] = {}
        by_index: dict[int, RawEntry] = {}
        for start in range(0, len(items), RETRIEVE_LIMIT):
            batch = items[start : start + RETRIEVE_LIMIT]
            batch_uuids = [i for i in batch if isinstance(i, str)]
            batch_indexes = [i for i in batch if isinstance(i, int)]
            query: dict[str, list[Any]] = {}
            if batch_uuids:  # the API wants each array absent or non-empty (minItems 1)
                query["entryUUIDs"] = batch_uuids
            if batch_indexes:
                query["logIndexes"] = batch_indexes
            where = f"POST {self.base_url}/log/entries/retrieve"
            entries = self._fetch("POST", "/log/entries/retrieve", body=query, decode=_entry_list)
            _match(entries, batch_uuids, batch_indexes, by_uuid, by_index, where)
        return RetrieveResult(  # in request order, whatever order the log answered in
            by_uuid={u: by_uuid[u] for u in wanted_uuids if u in by_uuid},
            by_index={i: by_index[i] for i in wanted_indexes if i in by_index},
            missing_uuids=tuple(u for u in wanted_uuids if u not in by_uuid),
            missing_indexes=tuple(i for i in wanted_indexes if i not in by_index),
        )

    def search_public_key(self, pem: bytes) -> list[str]:
        """``POST /index/retrieve`` by x509 public key: entry UUIDs, a hint only (§4)."""
        _check_pem(pem)
        query = {"publicKey": {"format": "x509", "content": base64.b64encode(pem).decode()}}
        return self._fetch("POST", "/index/retrieve", body=query, decode=_uuid_list)

    def search_hash(self, sha256_hex: str) -> list[str]:
        """``POST /index/retrieve`` by the SHA-256 of the logged artifact: a hint only (§4)."""
        if not isinstance(sha256_hex, str):
            raise InputError(f"a SHA-256 digest must be a hex string, not {sha256_hex!r}")
        digest = sha256_hex.removeprefix("sha256:")
        if not _HEX64.fullmatch(digest):
            raise InputError(f"not a SHA-256 hex digest: {sha256_hex!r}")
        query = {"hash": f"sha256:{digest.lower()}"}
        return self._fetch("POST", "/index/retrieve", body=query, decode=_uuid_list)

    def public_key(self, tree_id: int | None = None) -> bytes:
        """``GET /log/publicKey``: the PEM the log claims; pin log keys out of band anyway."""
        params = None if tree_id is None else {"treeID": str(_check_tree_id(tree_id))}

        def decode(content: bytes, where: str) -> bytes:
            try:
                serialization.load_pem_public_key(content)
            except (ValueError, TypeError):
                # A cut or garbled PEM, like a truncated JSON body: worth another attempt.
                raise Retryable("not a PEM public key in a 200 answer") from None
            return content

        return _present(self._call("GET", "/log/publicKey", params=params, raw=decode))

    # -- transport ------------------------------------------------------------------------

    def _fetch(
        self,
        method: str,
        path: str,
        *,
        decode: Callable[[Any, str], T],
        params: dict[str, str] | None = None,
        body: object = None,
    ) -> T:
        """A JSON call: ``decode(document, where)`` type-checks the parsed answer."""

        def raw(content: bytes, where: str) -> T:
            return decode(_json_document(content, where), where)

        return _present(self._call(method, path, params=params, body=body, raw=raw))

    def _call(
        self,
        method: str,
        path: str,
        *,
        raw: Callable[[bytes, str], T],
        params: dict[str, str] | None = None,
        body: object = None,
        absent: bool = False,
    ) -> T | None:
        """One API call with retries; ``absent``: a 404 means "no such entry" (None)."""
        return self.http.call(method, self.base_url + path, decode=raw, params=params,
                              json_body=body, absent=absent, max_bytes=MAX_RESPONSE_BYTES)


# -- settings and arguments -----------------------------------------------------------------


def _api_base(base_url: str) -> str:
    url = base_url.strip() if isinstance(base_url, str) else base_url
    parts = urlsplit(checked_http_url(url, "the Rekor URL", base=True))
    path = parts.path.rstrip("/").removesuffix(_API)
    return f"{parts.scheme}://{parts.netloc}{path}{_API}"


def _check_int(value: object, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return value


def _check_tree_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _INT64_MAX:
        raise InputError(f"a Rekor tree ID must be a non-negative int64, not {value!r}")
    return value


def check_uuid(value: object) -> str:
    uuid = value.lower() if isinstance(value, str) else None
    if uuid is None or not _UUID.fullmatch(uuid):
        raise InputError(f"not a 64- or 80-hex Rekor entry UUID: {value!r}")
    return uuid


def _check_pem(pem: object) -> None:
    if not isinstance(pem, bytes):
        raise InputError("a public key to search for must be PEM bytes")
    try:
        serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as error:
        raise InputError(f"not a PEM public key: {one_line(error)}") from None


def _present(result: T | None) -> T:
    assert result is not None  # only calls made with absent=True can find nothing
    return result


def _unique(values: Iterable[T]) -> list[T]:
    return list(dict.fromkeys(values))


def same_entry_uuid(requested: str, returned: str) -> bool:
    """Whether two lowercase entry UUIDs name the same entry.

    A 64-hex UUID is the leaf hash alone; the 80-hex form prefixes the 16-hex tree ID
    (Rekor's `entryUUID` pattern). When both carry a tree ID, both parts must agree.
    """
    if len(requested) == len(returned):
        return requested == returned
    return requested[-64:] == returned[-64:]


# -- reading answers ------------------------------------------------------------------------


def _json_document(content: bytes, where: str) -> Any:
    try:
        return loads(content, f"Rekor {where}")
    except JsonInputError as error:
        if "not valid JSON" in str(error):
            # A 200 with a cut or garbled body: another attempt may get it whole.
            raise Retryable("invalid JSON in a 200 answer") from None
        raise MalformedResponseError(str(error)) from None


def _malformed(where: str, detail: str) -> MalformedResponseError:
    return MalformedResponseError(f"Rekor {where}: malformed answer: {detail}")


def _object(value: object, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _malformed(where, f"{what} is not a JSON object")
    return value


def _int(obj: dict[str, Any], name: str, where: str, what: str) -> int:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _INT64_MAX:
        raise _malformed(where, f"{what}{name} is missing or not a non-negative int64")
    return value


def _str(obj: dict[str, Any], name: str, where: str, what: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise _malformed(where, f"{what}{name} is missing or not a string")
    return value


def _hash(value: object, where: str, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise _malformed(where, f"{what} is missing or not a 64-hex SHA-256 hash")
    return bytes.fromhex(value)


def _shard_head(value: object, where: str, what: str) -> ShardHead:
    obj = _object(value, where, what or "the answer")
    prefix = f"{what}." if what else ""
    tree_id = obj.get("treeID")
    if not isinstance(tree_id, str) or not _TREE_ID.fullmatch(tree_id) or int(tree_id) > _INT64_MAX:
        raise _malformed(where, f"{prefix}treeID is missing or not a decimal int64 string")
    return ShardHead(
        tree_id=int(tree_id),
        tree_size=_int(obj, "treeSize", where, prefix),
        root_hash=_hash(obj.get("rootHash"), where, f"{prefix}rootHash"),
        checkpoint=_str(obj, "signedTreeHead", where, prefix),
    )


def _log_info(document: object, where: str) -> LogInfo:
    active = _shard_head(document, where, "")
    shards = _object(document, where, "the answer").get("inactiveShards")
    if shards is None:  # absent until the first rotation (and null in some Go encoders)
        shards = []
    if not isinstance(shards, list):
        raise _malformed(where, "inactiveShards is not an array")
    inactive = tuple(
        _shard_head(shard, where, f"inactiveShards[{i}]") for i, shard in enumerate(shards)
    )
    return LogInfo(active=active, inactive=inactive)


def _consistency_proof(document: object, where: str) -> ConsistencyProofResponse:
    obj = _object(document, where, "the answer")
    hashes = obj.get("hashes")
    if hashes is None:  # go-swagger omits an empty array (first_size == last_size)
        hashes = []
    if not isinstance(hashes, list):
        raise _malformed(where, "hashes is not an array")
    return ConsistencyProofResponse(
        root_hash=_hash(obj.get("rootHash"), where, "rootHash"),
        hashes=tuple(_hash(h, where, f"hashes[{i}]") for i, h in enumerate(hashes)),
    )


def _raw_entry(uuid: str, obj: object, raw: bytes, where: str) -> RawEntry:
    try:
        entry = parse_entry(uuid, obj, source=f"Rekor {where}")
    except InputError as error:
        raise MalformedResponseError(str(error)) from None
    return RawEntry(uuid=uuid, raw=raw, entry=entry)


def _single_entry(content: bytes, where: str) -> RawEntry:
    document = _json_document(content, where)
    if not isinstance(document, dict) or len(document) != 1:
        raise _malformed(where, "expected a JSON object with exactly one entry UUID key")
    ((uuid, obj),) = document.items()
    return _raw_entry(uuid, obj, content, where)


def _entry_list(document: object, where: str) -> list[RawEntry]:
    if not isinstance(document, list):
        raise _malformed(where, "expected a JSON array of entries")
    out = []
    for i, element in enumerate(document):
        if not isinstance(element, dict) or not element:
            raise _malformed(where, f"element {i} is not an object keyed by entry UUID")
        for uuid, obj in element.items():
            raw = json.dumps({uuid: obj}, separators=(",", ":")).encode()
            out.append(_raw_entry(uuid, obj, raw, where))
    return out


def _uuid_list(document: object, where: str) -> list[str]:
    if not isinstance(document, list):
        raise _malformed(where, "expected a JSON array of entry UUIDs")
    out = []
    for i, value in enumerate(document):
        uuid = value.lower() if isinstance(value, str) else None
        if uuid is None or not _UUID.fullmatch(uuid):
            raise _malformed(where, f"element {i} is not a 64- or 80-hex entry UUID")
        out.append(uuid)
    return _unique(out)


def _match(
    entries: Sequence[RawEntry],
    uuids: Sequence[str],
    indexes: Sequence[int],
    by_uuid: dict[str, RawEntry],
    by_index: dict[int, RawEntry],
    where: str,
) -> None:
    """File each returned entry under every requested key it answers (by key, not position)."""
    wanted_indexes = set(indexes)
    for raw in entries:
        for uuid in uuids:
            if same_entry_uuid(uuid, raw.uuid):
                _file(by_uuid, uuid, raw, where)
        if raw.entry.log_index in wanted_indexes:
            _file(by_index, raw.entry.log_index, raw, where)


def _file(found: dict[Any, RawEntry], key: str | int, raw: RawEntry, where: str) -> None:
    earlier = found.get(key)
    if earlier is None:
        found[key] = raw
    elif earlier.entry != raw.entry or earlier.uuid != raw.uuid:
        # A repeated item is tolerated; two different entries for one key is a lie.
        raise ConflictingAnswersError(
            f"Rekor {where}: malformed answer: two different entries answer {key!r}", key,
            (earlier, raw))
