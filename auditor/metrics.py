"""The Prometheus metrics file `audit run --metrics-file PATH` writes after every run.

node_exporter's textfile collector reads `*.prom` files from a directory on every scrape, so
the file must never be seen half written: it is written to a temporary file in the same
directory (not matching `*.prom`), flushed to disk, then renamed over the target (rename is
atomic within a file system, POSIX rename(2)). A symlink at the target is refused: replacing it
would silently stop updating wherever it pointed.

The file describes the last run, so every value is a gauge. Points in time are exported as Unix
timestamps, never as ages: the file is scraped for hours after it was written, and an age would
freeze while a timestamp lets the alerting rule compute `time() - ...` at evaluation time
(Prometheus "Writing exporters": "export the Unix timestamp ... not the time since").

Label values (component and log names) may come from a log: the text format escapes only
backslash, double quote and line feed, so a raw CR or other control character would reach every
reader of the file (a universal-newline reader splits the line at a CR). They are made visible
first, as in every other rendering (`auditor.report.text.visible`), and a backslash already
in them is doubled: a label value names its series, so a name holding a real NUL and one holding
the text `\\x00` must not become one series (the second would overwrite the first).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from sqlalchemy.orm import Session

from auditor.crawl.summary import CrawlSummary
from auditor.errors import ConfigError
from auditor.findings import RULES, Finding, FindingTally, Severity
from auditor.notify.dispatch import DeliveryReport
from auditor.report.text import visible
from auditor.store.reads import component_counts, log_heads


@dataclass(frozen=True)
class ShardHead:
    log: str
    #: The shard's tree id.
    shard: str
    size: int
    #: When this head was first seen at this size: the last time the shard grew, as observed.
    grew_at: datetime
    #: False for a frozen (rotated-out) shard, which never grows again.
    active: bool = True


@dataclass(frozen=True)
class RunMetrics:
    started: datetime
    duration_seconds: float
    exit_code: int
    complete: bool
    #: Unsuppressed findings by (severity, rule); every known rule is exported, absent ones as 0.
    findings: Mapping[tuple[Severity, str], int] = field(default_factory=dict)
    #: Stored endorsements and log entries per component.
    endorsements: Mapping[str, int] = field(default_factory=dict)
    entries: Mapping[str, int] = field(default_factory=dict)
    log_heads: Sequence[ShardHead] = ()
    #: HTTP requests and retries this run, per log.
    requests: Mapping[str, int] = field(default_factory=dict)
    retries: Mapping[str, int] = field(default_factory=dict)
    #: Alerts this run delivered, and those due that the channel does not have (failed here,
    #: or held by another run that has not delivered them), per channel.
    alerts_delivered: Mapping[str, int] = field(default_factory=dict)
    alert_failures: Mapping[str, int] = field(default_factory=dict)


def gather(session: Session, *, started: datetime, duration_seconds: float, exit_code: int,
           complete: bool, findings: FindingTally, crawl: CrawlSummary | None,
           channels: Sequence[str], deliveries: DeliveryReport | None) -> RunMetrics:
    """A run's metrics: its own outcome, and the store's counts and log heads after it."""
    counts = component_counts(session)
    heads = [ShardHead(log.name or log.log_id, str(head.tree_id), head.tree_size, head.seen_at,
                       active=not head.frozen)
             for log in log_heads(session) for head in log.heads]
    # One summary per log source (a combined crawl keeps its parts).
    crawls = (crawl.sources or [crawl]) if crawl is not None else []
    report = deliveries or DeliveryReport()
    return RunMetrics(
        started=started, duration_seconds=duration_seconds, exit_code=exit_code,
        complete=complete, findings=tallied(findings),
        endorsements=counts.endorsements, entries=counts.entries, log_heads=heads,
        requests={c.source: c.requests for c in crawls},
        retries={c.source: c.retries for c in crawls},
        alerts_delivered={name: report.delivered(name) for name in channels},
        alert_failures={name: report.undelivered_on(name) for name in channels})


def count_findings(findings: Iterable[Finding]) -> dict[tuple[Severity, str], int]:
    """`RunMetrics.findings` from a run's findings: suppressed ones do not count."""
    return dict(Counter((f.severity, f.rule) for f in findings if f.suppressed_by is None))


