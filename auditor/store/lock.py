"""One run at a time per database: a file lock beside SQLite, an advisory lock elsewhere.

A cron job that fires while the previous run is still crawling must not interleave with it;
the second run exits 75 (EX_TEMPFAIL) with a clear message instead. Crawls of tiled logs only,
which split their work through the database, share the lock on PostgreSQL (any number of them,
but never beside an exclusive run); SQLite, without row locks to split work by, keeps one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from types import TracebackType
from typing import IO

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, PendingRollbackError

from auditor.errors import LockedError, LockLostError

# pg_advisory_lock takes a bigint: derive a stable one from the product name.
_ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"auditor run lock").digest()[:8], "big") >> 1


class RunLock:
    def __init__(self, engine: Engine, *, shared: bool = False) -> None:
        self._engine = engine
        # PostgreSQL: shared advisory locks coexist, and exclude an exclusive one.
        self._mode = "_shared" if shared else ""
        self._file: IO[str] | None = None
        self._connection: Connection | None = None
        self._suspect = self._lost = False

    def _lock_path(self) -> Path:
        url = make_url(str(self._engine.url))
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            # Beside the file itself: a URL naming it through a symlink (or relative to
            # another directory) locked a file of its own, and two runs went on at once.
            return Path(f"{Path(url.database).resolve()}.lock")
        import platformdirs

        runtime = Path(platformdirs.user_runtime_dir("auditor", appauthor=False))
        digest = hashlib.sha256(str(url).encode()).hexdigest()[:16]
        return runtime / f"run-{digest}.lock"

    def acquire(self) -> None:
        if self._engine.dialect.name == "postgresql":
            self._acquire_advisory()
            return
        path = self._lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # held open for the whole run
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise LockedError(f"another audit run holds the lock {path}"
                              + (f" (pid {holder})" if holder else "")) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def _acquire_advisory(self) -> None:
        # The lock lives as long as this session: outside a transaction (autocommit), and with
        # idle sessions never timed out, so a shared server's idle_in_transaction_session_timeout
        # or idle_session_timeout cannot end it while the run works on other connections (it
        # did: the lock went silently and a second run started beside the first).
        connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if _times_out_idle_sessions(connection):
            connection.execute(text("SET idle_session_timeout = 0"))
        locked = connection.execute(text(f"SELECT pg_try_advisory_lock{self._mode}(:k)"),
                                    {"k": _ADVISORY_KEY}).scalar()
        if not locked:
            connection.close()
            # Same wording as the file lock: callers and people read one message for both.
            raise LockedError("another audit run holds the lock (PostgreSQL advisory lock "
                              f"{_ADVISORY_KEY} on this database)")
        self._connection = connection
        self._suspect = self._lost = False
        event.listen(self._engine, "invalidate", self._server_ended_a_session)
        event.listen(self._engine, "checkout", self._still_held)

    # A session the server ended (a restart, pg_terminate_backend) may have been the lock's:
    # the pool replaces the others as they are taken (pool_pre_ping), and the run would go
    # on without its lock, beside the next run to take it. Once the pool has met one such
    # session, each connection taken out first asks whether the lock's session lives.

    def _server_ended_a_session(self, *_args: object) -> None:
        self._suspect = True

    def _still_held(self, *_args: object) -> None:
        lock = self._connection
        if not self._suspect or lock is None:
            return
        if not self._lost:
            try:
                lock.execute(text("SELECT 1"))
                self._suspect = False
                return
            except (DBAPIError, PendingRollbackError):
                self._lost = True
        # Raised at every later use too (the crawl's own cleanup reads the store): the run
        # ends with this reason, not with a later one that hides it.
        raise LockLostError("the database ended the session holding this run's lock (a server "
                            "restart, an administrator): stopped, so that no other run goes on "
                            "beside this one; what was stored is kept")

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        connection, self._connection = self._connection, None
        if connection is not None:
            event.remove(self._engine, "invalidate", self._server_ended_a_session)
            event.remove(self._engine, "checkout", self._still_held)
            try:
                if self._lost:
                    return
                connection.execute(text(f"SELECT pg_advisory_unlock{self._mode}(:k)"),
                                   {"k": _ADVISORY_KEY})
                if _times_out_idle_sessions(connection):
                    connection.execute(text("RESET idle_session_timeout"))  # back to the pool
            except DBAPIError as error:
                # A session that is gone took its lock with it; raising here would hide the
                # error that ended the run (the connection lost beneath the run) behind this one.
                if not error.connection_invalidated:
                    raise
            finally:
                connection.close()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


def _times_out_idle_sessions(connection: Connection) -> bool:
    # idle_session_timeout came with PostgreSQL 14; an older server has none to turn off.
    return (connection.dialect.server_version_info or (0,)) >= (14,)
