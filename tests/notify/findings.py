"""Findings about the real Oak release entries under tests/data/oak, as the engine words them.

The evidence is real (each component's Rekor entry UUID and log index, the SHA-256 of the
statement it logs, the subject it names); the rule each finding carries is chosen to cover
every severity the selection rule distinguishes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

from auditor.findings import Finding, Suppression
from tests.oakdata import RELEASE

RUN_TIME = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
TODAY = date(2026, 3, 2)
REPORT = "https://audit.example/oak/2026-03-02.html"

#: component -> the rule its finding carries (critical, high, medium, low, info).
RULE_OF = {"stage0": "ENTRY_INVALID", "kernel": "UNEXPECTED_ENDORSEMENT",
           "kernel_cmd_line": "EXPIRED_AT_INTEGRATION", "init_ram_fs": "LEGACY_FORMAT",
           "system_image": "MATCH"}


def entry_evidence(component: str) -> dict[str, object]:
    folder = RELEASE / "components" / component
    uuid, entry = next(iter(json.loads((folder / "logentry.json").read_text()).items()))
    statement = (folder / "endorsement.json").read_bytes()
    subject = json.loads(statement)["subject"][0]
    return {"uuid": uuid, "log_index": entry["logIndex"],
            "statement_sha256": hashlib.sha256(statement).hexdigest(),
            "subject": subject["name"], "digests": subject["digest"]}


def finding(component: str, rule: str | None = None, detail: str | None = None,
            **evidence: object) -> Finding:
    base = entry_evidence(component)
    rule = rule or RULE_OF[component]
    return Finding(rule, component, detail or f"log index {base['log_index']}: {rule.lower()}",
                   {**base, **evidence}, identity=("uuid", "statement_sha256"))


def release_findings() -> list[Finding]:
    return [finding(component) for component in RULE_OF]


def suppressed(f: Finding) -> Finding:
    return f.suppress([Suppression(f.rule, f.component, "known, tracked in OAK-123",
                                   date(2026, 12, 31))], TODAY)
