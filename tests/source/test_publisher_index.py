"""The publisher's index layout and its reader, against the local store over real HTTP."""

from __future__ import annotations

import hashlib

import pytest

from auditor.errors import IncompleteError, InputError
from auditor.http_client import HttpClient, RetryPolicy
from auditor.source.publisher_index import (
    LinkType,
    parse_link,
    parse_typed_hash,
    provenance,
    published_in,
)
from auditor.source.publisher_store import MAX_FILE_BYTES, MalformedLinkError, PublisherStore
from testlog import PublisherIndex, RunningIndexServer

A, B = hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()


def reader(server: RunningIndexServer) -> PublisherStore:
    http = HttpClient("publisher index", requests_per_second=1000,
                      policy=RetryPolicy(max_retries=1, backoff_base=0), sleep=lambda _: None)
    return PublisherStore(server.files_url + "/", server.links_url, http)


@pytest.mark.parametrize("body", [f"sha2-256:{A}\nsha2-256:{B}\n", f"sha2-256:{A}\nsha2-256:{B}"])
def test_a_link_lists_typed_hashes_with_or_without_the_last_newline(body: str) -> None:
    assert parse_link(body.encode(), "link") == (A, B)


@pytest.mark.parametrize(("body", "why"), [
    (f"sha2-256:{A}\n\nsha2-256:{B}\n", "line 2"),
    (f"sha256:{A}\n", "is not a typed hash"),
    (f"sha2-256:{A.upper()}\n", "is not a typed hash"),
    (f"sha2-256:{A} \n", "is not a typed hash"),
    ("sha2-256:é\n", "not ASCII"),
])
def test_anything_else_in_a_link_is_malformed(body: str, why: str) -> None:
    with pytest.raises(InputError, match=why):
        parse_link(body.encode(), "link 21/x")


def test_an_empty_link_lists_nothing() -> None:
    assert parse_link(b"", "link") == ()
    assert parse_typed_hash(f"sha2-256:{A}", "x") == A


def test_provenance_names_the_index_and_the_package() -> None:
    source = provenance("https://storage.googleapis.com/oak-index", A)
    assert published_in(source) == ("https://storage.googleapis.com/oak-index", f"sha2-256:{A}")
    assert published_in("tests/data/oak/components/kernel") is None
    assert published_in(None) is None


def test_files_are_used_only_when_they_hash_to_their_name(
        publisher_index: PublisherIndex, index_server: RunningIndexServer) -> None:
    store = reader(index_server)
    good = publisher_index.add_file(b"statement")
    altered = publisher_index.add_file(b"signature")
    index_server.faults.alter(altered)
    large = hashlib.sha256(b"large").hexdigest()
    publisher_index.files[large] = bytes(MAX_FILE_BYTES + 1)
    assert store.file(good).content == b"statement"
    served = store.file(altered)
    assert served.content is None and not served.missing
    flipped = b"signaturd"  # the last byte flipped
    assert served.altered == "sha2-256:" + hashlib.sha256(flipped).hexdigest()
    assert store.file(large).altered == f"over {MAX_FILE_BYTES} bytes"
    assert store.file(B).missing


def test_links_are_read_and_a_404_is_absent(publisher_index: PublisherIndex,
                                            index_server: RunningIndexServer) -> None:
    store = reader(index_server)
    publisher_index.link(21, A, B)
    publisher_index.link(21, A, A)
    assert store.link(LinkType.ENDORSEMENTS_FOR_KEY, A) == (B, A)
    assert store.link(LinkType.ENDORSEMENTS_FOR_KEY, B) is None
    assert index_server.requests.links(21) == 2


def test_a_malformed_link_is_refused_and_a_cut_one_retried(
        publisher_index: PublisherIndex, index_server: RunningIndexServer) -> None:
    store = reader(index_server)
    publisher_index.links[(14, A)] = ["not a hash"]
    with pytest.raises(MalformedLinkError, match=r"14/sha2-256:[0-9a-f]{64} line 1"):
        store.link(LinkType.SIGNATURE, A)
    assert index_server.requests.links(14) == 1  # not retried: it will not get better
    publisher_index.link(21, A, B)
    publisher_index.link(21, A, A)
    index_server.faults.cut_links(1)  # cut in transit: another attempt gets it whole
    assert store.link(LinkType.ENDORSEMENTS_FOR_KEY, A) == (B, A)
    assert index_server.requests.links(21) == 2
    index_server.faults.cut_links(2)
    with pytest.raises(IncompleteError, match="gave up after 2 attempts; last: a link cut"):
        store.link(LinkType.ENDORSEMENTS_FOR_KEY, A)


def test_server_errors_are_retried_then_incomplete(publisher_index: PublisherIndex,
                                                   index_server: RunningIndexServer) -> None:
    store = reader(index_server)
    good = publisher_index.add_file(b"statement")
    index_server.faults.server_errors(1)
    assert store.file(good).content == b"statement"
    index_server.faults.server_errors(2, status=500)
    with pytest.raises(IncompleteError, match="HTTP 500"):
        store.file(good)
