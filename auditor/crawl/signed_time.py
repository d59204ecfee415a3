"""A Rekor v1 entry's signed integratedTime, held against when the auditor holds the entry.

The signed entry timestamp signs the time the log says it integrated the entry, and the
endorsement's validity is judged at it (as Oak's verifiers do). A hostile log signs what it
likes: an entry dated after it was served says it was integrated at a time that had not come,
and an endorsement valid only from then on (a future release's, or a stolen key's) was judged
valid. The auditor's own clock decides, with a margin for the two clocks' disagreement, at the time
it first held the entry: verified again once the time has passed, the entry still lied.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from auditor.source.entry import LogEntry

#: How far the log's clock may run ahead of the auditor's before its time is a lie.
CLOCK_MARGIN = timedelta(hours=1)


def from_the_future(entry: LogEntry, seen: datetime) -> str | None:
    """Why the entry's integratedTime cannot be true, the entry held at `seen` (when the
    auditor first verified it: the lie stays one once that time has passed), if so."""
    if not entry.integrated_time:
        return None
    integrated = datetime.fromtimestamp(entry.integrated_time, UTC)
    if integrated <= seen + CLOCK_MARGIN:
        return None
    return (f"the signed integratedTime {integrated.isoformat()} is after the auditor first "
            f"held the entry ({seen.isoformat()}, allowing {CLOCK_MARGIN} for clocks): the "
            f"log signed a time that had not come")
