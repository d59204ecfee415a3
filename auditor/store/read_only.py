"""Opening a SQLite database for a query, which never writes: read-only, wherever it lies.

A WAL-mode database is read through its `-shm` index, which SQLite creates beside the file: a
copy handed to a reviewer (mode 0444 in a directory they cannot write) failed every query with
"attempt to write a readonly database". SQLite reads such a file opened `immutable=1`, but
that ignores the `-wal` file: committed changes still in it would be missed, and wrong answers
given. So a query opens the file `mode=ro` (SQLite then reads the `-wal` through the `-shm`,
and both may lie there read-only); only where that cannot be, and no `-wal` or hot
`-journal` holds anything, is the file opened immutable, as the whole of the database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from auditor.errors import ConfigError

#: What `mode=ro` fails with when SQLite cannot create the `-shm` (or `-wal`) file it needs.
_NO_SHARED_MEMORY = frozenset({"SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY_CANTINIT",
                               "SQLITE_CANTOPEN"})
#: The files beside a database that may hold committed changes the file itself does not.
_JOURNALS = ("-wal", "-journal")


def read_only_uri(database: str) -> str:
    """The SQLite URI a query opens `database` by: `mode=ro`, else `immutable=1` if nothing
    waits in a journal; a ConfigError if something does (answers would miss it).

    Immutable means SQLite takes no locks: chosen only when this user cannot write beside the
    file, where no run of theirs can be writing it (another user's run could, and a query
    beside it could then read a page mid-checkpoint: the reason `mode=ro` comes first).
    """
    path = Path(database).absolute()
    uri = f"file:{quote(str(path))}"
    try:
        probe = sqlite3.connect(f"{uri}?mode=ro", uri=True)
        try:
            probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            probe.close()
    except sqlite3.Error as error:
        # Anything else (locked, not a database) is for the real open to report, as it does.
        if getattr(error, "sqlite_errorname", None) in _NO_SHARED_MEMORY and path.is_file():
            _refuse_pending(path)
            return f"{uri}?immutable=1"
    return f"{uri}?mode=ro"


def _refuse_pending(path: Path) -> None:
    for suffix in _JOURNALS:
        journal = path.with_name(f"{path.name}{suffix}")
        if journal.is_file() and journal.stat().st_size > 0:
            raise ConfigError(
                f"the database {path} has changes not yet in the file, in {journal}, which "
                "SQLite reads only by writing beside the file, and it cannot here: copy the "
                "database with its journal to a directory you can write, and query the copy")
