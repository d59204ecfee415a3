"""A statement directory serves a regular file of at most MAX_BYTES under one of Oak's names,
only when its bytes hash to the digest asked for."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from auditor.source.statements import MAX_BYTES, DirectoryStore

STATEMENT = b'{"_type": "https://in-toto.io/Statement/v1"}'
DIGEST = hashlib.sha256(STATEMENT).hexdigest()


@pytest.mark.parametrize("name", [f"sha2-256:{DIGEST}", f"sha256:{DIGEST}", DIGEST])
def test_each_name_is_served(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(STATEMENT)
    store = DirectoryStore(tmp_path)
    assert store.fetch(DIGEST) == STATEMENT
    assert store.mismatches == []


def test_absent_is_none(tmp_path: Path) -> None:
    assert DirectoryStore(tmp_path).fetch(DIGEST) is None
    assert DirectoryStore(tmp_path / "no such directory").fetch(DIGEST) is None


def test_bytes_of_another_digest_are_a_mismatch_and_the_next_name_is_tried(
        tmp_path: Path) -> None:
    (tmp_path / f"sha2-256:{DIGEST}").write_bytes(STATEMENT + b" ")
    store = DirectoryStore(tmp_path)
    assert store.fetch(DIGEST) is None
    assert store.mismatches == [DIGEST]
    (tmp_path / DIGEST).write_bytes(STATEMENT)
    assert store.fetch(DIGEST) == STATEMENT


def test_larger_than_the_limit_is_not_served(tmp_path: Path) -> None:
    big = b"x" * (MAX_BYTES + 1)
    digest = hashlib.sha256(big).hexdigest()
    (tmp_path / f"sha2-256:{digest}").write_bytes(big)
    assert DirectoryStore(tmp_path).fetch(digest) is None
    exact = b"y" * MAX_BYTES
    digest = hashlib.sha256(exact).hexdigest()
    (tmp_path / f"sha2-256:{digest}").write_bytes(exact)
    assert DirectoryStore(tmp_path).fetch(digest) == exact


def test_a_directory_or_a_fifo_under_the_name_is_passed_over(tmp_path: Path) -> None:
    (tmp_path / f"sha2-256:{DIGEST}").mkdir()
    os.mkfifo(tmp_path / f"sha256:{DIGEST}")
    store = DirectoryStore(tmp_path)
    answer: list[bytes | None] = []
    reader = threading.Thread(target=lambda: answer.append(store.fetch(DIGEST)), daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert answer == [None], "a FIFO was waited on"
    (tmp_path / DIGEST).write_bytes(STATEMENT)
    assert store.fetch(DIGEST) == STATEMENT


def test_a_name_that_cannot_be_opened_is_passed_over(tmp_path: Path) -> None:
    """A symlink loop (or, for a user who is not root, a file without read permission) under
    the name raised OSError out of the crawl that asked."""
    loop = tmp_path / f"sha2-256:{DIGEST}"
    loop.symlink_to(loop)
    store = DirectoryStore(tmp_path)
    assert store.fetch(DIGEST) is None
    (tmp_path / DIGEST).write_bytes(STATEMENT)
    assert store.fetch(DIGEST) == STATEMENT


def test_a_symlink_to_a_regular_file_is_followed(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_bytes(STATEMENT)
    (tmp_path / f"sha2-256:{DIGEST}").symlink_to(tmp_path / "elsewhere")
    assert DirectoryStore(tmp_path).fetch(DIGEST) == STATEMENT
