"""A publisher's endorsement index with Oak's layout, built from the test log's endorsements.

Oak publishes each endorsement package into content-addressed files named ``sha2-256:<hex>``
and a link index (``tr/endorscope/storage.rs``): ``<type>/sha2-256:<source>`` lists, one
``sha2-256:`` hash a line, the files related to that one. ``publish()`` writes what Oak's release
process writes for a package: the statement, its signature (link 14), the signature's key (16),
the key's endorsement list (21), the subject's endorsements (13), the inline subject, and, for a
logged endorsement, the Rekor entry as the log serves it (15).

    index = PublisherIndex()
    index.publish(endorsement, log=rekor_log)       # with its Rekor receipt
    index.publish(unlogged_endorsement)             # no receipt
    keyset = index.keyset("release", [stage0, kernel])
    with serve_index(index) as server:              # server.files_url, server.links_url
        server.faults.alter(index.hash_of(endorsement.signature))
        server.faults.hide(sha256_hex)              # a link to a missing file
        server.faults.server_errors(3)
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from testlog.api import RekorApi
from testlog.faults import ContentFaults
from testlog.log import LogEntry, RekorLog
from testlog.synthetic import Endorsement, Endorser

SIGNATURE = 14
REKOR_ENTRY = 15
PUBLIC_KEY = 16
ENDORSEMENTS_FOR_SUBJECT = 13
ENDORSEMENTS_FOR_KEY = 21
KEYS_FOR_KEYSET = 22
TLOG_PROOF = 31
PES_CONFIRMATION = 32


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def entry_document(log: RekorLog, entry: LogEntry, faults: ContentFaults | None = None) -> bytes:
    """The entry as ``GET /api/v1/log/entries/{uuid}`` serves it now (Oak's logentry.json),
    with the content `faults` the log's server has on, if given."""
    with log.lock:
        api = RekorApi(log, faults or ContentFaults())
        view = next(v for v in api.visible_shards() if v.shard.tree_id == entry.tree_id)
        document = api.entry_document(view, entry)
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


@dataclass(frozen=True)
class Published:
    """What ``publish`` wrote for one package (hex SHA-256 of each file)."""

    endorsement: str
    signature: str
    key: str
    subject: str
    receipt: str | None


class PublisherIndex:
    """Files and links in memory, thread-safe. Links keep their order and never repeat."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.links: dict[tuple[int, str], list[str]] = {}
        self.lock = threading.RLock()

    def add_file(self, content: bytes) -> str:
        digest = sha256_hex(content)
        with self.lock:
            self.files[digest] = content
        return digest

    def link(self, link_type: int, source: str, target: str) -> None:
        with self.lock:
            targets = self.links.setdefault((link_type, source), [])
            if target not in targets:
                targets.append(target)

    def link_body(self, link_type: int, source: str) -> bytes | None:
        """The link file as Oak writes it (a newline after each hash), None when absent."""
        with self.lock:
            targets = self.links.get((link_type, source))
            if targets is None:
                return None
            return "".join(f"sha2-256:{t}\n" for t in targets).encode()

    def publish(self, endorsement: Endorsement, *, log: RekorLog | None = None,
                receipt: bytes | None = None, key_file: bytes | None = None) -> Published:
        """Publish a package; with `log`, its Rekor receipt as that log serves the entry (or
        `receipt`, any bytes, as the Rekor entry); `key_file`: the key as the publisher
        stores it (default: PEM)."""
        with self.lock:
            statement = self.add_file(endorsement.statement)
            signature = self.add_file(endorsement.signature)
            key = self.add_file(key_file or endorsement.endorser.public_pem)
            subject = self.add_file(endorsement.subject)
            self.link(SIGNATURE, statement, signature)
            self.link(PUBLIC_KEY, signature, key)
            self.link(ENDORSEMENTS_FOR_KEY, key, statement)
            self.link(ENDORSEMENTS_FOR_SUBJECT, subject, statement)
            if log is not None and receipt is None:
                receipt = entry_document(log, endorsement.entry)
            receipt_hash = None
            if receipt is not None:
                receipt_hash = self.add_file(receipt)
                self.link(REKOR_ENTRY, statement, receipt_hash)
        return Published(statement, signature, key, subject, receipt_hash)

    def list_only(self, endorsement: Endorsement) -> str:
        """List ``endorsement`` under its key (21) without storing any of its files: a hash
        the store never serves. Its statement's hash."""
        with self.lock:
            key = self.add_file(endorsement.endorser.public_pem)
            self.link(ENDORSEMENTS_FOR_KEY, key, endorsement.statement_sha256)
        return endorsement.statement_sha256

    def keyset(self, name: str, endorsers: Iterable[Endorser], *, joined: bool = False) -> str:
        """A keyset listing these endorsers' keys (link 22); its hash. `joined`: one key file
        holding every endorser's PEM, one after the other (a file that names two keys)."""
        pems = [endorser.public_pem for endorser in endorsers]
        with self.lock:
            keyset = self.add_file(f"keyset {name}\n".encode())
            for pem in [b"".join(pems)] if joined else pems:
                self.link(KEYS_FOR_KEYSET, keyset, self.add_file(pem))
        return keyset
