"""A tiled transparency log for tests (C2SP tlog-tiles), and Rekor v2 entries to fill it.

``TiledLog`` keeps entries and the stored hashes of every tile level, and signs checkpoints
like Rekor v2 and Tessera do: a C2SP signed note whose origin is the log's name, an Ed25519
signature under key id sha256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4], and optional witness
cosignatures (C2SP tlog-cosignature, ``cosignature/v1``). ``testlog.tiles_server`` serves it.

Written from the C2SP specifications and RFC 6962, independently of ``auditor.source.tiles``,
so that tests of one against the other mean something.

    log = TiledLog("tiles.example/log")
    log.extend(entries)
    note = log.checkpoint()                 # signed at the current size
    tile = log.hash_tile(1, 0, 256)         # bytes of tile/1/000
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from testlog.merkle import EMPTY_ROOT, leaf_hash, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 256
HASH = 32
EM_DASH = "\u2014"
# C2SP signed-note: the signature type byte in a key id; tlog-cosignature: 0x04 for
# cosignature/v1 (Ed25519).
_ED25519_NOTE = b"\x01"
_COSIGNATURE_V1 = b"\x04"


def _raw(public_key: ed25519.Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def note_key_id(name: str, type_byte: bytes, public_key: ed25519.Ed25519PublicKey) -> bytes:
    """C2SP signed-note key id: sha256(name ‖ "\\n" ‖ type ‖ key), all 32 bytes."""
    return hashlib.sha256(name.encode() + b"\n" + type_byte + _raw(public_key)).digest()


@dataclass(frozen=True)
class Witness:
    """A cosigner (C2SP tlog-cosignature v1, Ed25519)."""

    name: str
    key: ed25519.Ed25519PrivateKey

    def cosign(self, body: str, timestamp: int, *, corrupt: bool = False) -> str:
        """The signature line: ``— name base64(key id ‖ u64 time ‖ signature)``; ``corrupt``
        flips a bit of the signature (the line's name and key id stay the witness's)."""
        message = f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()
        signature = bytearray(self.key.sign(message))
        if corrupt:
            signature[0] ^= 1
        blob = (note_key_id(self.name, _COSIGNATURE_V1, self.key.public_key())[:4]
                + timestamp.to_bytes(8, "big") + bytes(signature))
        return f"{EM_DASH} {self.name} {base64.b64encode(blob).decode()}\n"


def _subtree_root(hashes: bytes) -> bytes:
    """MTH of 2^k consecutive complete subtrees of equal size (RFC 6962 §2.1), given packed."""
    level = [hashes[i : i + HASH] for i in range(0, len(hashes), HASH)]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


class TiledLog:
    """An append-only tiled log held in memory (thread-safe through ``lock``).

    ``levels[L]`` packs the stored hashes of tile level L: hash j is MTH(D[j·256^L :
    (j+1)·256^L]) (tlog-tiles). Entries are a list, or any sequence for a prebuilt log.
    """

    def __init__(
        self,
        name: str = "tiles.testlog.example/log",
        key: ed25519.Ed25519PrivateKey | None = None,
        *,
        clock: Callable[[], int] = lambda: int(time.time()),
        witnesses: Sequence[Witness] = (),
        extensions: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.key = key or ed25519.Ed25519PrivateKey.generate()
        self.public_key = self.key.public_key()
        self.clock = clock
        self.witnesses = list(witnesses)
        self.extensions = list(extensions)
        self.lock = threading.RLock()
        self._entries: Sequence[bytes] = []
        self._growable = True
        self.levels: list[bytearray] = [bytearray()]

    @classmethod
    def prebuilt(
        cls,
        entries: Sequence[bytes],
        leaf_hashes: bytes,
        name: str = "tiles.testlog.example/log",
        key: ed25519.Ed25519PrivateKey | None = None,
    ) -> TiledLog:
        """A log of ``entries`` (any sequence, e.g. generated on demand) whose packed leaf
        hashes are given: the tree is built bottom-up in one pass per level."""
        if len(leaf_hashes) != HASH * len(entries):
            raise ValueError("one 32-byte leaf hash per entry")
        log = cls(name, key)
        log._entries = entries
        log._growable = False
        log.levels = [bytearray(leaf_hashes)]
        span = TILE_WIDTH * HASH
        while len(log.levels[-1]) >= span:
            below = log.levels[-1]
            full = len(below) // span * span
            log.levels.append(bytearray(b"".join(
                _subtree_root(bytes(below[i : i + span])) for i in range(0, full, span)
            )))
        return log

    # --- content ---------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return len(self.levels[0]) // HASH

    @property
    def key_id(self) -> bytes:
        """The 32-byte C2SP key id (Rekor v2 bundles carry it as ``logId.keyId``)."""
        return note_key_id(self.name, _ED25519_NOTE, self.public_key)

    def append(self, entry: bytes) -> int:
        if not self._growable or not isinstance(self._entries, list):
            raise TypeError("a prebuilt log cannot grow")
        if len(entry) >= 1 << 16:
            raise ValueError("a bundle entry is at most 65535 bytes (uint16 length)")
        with self.lock:
            index = self.size
            self._entries.append(entry)
            self.levels[0] += leaf_hash(entry)
            level = 0
            # A full tile at this level closes one stored hash at the next.
            while len(self.levels[level]) % (TILE_WIDTH * HASH) == 0:
                if len(self.levels) == level + 1:
                    self.levels.append(bytearray())
                self.levels[level + 1] += _subtree_root(
                    bytes(self.levels[level][-TILE_WIDTH * HASH :])
                )
                level += 1
            return index

    def extend(self, entries: Iterable[bytes]) -> range:
        start = self.size
        for entry in entries:
            self.append(entry)
        return range(start, self.size)

    def entry(self, index: int) -> bytes:
        return self._entries[index]

    def stored_hash(self, level: int, index: int) -> bytes:
        return bytes(self.levels[level][index * HASH : (index + 1) * HASH])

    def root(self, size: int | None = None) -> bytes:
        """MTH(D[0:size]) by the RFC 6962 recursion, using stored hashes for aligned ranges."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} is outside 0..{self.size}")
        return EMPTY_ROOT if size == 0 else self._mth(0, size)

    def _mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            level = (n.bit_length() - 1) // TILE_HEIGHT
            span = TILE_WIDTH**level
            hashes = self.levels[level][lo // span * HASH : hi // span * HASH]
            return _subtree_root(bytes(hashes))
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))

    # --- what the log serves ------------------------------------------------------------------

    def checkpoint(self, size: int | None = None, *, timestamp: int | None = None) -> str:
        """A checkpoint for ``size`` (default: now), signed by the log and every witness."""
        with self.lock:
            size = self.size if size is None else size
            return self.sign(size, self.root(size), timestamp=timestamp)

    def sign(self, size: int, root: bytes, *, timestamp: int | None = None,
             origin: str | None = None, corrupt_witness: str | None = None) -> str:
        """A checkpoint for any ``size``, ``root`` and ``origin`` (default: the log's name),
        signed by the log and every witness (the one named ``corrupt_witness`` with a flipped
        bit in its signature): what a hostile log can say about itself."""
        encoded = base64.b64encode(root).decode()
        text = (origin or self.name, str(size), encoded, *self.extensions)
        body = "".join(f"{line}\n" for line in text)
        hint = note_key_id(self.name, _ED25519_NOTE, self.public_key)[:4]
        signature = base64.b64encode(hint + self.key.sign(body.encode())).decode()
        lines = [f"{EM_DASH} {self.name} {signature}\n"]
        when = self.clock() if timestamp is None else timestamp
        lines += [witness.cosign(body, when, corrupt=witness.name == corrupt_witness)
                  for witness in self.witnesses]
        return body + "\n" + "".join(lines)

    def tile_width(self, level: int, index: int, size: int | None = None) -> int:
        """Width of hash tile (level, index) in the tree of ``size`` leaves (0: none)."""
        size = self.size if size is None else size
        count = (size >> (TILE_HEIGHT * level)) - index * TILE_WIDTH
        return max(0, min(TILE_WIDTH, count))

    def hash_tile(self, level: int, index: int, width: int) -> bytes:
        start = index * TILE_WIDTH * HASH
        return bytes(self.levels[level][start : start + width * HASH])

    def entry_bundle(self, index: int, width: int) -> bytes:
        first = index * TILE_WIDTH
        return b"".join(
            len(entry).to_bytes(2, "big") + entry
            for entry in (self._entries[i] for i in range(first, first + width))
        )

    def fork(self, at: int, entries: Iterable[bytes]) -> TiledLog:
        """Another history under the same name and key: the first ``at`` entries, then
        ``entries`` (a split view when served beside this log)."""
        other = TiledLog(self.name, self.key, clock=self.clock, witnesses=self.witnesses,
                         extensions=self.extensions)
        other.extend(self.entry(i) for i in range(at))
        other.extend(entries)
        return other


