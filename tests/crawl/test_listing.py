"""The crawl's listing of UUIDs to fetch: what goes in comes out, in order, in 45 bytes each."""

from __future__ import annotations

import hashlib
import tracemalloc

import pytest

from auditor.crawl.listing import Listing


def _uuid(n: int, *, tree: str | None = "24296fb24b8ad77a") -> str:
    leaf = hashlib.sha256(n.to_bytes(8, "big")).hexdigest()
    return leaf if tree is None else tree + leaf


def test_every_uuid_comes_back_as_given_with_its_component() -> None:
    leaf = _uuid(7, tree=None)
    listed = {
        _uuid(1): "kernel",
        _uuid(2, tree=None): None,
        # The same leaf hash, written three ways: three UUIDs, as the log listed them.
        leaf: "stage0",
        "0000000000000000" + leaf: "stage0",
        "ffffffffffffffff" + leaf: "initrd",
        _uuid(3): "kernel",
    }
    listing = Listing(listed)
    assert list(listing) == list(listed.items())
    assert len(listing) == 6
    assert listing[0] == (_uuid(1), "kernel")
    assert listing[-1] == (_uuid(3), "kernel")
    assert listing[1:4] == list(listed.items())[1:4]
    assert listing[4:100] == list(listed.items())[4:]
    with pytest.raises(IndexError):
        listing[6]
    assert list(Listing({})) == []


def test_a_malformed_uuid_is_refused() -> None:
    with pytest.raises(ValueError, match="64- or 80-hex"):
        Listing({"abc": None})
    with pytest.raises(ValueError):
        Listing({"zz" * 32: None})


def test_it_holds_less_than_50_bytes_a_uuid() -> None:
    """A dict of the same UUIDs holds about 160 bytes each (string, slot, the list copy)."""
    listed = {_uuid(n): ("kernel", "initrd", None)[n % 3] for n in range(20_000)}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        listing = Listing(listed)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(listing) == 20_000
    assert held / len(listing) < 50
