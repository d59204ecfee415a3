"""The report document (report-v1.schema.json) as types, and its streamed rows.

A report is a mapping with the schema's members. `findings` and `endorsements` may hold every
row of a large store, so they are collections that can be iterated more than once and know
their length, but need not sit in memory: `Rows` reads them from the store a batch at a time,
each time they are iterated. A plain list is a collection too (tests, small reports).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any, Generic, TypedDict, TypeVar

T = TypeVar("T")


class Rows(Collection[T], Generic[T]):
    """Rows produced afresh by `factory` on each iteration; `length` known in advance.

    `ordered`: the rows already come in the report's reading order (most severe finding
    first), so a renderer need not sort them.
    """

    def __init__(self, factory: Callable[[], Iterator[T]], length: int, *,
                 ordered: bool = False) -> None:
        self._factory = factory
        self._length = length
        self.ordered = ordered

    def __iter__(self) -> Iterator[T]:
        return self._factory()

    def __len__(self) -> int:
        return self._length

    def __contains__(self, item: object) -> bool:
        return any(row == item for row in self)


class Check(TypedDict):
    name: str
    ok: bool | None
    detail: str


class FindingItem(TypedDict):
    rule: str
    severity: str
    title: str
    component: str | None
    release: str | None
    detail: str
    explanation: str
    evidence: dict[str, Any]
    fingerprint: str
    suppressed: dict[str, str] | None


class _EndorsementOptional(TypedDict, total=False):
    #: The kinds of receipt the endorsement carries, when it carries any beside Rekor's.
    receipts: list[str]


class EndorsementItem(_EndorsementOptional):
    component: str | None
    key_sha256: str | None
    uuid: str | None
    log_index: int | None
    tree_id: int | None
    integrated_time: str | None
    logged: bool
    subject_name: str | None
    subject_digests: dict[str, str]
    measurements: dict[str, str]
    valid_from: str | None
    valid_until: str | None
    statement_format: str | None
    ok: bool
    checks: list[Check]
    matches: list[str]


class RunInfo(TypedDict, total=False):
    kind: str
    started_at: str | None
    finished_at: str | None
    complete: bool
    config: str | None
    offline: bool
    overrides: dict[str, str]


class Summary(TypedDict):
    by_severity: dict[str, int]
    suppressed: int
    endorsements: int
    failed_entries: int
    exit_code: int | None


class Report(TypedDict):
    """report-v1: the source of truth every format renders."""

    schema_version: int
    generated_at: str
    tool: dict[str, str]
    run: RunInfo
    logs: list[dict[str, Any]]
    components: list[dict[str, Any]]
    endorsements: Collection[EndorsementItem]
    releases: list[dict[str, Any]]
    findings: Collection[FindingItem]
    summary: Summary


#: The members that hold one row per finding or endorsement: streamed, never held whole.
STREAMED = ("findings", "endorsements")
