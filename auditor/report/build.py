"""Assemble the JSON report (schema v1) from the store and a recorded run.

The JSON document is the source of truth; every other format renders it. It is rebuilt from
the database, so `audit report` can render the latest run at any time, in any format.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor import __version__
from auditor.audit import run_summary
from auditor.reconcile.endorsed import EndorsedValue, load_endorsed
from auditor.store import models
from auditor.verify.entry import CHECK_NAMES

SCHEMA_VERSION = 1


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def logs_section(session: Session) -> list[dict[str, Any]]:
    logs = []
    for log in session.scalars(select(models.Log).order_by(models.Log.id)):
        heads = []
        for shard in session.scalars(select(models.Shard).where(models.Shard.log_pk == log.id)
                                     .order_by(models.Shard.id)):
            head = session.scalar(select(models.StoredCheckpoint)
                                  .where(models.StoredCheckpoint.shard_pk == shard.id)
                                  .order_by(models.StoredCheckpoint.size.desc()).limit(1))
            if head is not None:
                heads.append({"tree_id": shard.tree_id, "tree_size": head.size,
                              "root_hash": head.root_hash, "checkpoint": head.note,
                              "frozen": shard.frozen})
        logs.append({"log_id": log.log_id, "name": log.name, "heads": heads})
    return logs


def _components(session: Session) -> list[dict[str, Any]]:
    by_component: dict[str, list[dict[str, str]]] = {}
    for key in session.scalars(select(models.ComponentKey).order_by(models.ComponentKey.component,
                                                                    models.ComponentKey.id)):
        by_component.setdefault(key.component, []).append(
            {"sha256": key.key_sha256, "source": key.source})
    return [{"name": name, "keys": keys} for name, keys in by_component.items()]


def endorsement_item(value: EndorsedValue, matched: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "component": value.component,
        "key_sha256": value.signer_key_sha256,
        "uuid": value.uuid,
        "log_index": value.log_index,
        "tree_id": value.tree_id,
        "integrated_time": _iso(value.when),
        "logged": value.logged,
        "subject_name": value.subject_name,
        "subject_digests": value.subject_digests,
        "measurements": value.measurements(),
        "valid_from": _iso(value.valid_from),
        "valid_until": _iso(value.valid_until),
        "statement_format": value.statement_format,
        "ok": value.ok,
        "checks": [{"name": name, "ok": ok, "detail": detail}
                   for name, ok, detail in value.checks if name in CHECK_NAMES],
        "matches": matched.get(str(value.endorsement_id), []),
    }


def build_report(session: Session, run: models.Run, exit_code: int | None = None) -> dict[str, Any]:
    summary = run_summary(run)
    findings: list[dict[str, Any]] = summary.get("findings", [])
    crawl = summary.get("crawl") or {}
    fingerprints = {f["fingerprint"] for f in findings}
    findings = findings + [f for f in crawl.get("findings", [])
                           if f["fingerprint"] not in fingerprints]
    matched: dict[str, list[str]] = summary.get("matched", {})
    endorsements = [endorsement_item(v, matched) for v in load_endorsed(session)]
    open_findings = [f for f in findings if f["suppressed"] is None]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.now(UTC).isoformat(),
        "tool": {"name": "auditor", "version": __version__},
        "run": {
            "kind": run.kind if run.kind in ("run", "reconcile") else "report",
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "complete": run.complete,
            "config": summary.get("config"),
            "offline": bool(summary.get("offline", True)),
        },
        "logs": logs_section(session),
        "components": _components(session),
        "endorsements": endorsements,
        "releases": summary.get("releases", []),
        "findings": findings,
        "summary": {
            "by_severity": dict(Counter(f["severity"] for f in open_findings)),
            "suppressed": len(findings) - len(open_findings),
            "endorsements": len(endorsements),
            "failed_entries": sum(1 for e in endorsements if not e["ok"]),
            "exit_code": run.exit_code if exit_code is None else exit_code,
        },
    }