# --- Rekor v2 entries ------------------------------------------------------------------------


def canonical_json(document: object) -> bytes:
    """RFC 8785 for documents of ASCII strings and objects: sorted keys, no whitespace."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _v002_verifier(public_key_der: bytes | None, certificate_der: bytes | None,
                   key_details: str) -> dict[str, object]:
    if (public_key_der is None) == (certificate_der is None):
        raise ValueError("a verifier is a public key or a certificate")
    if certificate_der is not None:
        return {"keyDetails": key_details, "x509Certificate": {"rawBytes": _b64(certificate_der)}}
    assert public_key_der is not None
    return {"keyDetails": key_details, "publicKey": {"rawBytes": _b64(public_key_der)}}


def hashedrekord_v002(
    digest: bytes,
    signature: bytes,
    *,
    public_key_der: bytes | None = None,
    certificate_der: bytes | None = None,
    key_details: str = "PKIX_ECDSA_P256_SHA_256",
) -> bytes:
    """A Rekor v2 ``hashedrekord`` 0.0.2 entry as rekor-tiles logs it (canonical protojson)."""
    return canonical_json({
        "apiVersion": "0.0.2",
        "kind": "hashedrekord",
        "spec": {"hashedRekordV002": {
            "data": {"algorithm": "SHA2_256", "digest": _b64(digest)},
            "signature": {
                "content": _b64(signature),
                "verifier": _v002_verifier(public_key_der, certificate_der, key_details),
            },
        }},
    })


def dsse_v002(
    payload_sha256: bytes,
    signatures: Sequence[tuple[bytes, bytes | None, bytes | None]],
    key_details: str = "PKIX_ECDSA_P256_SHA_256",
) -> bytes:
    """A Rekor v2 ``dsse`` 0.0.2 entry; ``signatures`` are (signature, key DER, cert DER)."""
    return canonical_json({
        "apiVersion": "0.0.2",
        "kind": "dsse",
        "spec": {"dsseV002": {
            "payloadHash": {"algorithm": "SHA2_256", "digest": _b64(payload_sha256)},
            "signatures": [
                {"content": _b64(sig), "verifier": _v002_verifier(key, cert, key_details)}
                for sig, key, cert in signatures
            ],
        }},
    })


def ambiguous(entry: bytes, other: bytes) -> bytes:
    """``entry`` with ``other``'s ``spec`` after its own: one key twice, so that a reader that
    keeps the first value and one that keeps the last (Python's) read different entries."""
    document, extra = json.loads(entry), json.loads(other)
    members = [f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}"
               for k, v in sorted(document.items())]
    members.append(f'"spec":{json.dumps(extra["spec"], separators=(",", ":"))}')
    return ("{" + ",".join(members) + "}").encode()


