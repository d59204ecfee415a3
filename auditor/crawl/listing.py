"""The entries a crawl is to fetch, as a log's index listed them: held compactly.

Rekor v1's search index answers every UUID under a key in one JSON array, and a crawl works
through them for its whole run. Held as a dict of strings (an 80-hex UUID is a 129-byte `str`,
plus its dict slot and a list copy for the retrieve requests), they took about 160 bytes each,
and a crawl of 100,000 entries peaked at 141 MB against 124 for 20,000 (scripts/bench_ingest.py)
where every other part of a crawl's memory stays flat. A `Listing` holds each in 45 bytes: its
binary UUID (40), whether it was written with its tree id (1), and the component it was listed
under (4: an index into the handful of component names). The same crawls then peak at 126 and
122 MB. The search answer itself is parsed whole, but only while the index is searched, before
the crawl's batches take the memory it frees.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import overload

#: A UUID with its tree id: 16 hex digits, then the 64 of the leaf hash.
_LONG = 80
_SHORT = 64
_BINARY = _LONG // 2

#: (UUID, the component whose key listed it; None: found by a statement's hash or asked for)
Listed = tuple[str, str | None]


class Listing(Sequence[Listed]):
    """UUIDs (lowercase hex, 64 or 80 digits, as the client checked them) in the order given,
    each with the component it was listed under."""

    def __init__(self, listed: Mapping[str, str | None]) -> None:
        self._names: list[str | None] = [None]
        number: dict[str | None, int] = {None: 0}
        self._uuids = bytearray()
        self._long = bytearray()
        self._components = array("I")
        for uuid, component in listed.items():
            if len(uuid) not in (_SHORT, _LONG):
                raise ValueError(f"not a 64- or 80-hex entry UUID: {uuid[:100]!r}")
            self._uuids += bytes.fromhex(uuid.rjust(_LONG, "0"))
            self._long.append(len(uuid) == _LONG)
            if component not in number:
                number[component] = len(self._names)
                self._names.append(component)
            self._components.append(number[component])

    def __len__(self) -> int:
        return len(self._long)

    @overload
    def __getitem__(self, index: int) -> Listed: ...

    @overload
    def __getitem__(self, index: slice) -> list[Listed]: ...

    def __getitem__(self, index: int | slice) -> Listed | list[Listed]:
        if isinstance(index, slice):
            return [self._one(i) for i in range(len(self))[index]]
        return self._one(range(len(self))[index])  # an IndexError past either end

    def __iter__(self) -> Iterator[Listed]:
        return (self._one(i) for i in range(len(self)))

    def _one(self, i: int) -> Listed:
        uuid = self._uuids[i * _BINARY:(i + 1) * _BINARY].hex()
        return (uuid if self._long[i] else uuid[-_SHORT:]), self._names[self._components[i]]
