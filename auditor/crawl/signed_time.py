"""A Rekor v1 entry's signed integratedTime, held against when the auditor holds the entry.

The signed entry timestamp signs the time the log says it integrated the entry, and the
endorsement's validity is judged at it (as Oak's verifiers do). A hostile log signs what it
likes: an entry dated after it was served says it was integrated at a time that had not come,
and an endorsement valid only from then on (a future release's, or a stolen key's) was judged
valid. The auditor's own clock decides, with a margin for the two clocks' disagreement, at the time
it first held the entry: verified again once the time has passed, the entry still lied.

The other way, a log can date an entry back: integrated now, signed as of a time when an
expired key or endorsement was still valid. A head the log served (GET /log) at time W is its
word that its tree then held fewer leaves than the entry's: an entry at that leaf or later was
integrated after W. Only heads count: a checkpoint in an entry's proof or a receipt may be
years older than when the auditor saw it (Oak's receipts are), and proves nothing about then.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from auditor.source.entry import LogEntry
from auditor.store import history as stored_history
from auditor.store import models
from auditor.store.tables import aware

#: How far the log's clock may run ahead of (or behind) the auditor's before its time is a
#: lie; behind, it also covers a head the log served a while after signing it.
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


def dated_back(session: Session, log: models.Log, entry: LogEntry,
               tree_id: int) -> tuple[str, models.StoredCheckpoint, datetime] | None:
    """Why the entry (of tree `tree_id`, its proof verified) was dated back, the head that
    shows it and when the log served that head, if it was (see `backdated`)."""
    if entry.proof is None:
        return None
    leaf = entry.proof.log_index
    smallest = stored_history.smallest_head(session, log, tree_id)
    if smallest is None or leaf < smallest:
        return None  # in every head the log served: the first crawl's entries, old ranges
    head = stored_history.head_at_or_below(session, log, tree_id, leaf)
    if head is None or head.head_at is None:
        return None
    head_at = aware(head.head_at)
    why = backdated(entry, leaf, head.size, head_at)
    return None if why is None else (why, head, head_at)


def backdated(entry: LogEntry, leaf: int, head_size: int, head_at: datetime) -> str | None:
    """Why the entry at `leaf` of its tree cannot have been integrated when it says, the log
    having served a head of `head_size` leaves (no more than `leaf`) at `head_at`, if so."""
    if not entry.integrated_time:
        return None
    integrated = datetime.fromtimestamp(entry.integrated_time, UTC)
    if integrated >= head_at - CLOCK_MARGIN:
        return None
    return (f"the signed integratedTime {integrated.isoformat()} is before the log served a "
            f"head of {head_size} leaves ({head_at.isoformat()}, allowing {CLOCK_MARGIN} for "
            f"clocks), yet the entry is leaf {leaf}: the log dated it back")
