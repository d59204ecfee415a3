"""PostgreSQL's planner statistics kept in step with the tables a crawl fills.

PostgreSQL plans each query from table statistics that autovacuum refreshes at most once a
minute, once a tenth of a table has changed. A first crawl fills empty tables faster than that,
and each batch looks its leaf hashes up among the entries stored before it (`leaf_hash IN (...)`,
500 at a time): planned as if `entries` still held a few rows, the look-up read every stored
entry and compared it with every hash, so the crawl's time grew with the square of its size
(7 of the 9 CPU-seconds the server spent on a crawl of 20,000 entries).

So each time this process has doubled the rows it stored since it last did, it analyzes the
tables the store fills: a few times a crawl, never on a rerun that stores nothing. ANALYZE runs
after the batch's commit, in a transaction of its own: it holds its lock until its transaction
ends, and two crawls holding it inside theirs could wait on each other. SQLite needs none of it
(it plans from its indexes alone).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

#: Rows stored (one per verification) before the first ANALYZE; each later one at twice the
#: rows of the one before.
FIRST = 1_000
#: The tables `store_verifications` fills, and whose look-ups a batch makes.
TABLES = ("entries", "endorsements", "verifications", "check_results", "receipts")
#: In `Session.info`: rows of the session's transaction not yet committed, and the factory's
#: `_Growth`.
_PENDING = "auditor.rows_stored"
_GROWTH = "auditor.growth"


@dataclass
class _Growth:
    due: int
    stored: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def committed(self, rows: int) -> bool:
        """Count `rows` committed; whether the tables are due for ANALYZE now."""
        with self.lock:
            self.stored += rows
            if self.stored < self.due:
                return False
            self.due = 2 * self.stored
            return True


def session_info(engine: Engine) -> dict[str, object]:
    """The `info` of a session factory on `engine`: on PostgreSQL, the count of rows its
    sessions store, shared through each session's copy of it. The listeners below are the
    Session class's, set once: listeners set per factory are removed by a weakref callback as
    the factory is collected, and an interrupt raised while such a callback runs is lost."""
    return {_GROWTH: _Growth(FIRST)} if engine.dialect.name == "postgresql" else {}


def stored(session: Session, rows: int) -> None:
    """`rows` rows were stored in the session's transaction: counted if it commits."""
    if _GROWTH in session.info:
        session.info[_PENDING] = session.info.get(_PENDING, 0) + rows


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    rows = session.info.pop(_PENDING, 0)
    if rows and session.info[_GROWTH].committed(rows):
        analyze(session.get_bind().engine)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ended without a commit (after one, `_after_commit` took the count)
    stored nothing."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def analyze(engine: Engine) -> None:
    """ANALYZE the store's tables, in a transaction of its own. A failure is left alone:
    statistics only make the store faster, and a database that has gone away fails the next
    statement the crawl makes, with its own error."""
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql(f"ANALYZE {', '.join(TABLES)}")
    except SQLAlchemyError:
        pass