def tallied(tally: FindingTally) -> dict[tuple[Severity, str], int]:
    """`RunMetrics.findings` from a run's tally (unsuppressed findings per rule)."""
    return {(RULES[rule].severity, rule): n for rule, n in tally.by_rule.items()}


def metrics_registry(metrics: RunMetrics) -> CollectorRegistry:
    registry = CollectorRegistry()

    def gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=registry)

    gauge("auditor_last_run_timestamp_seconds",
          "When the last audit run started (Unix time).").set(metrics.started.timestamp())
    gauge("auditor_last_run_duration_seconds",
          "How long the last audit run took.").set(metrics.duration_seconds)
    gauge("auditor_last_run_exit_code",
          "Exit code of the last run: 0 clean, 1 findings, 2 usage, 3 incomplete or an alert "
          "not delivered, 70 internal.").set(metrics.exit_code)
    gauge("auditor_last_run_complete",
          "1 if the last run audited everything it was asked to, else 0.").set(metrics.complete)
    findings = gauge("auditor_findings", "Unsuppressed findings of the last run.",
                     ("severity", "rule"))
    counts = {(rule.severity, rule.id): 0 for rule in RULES.values()} | dict(metrics.findings)
    for (severity, rule), count in counts.items():
        findings.labels(severity.value, rule).set(count)
    _per_label(gauge("auditor_endorsements", "Stored endorsements per component.",
                     ("component",)), metrics.endorsements)
    _per_label(gauge("auditor_log_entries", "Stored log entries per component.",
                     ("component",)), metrics.entries)
    size = gauge("auditor_log_head_size", "Tree size of the newest head seen per log shard.",
                 ("log", "shard", "state"))
    grew = gauge("auditor_log_head_growth_timestamp_seconds",
                 "When the shard's head was last seen to grow (Unix time).",
                 ("log", "shard", "state"))
    for head in metrics.log_heads:
        labels = (_label(head.log), _label(head.shard),
                  "active" if head.active else "frozen")
        size.labels(*labels).set(head.size)
        grew.labels(*labels).set(head.grew_at.timestamp())
    _per_label(gauge("auditor_last_run_http_requests", "HTTP requests the last run made per log.",
                     ("log",)), metrics.requests)
    _per_label(gauge("auditor_last_run_http_retries", "HTTP retries in the last run per log.",
                     ("log",)), metrics.retries)
    _per_label(gauge("auditor_last_run_alerts_delivered",
                     "Alerts the last run delivered per channel.", ("channel",)),
               metrics.alerts_delivered)
    _per_label(gauge("auditor_last_run_alert_failures",
                     "Alerts due that the last run left undelivered per channel (failed, or "
                     "held by another run that had not delivered them; retried next run).",
                     ("channel",)), metrics.alert_failures)
    return registry


def _per_label(gauge: Gauge, values: Mapping[str, int]) -> None:
    for label, value in sorted(values.items()):
        gauge.labels(_label(label)).set(value)


def _label(text: str) -> str:
    """`text` as a label value: visible, and one value per text (see the module's doc)."""
    return visible(text.replace("\\", "\\\\"), keep="")


def write_metrics_file(metrics: RunMetrics, path: Path) -> None:
    """Write the Prometheus text format to `path` atomically; a ConfigError if it cannot."""
    content = generate_latest(metrics_registry(metrics))
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise ConfigError(f"{path}: the metrics file is a symlink; refusing to replace it")
    except FileNotFoundError:
        pass
    except OSError as error:
        raise ConfigError(f"{path}: cannot inspect the metrics file ({error.strerror})") from None
    directory = path.parent
    try:
        # Same directory: rename is atomic only within one file system. The name does not end
        # in .prom, so the textfile collector never reads it half written.
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise ConfigError(f"{path}: cannot write the metrics file ({error.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; node_exporter runs as another user
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write the metrics file ({error.strerror})") from None
