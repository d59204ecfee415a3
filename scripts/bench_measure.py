"""Benchmark the measurers, every figure measured in the same run.

1. stage0: all seven vCPU counts (1..64) of a 512 KiB synthetic ROM in our one pass, against
   virtee's sev-snp-measure run once per count (as a library call, and as its CLI).
2. initrd: SHA-256 throughput of a 1 GiB file (made in a temp dir) against coreutils
   `sha256sum`, with peak memory of each.

Usage: .venv/bin/python scripts/bench_measure.py [--initrd-mib 1024] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from sevsnpmeasure import guest
from sevsnpmeasure.vmm_types import VMMType

from auditor.measure.initrd import measure_initrd
from auditor.measure.stage0 import DEFAULT_VCPU_COUNTS, Stage0Mode, measure_stage0

# The synthetic firmware builder the tests use (a valid GUID table, ASEV metadata, reset block).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "measure"))
from synthetic_artifacts import build_firmware

ROM_SIZE = 512 * 1024


def best_of(repeat: int, action: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return min(timings)


def bench_stage0(workdir: Path, repeat: int) -> None:
    rom = build_firmware()
    assert len(rom) == ROM_SIZE
    path = workdir / "stage0.bin"
    path.write_bytes(rom)
    counts = DEFAULT_VCPU_COUNTS

    def ours() -> dict[int, bytes]:
        measured = measure_stage0(rom, counts, [Stage0Mode.OAK])
        return dict(measured.launch_digests[Stage0Mode.OAK])

    def theirs_library() -> dict[int, bytes]:
        return {
            n: guest.snp_calc_launch_digest(
                n, 0x600, str(path), None, None, None, 1, "", VMMType.gce
            )
            for n in counts
        }

    cli = Path(sys.executable).parent / "sev-snp-measure"

    def theirs_cli() -> dict[int, bytes]:
        result = {}
        for n in counts:
            out = subprocess.run(
                [
                    str(cli),
                    "--mode",
                    "snp",
                    "--vmm-type",
                    "gce",
                    "--vcpus",
                    str(n),
                    "--ovmf",
                    str(path),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            result[n] = bytes.fromhex(out.strip())
        return result

    if ours() != theirs_library() or ours() != theirs_cli():
        raise SystemExit("stage0 digests differ from sev-snp-measure: benchmark void")
    t_ours = best_of(repeat, ours)
    t_both = best_of(repeat, lambda: measure_stage0(rom, counts))
    t_lib = best_of(repeat, theirs_library)
    t_cli = best_of(max(1, repeat // 2), theirs_cli)
    print(f"stage0, 512 KiB ROM, vCPU counts {','.join(map(str, counts))} (digests identical):")
    print(f"  ours, one pass, oak mode           {t_ours * 1e3:8.1f} ms")
    print(f"  ours, one pass, oak + qemu modes   {t_both * 1e3:8.1f} ms")
    print(
        f"  sev-snp-measure library, 7 calls   {t_lib * 1e3:8.1f} ms   ratio {t_lib / t_ours:5.1f}x"
    )
    print(
        f"  sev-snp-measure CLI, 7 runs        {t_cli * 1e3:8.1f} ms   ratio {t_cli / t_ours:5.1f}x"
    )


def bench_initrd(workdir: Path, mib: int) -> None:
    path = workdir / "initrd.img"
    block = os.urandom(1 << 20)
    with path.open("wb") as handle:
        for i in range(mib):
            # Vary each MiB so nothing downstream can shortcut repeated content.
            handle.write(i.to_bytes(8, "little") + block[8:])
    size = path.stat().st_size
    measure_initrd(path)  # warm the page cache so both sides read from memory

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    ours = measure_initrd(path).sha256.hex()
    t_ours = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    sha256sum = shutil.which("sha256sum")
    if sha256sum is None:
        raise SystemExit("sha256sum not found")
    start = time.perf_counter()
    # GNU time reports the child's own peak RSS; a child forked from this process would
    # inherit our high-water mark in its rusage instead.
    completed = subprocess.run(
        ["/usr/bin/time", "-f", "%M", sha256sum, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    t_theirs = time.perf_counter() - start
    theirs = completed.stdout.split()[0]
    child_rss_kib = int(completed.stderr.strip().splitlines()[-1])
    if ours != theirs:
        raise SystemExit("initrd digest differs from sha256sum: benchmark void")

    mib_s = size / (1 << 20)
    print(f"initrd, {mib_s:.0f} MiB file (digests identical):")
    print(
        f"  ours       {t_ours:6.2f} s  {mib_s / t_ours:7.0f} MiB/s  "
        f"python-heap peak {traced_peak / 1024:.0f} KiB, "
        f"process max RSS {rss_after / 1024:.0f} MiB "
        f"(grew {(rss_after - rss_before) / 1024:.1f} MiB while hashing)"
    )
    print(
        f"  sha256sum  {t_theirs:6.2f} s  {mib_s / t_theirs:7.0f} MiB/s  "
        f"max RSS {child_rss_kib / 1024:.1f} MiB (GNU time)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--initrd-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-measure-") as tmp:
        bench_stage0(Path(tmp), args.repeat)
        bench_initrd(Path(tmp), args.initrd_mib)


if __name__ == "__main__":
    main()
