"""bzImage measurements against an independent computation written from DOMAIN.md §7."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import struct
import threading
from pathlib import Path

import pytest
from synthetic_artifacts import build_bzimage

from auditor.errors import InputError
from auditor.measure.kernel import SetupVariant, measure_kernel, measure_kernel_file


def reference(bz: bytes) -> tuple[bytes, bytes, bytes]:
    """(kernel_measurement, oak_vmm setup digest, qemu_snp setup digest), per DOMAIN.md §7."""
    sects = bz[0x1F1] if bz[0x1F1] != 0 else 4
    size = 512 * (sects + 1)
    oak = bytearray(bz[:size])
    oak[0x210] = 0xB0
    oak[0x211] = oak[0x211] | 0x80
    struct.pack_into("<H", oak, 0x224, 0xFE00)
    struct.pack_into("<I", oak, 0x228, 0x20000)
    struct.pack_into("<II", oak, 0x218, 0, 0)
    qemu = bytearray(bz[:size])
    struct.pack_into("<II", qemu, 0x218, 0, 0)
    return (
        hashlib.sha256(bz[size:]).digest(),
        hashlib.sha256(oak).digest(),
        hashlib.sha256(qemu).digest(),
    )


@pytest.mark.parametrize("setup_sects", [0, 1, 27, 63])
def test_matches_reference(tmp_path: Path, setup_sects: int) -> None:
    bz = bytearray(build_bzimage(setup_sects=setup_sects, seed=setup_sects))
    struct.pack_into("<II", bz, 0x218, 0x1234000, 0x56789)  # a loader-filled ramdisk, zeroed
    path = tmp_path / "bzImage"
    path.write_bytes(bz)
    measured = measure_kernel_file(path)
    kernel, oak, qemu = reference(bytes(bz))
    assert measured.sha256 == hashlib.sha256(bz).digest()
    assert measured.kernel_measurement == kernel
    assert measured.setup_data_digest == {SetupVariant.OAK_VMM: oak, SetupVariant.QEMU_SNP: qemu}
    assert oak != qemu


def test_setup_variant_for_and_json() -> None:
    measured = measure_kernel(io.BytesIO(build_bzimage()))
    _, oak, qemu = reference(build_bzimage())
    assert measured.setup_variant_for(oak) is SetupVariant.OAK_VMM
    assert measured.setup_variant_for(qemu) is SetupVariant.QEMU_SNP
    assert measured.setup_variant_for(bytes(32)) is None
    document = measured.to_json()
    assert list(document) == ["sha256", "kernel_measurement", "setup_data_digest"]
    assert document["setup_data_digest"] == {"oak_vmm": oak.hex(), "qemu_snp": qemu.hex()}


def test_kernel_larger_than_one_chunk() -> None:
    bz = build_bzimage(kernel_size=(1 << 20) * 3 + 17)
    measured = measure_kernel(io.BytesIO(bz))
    assert measured.kernel_measurement == reference(bz)[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short for a bzImage boot header"),
        (b"\0" * 0x1F1, "too short"),
        (build_bzimage(setup_sects=27)[:5000], "declares a 14336-byte setup: truncated"),
        (build_bzimage(magic=b"HdrX"), "no 'HdrS' boot header magic"),
        (build_bzimage(kernel_size=0), "no protected-mode kernel"),
        (b"\x7fELF" + bytes(70_000), "no 'HdrS'"),
    ],
)
def test_refuses_non_bzimage(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        measure_kernel(io.BytesIO(data))


@pytest.mark.parametrize("cut", [1, 16, 4096, 299_999])
def test_refuses_a_bzimage_shorter_than_its_header_declares(cut: int) -> None:
    # A cut download or copy still has its header and a kernel part, so only syssize tells.
    whole = build_bzimage(setup_sects=27, kernel_size=300_000)
    with pytest.raises(InputError, match=rf"is {len(whole) - cut} bytes but its boot header "
                       rf"declares {len(whole)} \(14336-byte setup and syssize 18750 "
                       r"paragraphs\): truncated"):
        measure_kernel(io.BytesIO(whole[:-cut]))


def test_measures_a_bzimage_as_long_as_declared_or_longer() -> None:
    # Real images are exactly setup + syssize paragraphs (Debian's 6.1 and 6.12 kernels); a
    # signed one (sbsign) carries its signature after them, and the VMM hands all of it over.
    whole = build_bzimage(kernel_size=300_007)  # padded to whole paragraphs, as the build does
    signed = whole + b"\x30\x82" + bytes(1470)
    for image in (whole, signed):
        assert measure_kernel(io.BytesIO(image)).kernel_measurement == reference(image)[0]


def test_syssize_is_not_trusted_before_protocol_2_04() -> None:
    # boot.rst: before 2.04 syssize is 16 bits and "cannot be trusted" for a big kernel.
    image = bytearray(build_bzimage(protocol=0x0203))
    struct.pack_into("<I", image, 0x1F4, 0xFFFF_FFFF)
    assert measure_kernel(io.BytesIO(image)).kernel_measurement == reference(bytes(image))[0]


def test_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read kernel"):
        measure_kernel_file(tmp_path / "missing")
    with pytest.raises(InputError, match="cannot read kernel"):
        measure_kernel_file(tmp_path)


def test_a_pipe_that_never_ends_after_a_valid_header_is_read_no_further_than_the_bound(
        tmp_path: Path) -> None:
    """A FIFO fed a valid bzImage and then zeros for ever was hashed for ever (the run lock
    held, the job never done); it is refused once past the kernel limit."""
    fifo = tmp_path / "bzImage.fifo"
    os.mkfifo(fifo)
    # Both ends open before the measure opens its own: it then reads what the writer writes.
    holder = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    sink = os.fdopen(os.open(fifo, os.O_WRONLY), "wb")

    def feed() -> None:
        with contextlib.suppress(BrokenPipeError), sink:
            sink.write(build_bzimage())
            while True:  # endless, until every reader has closed its end
                sink.write(bytes(1 << 16))

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        with pytest.raises(InputError, match=r"^\S+bzImage.fifo is larger than 1048576 bytes, "
                           r"the kernel limit \(1 MiB\)$"):
            measure_kernel_file(fifo, max_size=1 << 20)
    finally:
        os.close(holder)
        writer.join(5)
    assert not writer.is_alive()
    whole = build_bzimage()
    assert measure_kernel(io.BytesIO(whole), max_size=len(whole)).sha256 == \
        hashlib.sha256(whole).digest()
    with pytest.raises(InputError, match="larger than"):
        measure_kernel(io.BytesIO(whole), max_size=len(whole) - 1)
