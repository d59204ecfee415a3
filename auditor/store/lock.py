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

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from auditor.errors import LockedError

# pg_advisory_lock takes a bigint: derive a stable one from the product name.
_ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"auditor run lock").digest()[:8], "big") >> 1


class RunLock:
    def __init__(self, engine: Engine, *, shared: bool = False) -> None:
        self._engine = engine
        # PostgreSQL: shared advisory locks coexist, and exclude an exclusive one.
        self._mode = "_shared" if shared else ""
        self._file: IO[str] | None = None
        self._connection: Connection | None = None

    def _lock_path(self) -> Path:
        url = make_url(str(self._engine.url))
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(f"{url.database}.lock")
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
        connection = self._engine.connect()
        locked = connection.execute(text(f"SELECT pg_try_advisory_lock{self._mode}(:k)"),
                                    {"k": _ADVISORY_KEY}).scalar()
        if not locked:
            connection.close()
            # Same wording as the file lock: callers and people read one message for both.
            raise LockedError("another audit run holds the lock (PostgreSQL advisory lock "
                              f"{_ADVISORY_KEY} on this database)")
        self._connection = connection

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._connection is not None:
            self._connection.execute(text(f"SELECT pg_advisory_unlock{self._mode}(:k)"),
                                     {"k": _ADVISORY_KEY})
            self._connection.close()
            self._connection = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
