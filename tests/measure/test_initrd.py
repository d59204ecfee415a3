"""initrd digests: exact, streamed in constant memory, 32 zero bytes when absent."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import pytest

from auditor.errors import InputError
from auditor.measure.initrd import ABSENT_RAM_DISK_DIGEST, measure_initrd


def test_digest_of_file(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 11)
    path = tmp_path / "initrd.img"
    path.write_bytes(data)
    assert measure_initrd(path).sha256 == hashlib.sha256(data).digest()
    assert measure_initrd(path).to_json() == {"sha256": hashlib.sha256(data).hexdigest()}


def test_absent_initrd_is_32_zero_bytes() -> None:
    assert measure_initrd(None).sha256 == bytes(32) == ABSENT_RAM_DISK_DIGEST


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils sha256sum")
def test_constant_memory_and_sha256sum_agrees(tmp_path: Path) -> None:
    path = tmp_path / "big.img"
    with path.open("wb") as handle:
        for _ in range(64):
            handle.write(os.urandom(1 << 20))
    tracemalloc.start()
    try:
        digest = measure_initrd(path).sha256
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024  # a 64 MiB file, hashed through one small buffer
    expected = subprocess.run(
        ["sha256sum", str(path)], check=True, capture_output=True, text=True
    ).stdout.split()[0]
    assert digest.hex() == expected


def test_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read initrd"):
        measure_initrd(tmp_path / "missing")
    with pytest.raises(InputError, match="cannot read initrd"):
        measure_initrd(tmp_path)


def test_an_empty_initrd_is_refused_not_given_the_empty_files_digest(tmp_path: Path) -> None:
    # Stage0 takes a zero-size initrd for none and reports 32 zero bytes, so sha256(b"") was a
    # ram_disk_digest no VM reports; a FIFO without a writer (read without blocking) is empty.
    empty = tmp_path / "initrd.img"
    empty.write_bytes(b"")
    fifo = tmp_path / "initrd.fifo"
    os.mkfifo(fifo)
    for path in (empty, fifo):
        with pytest.raises(InputError, match=r"is empty: stage0 boots without an initrd then "
                           r"and reports ram_disk_digest as 32 zero bytes"):
            measure_initrd(path)


def test_an_initrd_past_fw_cfgs_u32_size_is_refused(tmp_path: Path) -> None:
    # fw_cfg's initrd size is a u32: a larger file boots no VM. A file says its size and is
    # refused unread (sparse here); a pipe or /dev/zero is read no further than the bound.
    huge = tmp_path / "initrd.img"
    with huge.open("wb") as handle:
        handle.truncate(1 << 32)
    with pytest.raises(InputError, match=r"initrd .* is larger than 4294967295 bytes"):
        measure_initrd(huge)


def test_a_pipe_is_hashed_no_further_than_the_bound(tmp_path: Path) -> None:
    from auditor.measure.artifact import sha256_file

    read_end, write_end = os.pipe()
    os.write(write_end, b"x" * 11)
    os.close(write_end)
    try:
        with pytest.raises(InputError, match="is larger than 10 bytes"):
            sha256_file(Path(f"/proc/self/fd/{read_end}"), "initrd", 10)
    finally:
        os.close(read_end)
    path = tmp_path / "ten"
    path.write_bytes(b"x" * 10)
    assert sha256_file(path, "initrd", 10) == hashlib.sha256(b"x" * 10).digest()
