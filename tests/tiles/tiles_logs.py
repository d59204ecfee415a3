"""Tiled test logs of Rekor v2 entries whose matches are known by construction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from tiles_fetcher import RequestsFetcher

from auditor.source.tiles import (
    KeyMatcher,
    LogKeyVerifier,
    TileCache,
    TileClient,
)
from auditor.verify.checkpoint import Checkpoint
from testlog import FulcioLikeIssuer, RunningTileServer, TiledLog
from testlog.tiles import dsse_v002, hashedrekord_v002, spki_der

ISSUER = FulcioLikeIssuer()
PINNED = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
PINNED_SPKI = [spki_der(k) for k in PINNED]
OTHER = ec.generate_private_key(ec.SECP256R1())
OTHER_CERTIFICATE = ISSUER.issue(OTHER.public_key())
PINNED_CERTIFICATES = [ISSUER.issue(k.public_key(), number=i) for i, k in enumerate(PINNED)]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass
class Contents:
    """What was appended: the indexes of entries under each pinned key, and of junk."""

    matches: dict[int, tuple[bytes, ...]] = field(default_factory=dict)
    unparsable: set[int] = field(default_factory=set)


def signed_entry(key: ec.EllipticCurvePrivateKey, number: int, *, certificate: bytes | None
                 ) -> bytes:
    """A hashedrekord 0.0.2 whose signature verifies over the artifact's digest."""
    artifact = b"artifact %d" % number
    signature = key.sign(artifact, ec.ECDSA(hashes.SHA256()))
    if certificate is not None:
        return hashedrekord_v002(sha256(artifact), signature, certificate_der=certificate)
    return hashedrekord_v002(sha256(artifact), signature, public_key_der=spki_der(key))


def fill(log: TiledLog, count: int, contents: Contents) -> Contents:
    """Append `count` entries: every 37th under a pinned key (a bare key or a certificate),
    every 53rd a DSSE entry with a pinned signer, every 101st junk, the rest other keys."""
    for _ in range(count):
        i = log.size
        if i % 37 == 5:
            k = i % 3
            certificate = PINNED_CERTIFICATES[k] if i % 2 else None
            log.append(signed_entry(PINNED[k], i, certificate=certificate))
            contents.matches[i] = (sha256(PINNED_SPKI[k]),)
        elif i % 53 == 7:
            log.append(dsse_v002(sha256(b"%d" % i), [(b"s", spki_der(OTHER), None),
                                                     (b"s", PINNED_SPKI[1], None)]))
            contents.matches[i] = (sha256(PINNED_SPKI[1]),)
        elif i % 101 == 9:
            log.append(b"junk %d" % i)
            contents.unparsable.add(i)
        else:
            log.append(hashedrekord_v002(sha256(b"%d" % i), b"sig", certificate_der=(
                OTHER_CERTIFICATE if i % 4 else None), public_key_der=(
                None if i % 4 else spki_der(OTHER))))
    return contents


@dataclass
class Source:
    """A client, verifier and matcher on a served log: what the lead will wire together."""

    server: RunningTileServer
    client: TileClient
    fetcher: RequestsFetcher

    @property
    def log(self) -> TiledLog:
        return self.server.log

    def checkpoint(self) -> Checkpoint:
        return LogKeyVerifier(self.log.name, self.log.public_key)(self.client.checkpoint())

    def close(self) -> None:
        self.client.close()
        self.fetcher.close()


def connect(server: RunningTileServer, *, cache: TileCache | None = None,
            deadline: float = 30.0, parallelism: int = 8) -> Source:
    fetcher = RequestsFetcher(deadline=deadline)
    client = TileClient(server.url, fetcher, cache=cache, parallelism=parallelism)
    return Source(server, client, fetcher)


MATCHER = KeyMatcher(PINNED_SPKI)
