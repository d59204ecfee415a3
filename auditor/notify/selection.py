"""What fires: the pure rule that turns a run's findings and the delivery ledger into alerts.

One alert per finding per channel, ever: a finding fires on a channel when it is a problem
(unsuppressed, not a MATCH) at or above the minimum severity and the ledger holds no delivered
alert for its fingerprint on that channel. A channel that failed is simply still missing from
the ledger, so the next run tries it again; nothing else is needed for a retry.

With resolved messages on, a finding that was alerted on a channel and no longer appears at all
(not even suppressed: a suppression acknowledges a finding, it does not resolve it) gets one
"resolved" alert there. The ledger then forgets the open alert, so the finding would fire again
if it came back, which is news.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from datetime import datetime

from auditor.findings import Finding, Severity, at_or_above, unique
from auditor.notify.interface import Alert


def alerts_to_send(
    findings: Iterable[Finding],
    already_delivered: Set[tuple[str, str]],
    min_severity: Severity,
    previously_open: Iterable[Alert],
    *,
    channels: Sequence[str],
    resolved: bool,
    report: str | None,
    run_time: datetime,
    present: Set[str] | None = None,
    unjudged: Set[str] = frozenset(),
) -> dict[str, list[Alert]]:
    """Per channel, the alerts this run sends, most severe first.

    `already_delivered` holds (channel, fingerprint) for every alert a channel has delivered
    and that is still open there (the ledger). `previously_open` are those open alerts as they
    were sent (or rebuilt from the stored finding), to word a "resolved" message; they are only
    read when `resolved` is on. An alert of a rule in `unjudged` (one the run did not look at,
    such as a crawl-only rule in a run that did not crawl) is never resolved: its finding is
    missing because nobody looked, not because it is gone.
    """
    current = unique(findings)
    if present is None:
        present = {finding.fingerprint for finding in current}
    firing = sorted(at_or_above(current, min_severity),
                    key=lambda f: (-f.severity.rank, f.rule, f.fingerprint))
    plan: dict[str, list[Alert]] = {channel: [] for channel in channels}
    for finding in firing:
        alert: Alert | None = None
        for channel in channels:
            if (channel, finding.fingerprint) not in already_delivered:
                alert = alert or Alert.from_finding(finding, report=report, run_time=run_time)
                plan[channel].append(alert)
    if resolved:
        gone = {a.fingerprint: a for a in previously_open
                if a.fingerprint not in present and a.rule not in unjudged}
        for fingerprint in sorted(gone):
            done = gone[fingerprint].resolved(report=report, run_time=run_time)
            for channel in channels:
                if (channel, fingerprint) in already_delivered:
                    plan[channel].append(done)
    return plan