def spki_der(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


# Fulcio's certificate extensions for GitHub Actions identities (sigstore/fulcio
# docs/oid-info.md), which make production Rekor entries 2-3 kB. Arcs 1-6 are deprecated raw
# strings that Fulcio still adds; 8-22 are DER UTF8Strings.
_FULCIO = "1.3.6.1.4.1.57264.1."
_GITHUB_LEGACY = {
    "1": "https://token.actions.githubusercontent.com",
    "2": "push",
    "3": "{sha}",
    "4": "release",
    "5": "{repo}",
    "6": "refs/tags/v{n}",
}
_GITHUB_CLAIMS = {
    "8": "https://token.actions.githubusercontent.com",
    "9": "https://github.com/{repo}/.github/workflows/release.yml@refs/tags/v{n}",
    "10": "{sha}",
    "11": "github-hosted",
    "12": "https://github.com/{repo}",
    "13": "{sha}",
    "14": "refs/tags/v{n}",
    "15": "{id}",
    "16": "https://github.com/{owner}",
    "17": "{id}",
    "18": "https://github.com/{repo}/.github/workflows/release.yml@refs/tags/v{n}",
    "19": "{sha}",
    "20": "push",
    "21": "https://github.com/{repo}/actions/runs/{id}/attempts/1",
    "22": "public",
}


def _der(tag: int, content: bytes) -> bytes:
    """One DER TLV (X.690 §8.1.3: short length form below 128, long form above)."""
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(encoded)]) + encoded + content


