#!/usr/bin/env python3
"""Benchmark: a full, verified scan of a loopback tiled log of Rekor v2-sized entries.

For each size, one process builds and serves a tiled log (most entries carry a Fulcio-like
certificate of ~1.8 kB DER, ~10 % a bare public key, 1 % are Oak endorsements under one of four
pinned keys, their statements in a directory store), and two fresh processes measure, one
after the other:

1. the library: `auditor.source.tiles` scans it (every bundle and tile verified against the
   checkpoint, every entry matched), then rescans it once nothing changed;
2. the full store path, as `audit crawl --tiled-log` runs it: the audit service with settings
   resolved from flags (`auditor.service.Auditor`), which scans, verifies every match with the
   named checks (statement fetched, signatures checked) and stores it in the database, range
   by range; then a no-op rescan through the same path.

Each process reports its own CPU time (all threads), wall time and peak RSS, and this machine's
SHA-256 speed over the same entries (bare leaf hashing, measured in the same process) as the
baseline the scan's cost is compared to.

    python scripts/bench_tiles.py [--sizes 100000 1000000] [--parallelism 8] [--db URL]

`--db` is the store path's database (default: a new SQLite file; a PostgreSQL URL must name an
empty database). The store path runs without a request rate limit (`--rate`), so that it
measures this machine, not the politeness default (100 requests/s: 3,907 bundles of a
1,000,000-entry log take at least 39 s of wall time at that rate).

Honest shortcuts, all outside what is measured: entries are generated from 64 certificate
templates whose serial number is patched per entry (so their issuer signatures no longer
verify: the scanner never checks certificate chains), and the signatures of non-pinned entries
are real ECDSA signatures by the entry's key over another digest (the scanner never checks
signatures of entries it does not match). Pinned entries are fully valid.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, overload

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_processes import answer, in_process, serve_until, started
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from testlog.synthetic import Endorser

TEMPLATES = 64
PINNED_KEYS = 4
LOG_NAME = "bench.tiles.example/log"


# --- the log (server process) ----------------------------------------------------------------


class SyntheticEntries(Sequence[bytes]):
    """Rekor v2 hashedrekord 0.0.2 entries, generated on demand and always the same bytes.

    Entries under pinned keys are Oak endorsements whose statements are written to `statements`
    (content-addressed, `sha2-256:<hex>`), valid from a day ago.
    """

    def __init__(self, size: int, pinned: list[Endorser], statements: Path) -> None:
        from testlog.synthetic import tiled_endorsement
        from testlog.tiles import FulcioLikeIssuer, hashedrekord_v002, spki_der

        self.size = size
        issuer = FulcioLikeIssuer()
        others = [ec.generate_private_key(ec.SECP256R1()) for _ in range(TEMPLATES)]
        self.certificates: list[tuple[bytes, int]] = []  # DER and its serial's offset
        for t, key in enumerate(others):
            serial = int.from_bytes(b"\x01" + hashlib.sha256(b"%d" % t).digest()[:19], "big")
            der = issuer.issue(key.public_key(), number=t, serial=serial)
            self.certificates.append((der, der.index(serial.to_bytes(20, "big"))))
        self.other_keys = [_b64(spki_der(k)) for k in others]
        self.other_signatures = [
            _b64(k.sign(b"another artifact", ec.ECDSA(hashes.SHA256()))) for k in others
        ]
        self.pinned = pinned
        certificates = [issuer.issue(e.private_key.public_key(), number=1000 + i)
                        for i, e in enumerate(pinned)]
        self.pinned_entries: dict[int, bytes] = {}
        issued = int(time.time()) - 86_400
        for i in range(37, size, 100):  # 1 % under pinned keys, each fully valid
            k = (i // 100) % len(pinned)
            statement, entry = tiled_endorsement(
                pinned[k], b"artifact %d" % i, issued,
                certificate=None if i % 200 == 37 else certificates[k])
            name = f"sha2-256:{hashlib.sha256(statement).hexdigest()}"
            (statements / name).write_bytes(statement)
            self.pinned_entries[i] = entry
        # The fast path below writes the same bytes as testlog's canonical JSON.
        for i in (0, 3, 13):
            assert self[i] == self._canonical(i, hashedrekord_v002), i

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        pinned = self.pinned_entries.get(index)
        if pinned is not None:
            return pinned
        t = index % TEMPLATES
        digest = _b64(hashlib.sha256(b"artifact %d" % index).digest())
        if index % 10 == 3:
            verifier = '"publicKey":{"rawBytes":"' + self.other_keys[t] + '"}'
        else:
            verifier = '"x509Certificate":{"rawBytes":"' + self._certificate(index, t) + '"}'
        return (
            '{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":'
            '{"algorithm":"SHA2_256","digest":"' + digest + '"},"signature":{"content":"'
            + self.other_signatures[t] + '","verifier":{"keyDetails":"PKIX_ECDSA_P256_SHA_256",'
            + verifier + "}}}}}"
        ).encode()

    def _certificate(self, index: int, t: int) -> str:
        der, offset = self.certificates[t]
        serial = b"\x02" + hashlib.sha256(b"serial %d" % index).digest()[:19]
        return _b64(der[:offset] + serial + der[offset + 20 :])

    def _canonical(self, index: int, hashedrekord_v002: Any) -> bytes:
        t = index % TEMPLATES
        digest = hashlib.sha256(b"artifact %d" % index).digest()
        signature = base64.b64decode(self.other_signatures[t])
        if index % 10 == 3:
            return bytes(hashedrekord_v002(digest, signature, public_key_der=base64.b64decode(
                self.other_keys[t])))
        return bytes(hashedrekord_v002(digest, signature, certificate_der=base64.b64decode(
            self._certificate(index, t))))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def serve_log(size: int, directory: Path, stop: Any, out: Connection) -> None:
    """Build a log of `size` entries, serve it, send what a scanner needs, serve until stop."""
    from testlog.tiles import TiledLog, spki_der
    from testlog.tiles_server import serve_tiles

    started = time.perf_counter()
    pinned = [Endorser(f"component{i}") for i in range(PINNED_KEYS)]
    keys = []
    for endorser in pinned:
        keys.append(f"{endorser.name}={directory / endorser.name}.pem")
        (directory / f"{endorser.name}.pem").write_bytes(endorser.public_pem)
    statements = directory / "statements"
    statements.mkdir()
    entries = SyntheticEntries(size, pinned, statements)
    sha256 = hashlib.sha256
    leaves = bytearray()
    total = 0
    for i in range(size):
        entry = entries[i]
        total += len(entry)
        leaves += sha256(b"\x00" + entry).digest()
    key = ed25519.Ed25519PrivateKey.generate()
    log = TiledLog.prebuilt(entries, bytes(leaves), LOG_NAME, key)
    build = time.perf_counter() - started
    with serve_tiles(log) as server:
        out.send({
            "url": server.url,
            "log_key": log.public_key.public_bytes_raw(),
            "pinned": [spki_der(e.private_key) for e in pinned],
            "keys": keys,
            "statements": str(statements),
            "expected_matches": len(entries.pinned_entries),
            "size": size,
            "build_seconds": build,
            "entry_bytes": total,
        })
        serve_until(stop)


# --- the scan (scanner process) --------------------------------------------------------------


@dataclass
class ScanResult:
    entries: int
    matches: int
    unparsable: int
    cpu_seconds: float
    wall_seconds: float
    rss_before_mb: float
    peak_rss_mb: float
    requests: dict[str, int]
    rescan_requests: dict[str, int]
    sha256_entries_per_second: float
    sha256_mb_per_second: float


def scan_log(info: dict[str, Any], parallelism: int, out: Connection) -> None:
    from auditor.source.tiles import (
        KeyMatcher,
        LogKeyVerifier,
        Scanner,
        TileClient,
        check_history,
    )
    from tests.tiles.tiles_fetcher import RequestsFetcher

    rss_before = _peak_rss_mb()
    fetcher = RequestsFetcher()
    client = TileClient(info["url"], fetcher, parallelism=parallelism)
    verifier = LogKeyVerifier(LOG_NAME, ed25519.Ed25519PublicKey.from_public_bytes(
        info["log_key"]))
    scanner = Scanner(client, KeyMatcher(info["pinned"]))

    cpu, wall = time.process_time(), time.perf_counter()
    checkpoint = verifier(client.checkpoint())
    entries = matches = unparsable = 0
    for batch in scanner.scan(checkpoint):
        entries += batch.scanned
        matches += len(batch.matches)
        unparsable += len(batch.unparsable)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak_rss = _peak_rss_mb()  # before the baseline below reads a sample into memory
    if (entries, matches, unparsable) != (checkpoint.size, info["expected_matches"], 0):
        raise SystemExit(f"wrong scan: {entries} entries, {matches} matches, {unparsable} "
                         f"unparsable; expected {checkpoint.size}, {info['expected_matches']}, 0")
    requests = dict(client.requests)

    # A rescan when nothing changed: the checkpoint, its history, nothing to scan.
    client.requests.clear()
    again = verifier(client.checkpoint())
    assert check_history(checkpoint, again, client).ok
    assert list(scanner.scan(again, start=checkpoint.size)) == []
    rescan = dict(client.requests)

    baseline = _sha256_baseline(client, info["size"])
    client.close()
    fetcher.close()
    out.send(ScanResult(
        entries=entries, matches=matches, unparsable=unparsable, cpu_seconds=cpu,
        wall_seconds=wall, rss_before_mb=rss_before, peak_rss_mb=peak_rss,
        requests=requests, rescan_requests=rescan, sha256_entries_per_second=baseline[0],
        sha256_mb_per_second=baseline[1],
    ))


def _sha256_baseline(client: Any, size: int) -> tuple[float, float]:
    """Bare SHA-256 leaf hashing of the log's first 40 bundles (of a log of `size` entries),
    in this process: (entries/s, MB/s) of CPU time."""
    from auditor.source.tiles.codec import parse_entry_bundle
    from auditor.source.tiles.layout import ENTRY_LEVEL, TILE_WIDTH, TileId

    full = size // TILE_WIDTH
    bundles = [TileId(ENTRY_LEVEL, i) for i in range(min(40, full))]
    if len(bundles) < 40 and size % TILE_WIDTH:  # a small log: its partial bundle too
        bundles.append(TileId(ENTRY_LEVEL, full, size % TILE_WIDTH))
    sample = [e for d in client.read(bundles) for e in parse_entry_bundle(d.tile, d.data)]
    sha256 = hashlib.sha256
    started = time.process_time()
    for _ in range(10):
        for entry in sample:
            sha256(b"\x00" + entry).digest()
    spent = time.process_time() - started
    return 10 * len(sample) / spent, 10 * sum(len(e) + 1 for e in sample) / spent / 1e6


def store_log(info: dict[str, Any], db_url: str, out: Connection) -> None:
    """The full store path, as `audit crawl --tiled-log URL --log-verifier VKEY --key ...
    --statements DIR --db URL --rate ...` runs it: settings resolved from those flags, the
    audit service, its log source, the database."""
    from auditor.service import Auditor
    from auditor.settings import Flags, resolve
    from auditor.source.tiles import TileClient
    from auditor.verify.note_keys import NoteKey, SignatureType
    from tests.tiles.tiles_fetcher import RequestsFetcher

    verifier = NoteKey(LOG_NAME, SignatureType.ED25519, info["log_key"]).vkey
    flags = Flags(db=db_url, keys=tuple(info["keys"]), statements=info["statements"],
                  tiled_log=info["url"], log_verifier=verifier, rate=1e9)
    rss_before = _peak_rss_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    with Auditor(resolve(flags, {})) as auditor:
        result = auditor.crawl()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak_rss = _peak_rss_mb()
    crawl = result.crawl
    assert crawl is not None
    expected = info["expected_matches"]
    if not (crawl.complete and crawl.new == crawl.verified == expected and not crawl.findings):
        raise SystemExit(f"wrong store-path scan: {crawl.to_json()}")
    with Auditor(resolve(flags, {})) as auditor:
        again = auditor.crawl().crawl
    assert again is not None and again.complete and again.new == 0
    with TileClient(info["url"], RequestsFetcher()) as client:
        baseline = _sha256_baseline(client, info["size"])
    out.send(ScanResult(
        entries=crawl.scanned, matches=crawl.verified, unparsable=crawl.unparsable,
        cpu_seconds=cpu, wall_seconds=wall, rss_before_mb=rss_before, peak_rss_mb=peak_rss,
        requests={"all": crawl.requests}, rescan_requests={"all": again.requests},
        sha256_entries_per_second=baseline[0], sha256_mb_per_second=baseline[1]))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- orchestration -----------------------------------------------------------------------------


def bench(size: int, parallelism: int, db_url: str | None) -> None:
    context = mp.get_context("spawn")
    stop = context.Event()
    with tempfile.TemporaryDirectory(prefix="bench-tiles-") as temporary:
        directory = Path(temporary)
        server, here = started(context, serve_log, size, directory, stop)
        try:
            info = answer(here, "the log server")
            library = _measure(context, scan_log, (info, parallelism))
            store = _measure(context, store_log,
                             (info, db_url or f"sqlite:///{directory / 'bench.db'}"))
        finally:
            stop.set()
            server.join(timeout=30)
    print(f"\n{size:,} entries ({info['entry_bytes'] / size:,.0f} bytes each on average, "
          f"{library.matches:,} under pinned keys); log built in {info['build_seconds']:.1f} s "
          "(not timed)")
    _report("library scan (verified tiles, every entry matched)", library)
    _report("full store path (audit crawl --tiled-log: scan, verify, store)", store)


def _measure(context: Any, target: Any, args: tuple[Any, ...]) -> ScanResult:
    """Run `target(*args, pipe)` in a fresh process; its ScanResult."""
    result: ScanResult = in_process(context, target, *args)
    return result


def _report(what: str, result: ScanResult) -> None:
    per_cpu = result.entries / result.cpu_seconds
    print(f"  {what}: {per_cpu:,.0f} entries per CPU-second "
          f"({result.cpu_seconds:.2f} CPU-s, {result.wall_seconds:.2f} s wall, "
          f"{result.entries / result.wall_seconds:,.0f} entries/s wall)")
    print(f"    peak RSS of the process: {result.peak_rss_mb:.0f} MB "
          f"({result.rss_before_mb:.0f} MB after imports)")
    print(f"    requests: {result.requests}; no-op rescan requests: {result.rescan_requests}")
    print(f"    SHA-256 baseline (leaf hashes of the same entries): "
          f"{result.sha256_entries_per_second:,.0f} entries/s, "
          f"{result.sha256_mb_per_second:,.0f} MB/s; the scan costs "
          f"{result.sha256_entries_per_second / per_cpu:.1f}x bare hashing")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--db", help="the store path's database (default: a new SQLite file)")
    args = parser.parse_args(argv)
    if min(args.sizes) < 1 or args.parallelism < 1:
        parser.error("--sizes and --parallelism take positive numbers")
    for size in args.sizes:
        bench(size, args.parallelism, args.db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
