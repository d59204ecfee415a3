"""Assemble the JSON report (schema v1) from the store and a recorded run.

The JSON document is the source of truth; every other format renders it. It is rebuilt from
the database, so `audit report` can render the latest run at any time, in any format.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from auditor.report.model import EndorsementItem, FindingItem, Report, Rows
from auditor.store import reads
from auditor.store.runs import FindingRecord, RunView, run_finding_counts, run_findings
from auditor.store.views import EndorsementView, endorsement_counts, endorsement_views
from auditor.verify.check_names import ALL_CHECKS

SCHEMA_VERSION = 1


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def logs_section(session: Session, until: datetime | None = None) -> list[dict[str, Any]]:
    return [{"log_id": log.log_id, "name": log.name,
             "heads": [{"tree_id": h.tree_id, "tree_size": h.tree_size, "root_hash": h.root_hash,
                        "checkpoint": h.checkpoint, "frozen": h.frozen} for h in log.heads]}
            for log in reads.log_heads(session, until)]


def _components(session: Session) -> list[dict[str, Any]]:
    by_component: dict[str, list[dict[str, str]]] = {}
    for key in reads.pinned_keys(session):
        by_component.setdefault(key.component, []).append(
            {"sha256": key.sha256, "source": key.source})
    return [{"name": name, "keys": keys} for name, keys in by_component.items()]


def finding_item(record: FindingRecord) -> FindingItem:
    from auditor.findings import RULES

    rule = RULES[record.rule]
    return {"rule": record.rule, "severity": record.severity, "title": rule.title,
            "component": record.component, "release": record.release, "detail": record.detail,
            "explanation": rule.explanation, "evidence": record.evidence,
            "fingerprint": record.fingerprint, "suppressed": record.suppressed}


def endorsement_item(value: EndorsementView, matched: dict[str, list[str]]) -> EndorsementItem:
    return {
        "component": value.component,
        "key_sha256": value.signer_key_sha256,
        "uuid": value.uuid,
        "log_index": value.log_index,
        "tree_id": value.tree_id,
        "integrated_time": _iso(value.when),
        "logged": value.logged,
        "receipts": [kind.value for kind in value.receipts],
        "subject_name": value.subject_name,
        "subject_digests": value.subject_digests,
        "measurements": value.measurements(),
        "valid_from": _iso(value.valid_from),
        "valid_until": _iso(value.valid_until),
        "statement_format": value.statement_format,
        "ok": value.ok,
        "checks": [{"name": name, "ok": ok, "detail": detail}
                   for name, ok, detail in value.checks if name in ALL_CHECKS],
        "matches": matched.get(str(value.endorsement_id), []),
    }


def build_report(session: Session, run: RunView, exit_code: int | None = None) -> Report:
    """The report of `run`; its findings and endorsements are read from the store (through
    `session`, which must stay open while the report is written) as they are rendered."""
    from auditor import __version__

    summary = run.summary
    matched: dict[str, list[str]] = summary.get("matched", {})
    counts = run_finding_counts(session, run.id)
    # The store as the run left it: a crawl since stored entries and heads no finding of the
    # run judged, and `audit report` would list them beside its findings.
    until = run.finished_at
    endorsements, failed = endorsement_counts(session, until)
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
            "overrides": dict(summary.get("overrides") or {}),
        },
        "logs": logs_section(session, until),
        "components": _components(session),
        "endorsements": Rows(lambda: (endorsement_item(v, matched)
                                      for v in endorsement_views(session, until=until)),
                             endorsements),
        "releases": summary.get("releases", []),
        "findings": Rows(lambda: (finding_item(f) for f in run_findings(session, run.id)),
                         counts.total, ordered=True),
        "summary": {
            "by_severity": counts.by_severity,
            "suppressed": counts.suppressed,
            "endorsements": endorsements,
            "failed_entries": failed,
            "exit_code": run.exit_code if exit_code is None else exit_code,
        },
    }