class FulcioLikeIssuer:
    """Short-lived code-signing certificates shaped like Fulcio's for GitHub Actions.

    Real structure (ECDSA P-384 issuer, empty subject, URI SAN, Fulcio OID extensions, an
    SCT-list-sized extension), so that entries have production sizes and parse like them.
    """

    def __init__(self, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.key = key or ec.generate_private_key(ec.SECP384R1())
        self.name = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.dev"),
            x509.NameAttribute(NameOID.COMMON_NAME, "sigstore-intermediate"),
        ])

    def issue(self, public_key: ec.EllipticCurvePublicKey, *, owner: str = "example-org",
              repository: str = "release-tools", number: int = 1,
              serial: int | None = None) -> bytes:
        """The DER of a certificate for ``public_key``."""
        repo = f"{owner}/{repository}"
        values = {"repo": repo, "owner": owner, "n": number,
                  "sha": hashlib.sha1(b"%d" % number).hexdigest(),  # a git commit id
                  "id": 10_000_000 + number}
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=number)
        uri = f"https://github.com/{repo}/.github/workflows/release.yml@refs/tags/v{number}"
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(minutes=10))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), False)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]),
                           critical=True)
        )
        for arc, template in _GITHUB_LEGACY.items():
            builder = builder.add_extension(x509.UnrecognizedExtension(
                ObjectIdentifier(_FULCIO + arc), template.format(**values).encode()), False)
        for arc, template in _GITHUB_CLAIMS.items():
            value = template.format(**values).encode()
            # Fulcio encodes these claims as DER UTF8String.
            der = _der(0x0C, value)
            builder = builder.add_extension(
                x509.UnrecognizedExtension(ObjectIdentifier(_FULCIO + arc), der), False)
        builder = builder.add_extension(x509.UnrecognizedExtension(
            ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2"), self._sct_list(number)), False)
        certificate = builder.sign(self.key, hashes.SHA384())
        return certificate.public_bytes(serialization.Encoding.DER)

    def _sct_list(self, number: int) -> bytes:
        """An embedded SCT list (RFC 6962 §3.3) of one SCT, as Fulcio's CT log adds.

        Well-formed, the size of a real one; its signature is over nothing a CT log would sign.
        """
        signature = self.key.sign(b"sct %d" % number, ec.ECDSA(hashes.SHA256()))
        sct = (b"\x00" + hashlib.sha256(b"ct log").digest() + (1_767_225_600_000 + number)
               .to_bytes(8, "big") + b"\x00\x00" + b"\x04\x03"
               + len(signature).to_bytes(2, "big") + signature)
        sct_list = len(sct).to_bytes(2, "big") + sct
        tls = len(sct_list).to_bytes(2, "big") + sct_list
        return _der(0x04, tls)
