#!/usr/bin/env python3
"""Serve a local Rekor v1 log, or a tiled log, with synthetic Oak-style endorsements, for demos.

    .venv/bin/python scripts/testlog_serve.py --entries 1000 --keys 3 --shards 2
    .venv/bin/python scripts/testlog_serve.py --tiled --entries 5000 --keys 3 --witnesses 2

Prints the API base URL and where the log key, the endorser keys and the statements were
written (pass those to ``audit crawl --rekor-url URL --rekor-key PEM --key NAME=PEM
--statements DIR``). ``--index`` also serves the publisher's own endorsement index in Oak's
layout (``--index-files URL --index-links URL``), publishing every entry with its Rekor receipt
except ``--unpublished`` ones, plus ``--unlogged`` packages the log never saw. With ``--tiled``
the log is a C2SP tiled log like a Rekor v2 shard: one
entry in ten is an endorsement (``hashedrekord`` 0.0.2), the others are signed by a stranger's
key; it prints the tiles URL, the log's verifier key and, with witnesses, a tlog-policy file
(pass those to ``audit crawl --tiled-log URL --log-verifier VKEY [--tlog-policy FILE]``).
Stops on Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testlog is not installed

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from testlog import (
    Endorser,
    PublisherIndex,
    RekorLog,
    TiledLog,
    Witness,
    add_endorsements,
    serve,
    serve_index,
    serve_tiles,
)
from testlog.synthetic import Endorsement, endorse, tiled_endorsement
from testlog.tiles import hashedrekord_v002, note_key_id, spki_der

#: C2SP signed-note signature types: a log's Ed25519 key, a witness's cosignature/v1 key.
ED25519, COSIGNATURE_V1 = b"\x01", b"\x04"
COMPONENTS = ("stage0", "kernel", "kernel_cmd_line", "init_ram_fs", "system_image")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100, help="synthetic entries to log")
    parser.add_argument("--keys", type=int, default=3, help="endorser keys (1-5)")
    parser.add_argument("--shards", type=int, default=1, help="split the entries over shards")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--out", type=Path, help="where to write keys and statements")
    parser.add_argument("--index", action="store_true",
                        help="also serve the publisher's index (files and links)")
    parser.add_argument("--unpublished", type=int, default=0,
                        help="with --index: log this many more endorsements, unpublished")
    parser.add_argument("--unlogged", type=int, default=0,
                        help="with --index: publish this many endorsements the log never saw")
    parser.add_argument("--tiled", action="store_true",
                        help="serve a tiled log (C2SP tlog-tiles, like Rekor v2)")
    parser.add_argument("--witnesses", type=int, default=0,
                        help="with --tiled: witnesses cosigning each checkpoint (0-5)")
    args = parser.parse_args(argv)
    if not 1 <= args.keys <= len(COMPONENTS) or args.shards < 1 or args.entries < 0:
        parser.error("--keys must be 1-5, --shards at least 1, --entries at least 0")
    if not 0 <= args.witnesses <= 5 or (args.witnesses and not args.tiled):
        parser.error("--witnesses (0-5) goes with --tiled")
    if args.tiled and args.index:
        parser.error("--index publishes a Rekor v1 log's endorsements: not with --tiled")

    if args.out is not None:
        return serve_demo(args, args.out)
    # Keys and statements only this run's log answers for: gone with it (Ctrl-C, SIGTERM).
    out = Path(tempfile.mkdtemp(prefix="testlog-"))
    try:
        return serve_demo(args, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def serve_demo(args: argparse.Namespace, out: Path) -> int:
    """Build the log the arguments ask for, write its keys and statements under `out`, and
    serve it until SIGINT or SIGTERM."""
    (out / "endorsers").mkdir(parents=True, exist_ok=True)
    (out / "statements").mkdir(exist_ok=True)
    endorsers = [Endorser(name) for name in COMPONENTS[: args.keys]]
    for endorser in endorsers:
        (out / "endorsers" / f"{endorser.name}.pem").write_bytes(endorser.public_pem)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.tiled:
        serve_tiled(args, out, endorsers, stop)
        return 0
    log = RekorLog()
    per_shard = -(-args.entries // args.shards) if args.entries else 0
    logged = 0
    endorsements: list[Endorsement] = []
    for shard in range(args.shards):
        if shard:
            log.rotate()
        batch = add_endorsements(log, endorsers, min(per_shard, args.entries - logged))
        logged += len(batch)
        endorsements += batch
        for endorsement in batch:
            name = f"sha2-256:{endorsement.statement_sha256}"
            (out / "statements" / name).write_bytes(endorsement.statement)
    index = PublisherIndex()
    if args.index:
        publish(index, log, endorsements, args.unpublished, args.unlogged)

    log_key = out / "rekor_public_key.pem"
    log_key.write_bytes(log.signer.public_pem)
    with serve(log, args.host, args.port) as server, serve_index(index, args.host) as store:
        print(f"url: {server.url}", flush=True)
        if args.index:
            print(f"index files: {store.files_url}", flush=True)
            print(f"index links: {store.links_url}", flush=True)
        print(f"log key: {log_key}", flush=True)
        print(f"endorser keys: {out / 'endorsers'}", flush=True)
        print(f"statements: {out / 'statements'}", flush=True)
        print(f"entries: {log.size} in {len(log.shards)} shard(s); Ctrl-C stops", flush=True)
        stop.wait()
    return 0


def publish(index: PublisherIndex, log: RekorLog, endorsements: list[Endorsement],
            unpublished: int, unlogged: int) -> None:
    """Publish every logged endorsement with its receipt, then log some endorsements the index
    does not list and publish some the log never saw."""
    for endorsement in endorsements:
        index.publish(endorsement, log=log)
    endorsers = list({e.endorser.name: e.endorser for e in endorsements}.values())
    elsewhere = RekorLog(clock=log.clock)
    for i in range(unpublished):
        endorse(log, endorsers[i % len(endorsers)], f"outside the release {i}".encode())
    for i in range(unlogged):
        index.publish(endorse(elsewhere, endorsers[i % len(endorsers)],
                              f"never logged {i}".encode()))


def serve_tiled(args: argparse.Namespace, out: Path, endorsers: list[Endorser],
                stop: threading.Event) -> None:
    """A tiled log of `args.entries` entries, one in ten an endorsement by an endorser key."""
    witnesses = [Witness(f"witness{i}.testlog.example", ed25519.Ed25519PrivateKey.generate())
                 for i in range(args.witnesses)]
    log = TiledLog("tiles.testlog.example/log", witnesses=witnesses)
    stranger = spki_der(ec.generate_private_key(ec.SECP256R1()))
    issued = int(time.time()) - 86_400  # statements valid from a day ago, for 90 days
    for i in range(args.entries):
        if i % 10 == 3:
            endorser = endorsers[(i // 10) % len(endorsers)]
            statement, entry = tiled_endorsement(endorser, b"%s build %d" % (
                endorser.name.encode(), i), issued)
            name = f"sha2-256:{hashlib.sha256(statement).hexdigest()}"
            (out / "statements" / name).write_bytes(statement)
        else:
            entry = hashedrekord_v002(hashlib.sha256(b"%d" % i).digest(), b"signature",
                                      public_key_der=stranger)
        log.append(entry)
    verifier = _vkey(log.name, ED25519, log.public_key)
    if witnesses:
        # C2SP tlog-policy: the log's key, each witness (cosignature/v1), all of them needed.
        lines = [f"log {verifier}"]
        lines += [f"witness w{i} {_vkey(w.name, COSIGNATURE_V1, w.key.public_key())}"
                  for i, w in enumerate(witnesses)]
        lines += [f"group all-witnesses all {' '.join(f'w{i}' for i in range(len(witnesses)))}",
                  "quorum all-witnesses"]
        (out / "policy.txt").write_text("\n".join(lines) + "\n")
    with serve_tiles(log, args.host, args.port) as server:
        print(f"url: {server.url}", flush=True)
        print(f"log verifier: {verifier}", flush=True)
        if witnesses:
            print(f"tlog policy: {out / 'policy.txt'}", flush=True)
        print(f"endorser keys: {out / 'endorsers'}", flush=True)
        print(f"statements: {out / 'statements'}", flush=True)
        print(f"entries: {log.size}, {args.entries // 10 + (args.entries % 10 > 3)} endorsed; "
              "Ctrl-C stops", flush=True)
        stop.wait()


def _vkey(name: str, type_byte: bytes, key: ed25519.Ed25519PublicKey) -> str:
    """C2SP signed-note verifier key: `<name>+<hex key id>+<base64(type ‖ key)>`."""
    raw = type_byte + key.public_bytes_raw()
    return f"{name}+{note_key_id(name, type_byte, key)[:4].hex()}+{base64.b64encode(raw).decode()}"


if __name__ == "__main__":
    sys.exit(main())
