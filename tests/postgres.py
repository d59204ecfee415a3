"""A throwaway PostgreSQL cluster for the tests: `initdb` and `pg_ctl` in a temporary directory.

The server listens on a unix socket inside that directory only (no TCP port to collide with
anything), trusts local connections, and skips fsync: it lives for one test session. PostgreSQL
refuses to run as root, so under root (CI) the server runs as an unprivileged user (`postgres`
from the Debian package, else `nobody`); the tests connect to its socket as the cluster's
superuser role whatever their own uid.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

#: The cluster's superuser role (initdb -U); any OS user may connect as it over the socket.
ROLE = "auditor"
#: Unprivileged OS users tried, in order, when the tests run as root.
SERVER_USERS = ("postgres", "nobody")
#: Server settings for a disposable cluster: durability off, room for many test engines.
SERVER_SETTINGS = {
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "32MB",
}


class PostgresUnavailable(Exception):
    """The PostgreSQL server binaries or driver are missing, or the cluster did not start."""


def server_binaries() -> Path:
    """The directory holding `initdb`, `pg_ctl` and `postgres`: PATH first, then Debian's."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    # Debian installs the server outside PATH, one directory per major version.
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                    key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                    reverse=True)
    candidates += [Path(p) for p in debian]
    for directory in candidates:
        if all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or under "
        "/usr/lib/postgresql/*/bin: install them with `apt-get install postgresql`")


def _server_user() -> pwd.struct_passwd | None:
    """The OS user the server runs as: None for the current user unless that is root."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable(f"running as root and none of the users {SERVER_USERS} exists "
                              "to run the PostgreSQL server as")


@dataclass
class Cluster:
    """A running throwaway cluster; `url(name)` for each database created in it."""

    directory: Path
    binaries: Path
    user: pwd.struct_passwd | None
    _names: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{ROLE}@/{database}?host={self.socket_dir}"

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", self.user.pw_name, "--"] if self.user else []
        result = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.directory / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(f"{Path(args[0]).name} failed ({result.returncode}): "
                                      f"{result.stderr.strip()[-2000:]}\n{tail}")

    def _admin(self, statement: str) -> None:
        import psycopg  # the PostgreSQL driver is a test extra; imported only when needed

        with psycopg.connect(host=str(self.socket_dir), user=ROLE, dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(statement.encode())

    def create_database(self) -> str:
        """A new, empty database; returns its SQLAlchemy URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        # FORCE: engines a test left open must not keep the database alive (PostgreSQL 13+).
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def start(self) -> None:
        if self.user is not None:
            os.chown(self.directory, self.user.pw_uid, self.user.pw_gid)
        self._run(str(self.binaries / "initdb"), "-D", str(self.data), "-U", ROLE, "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        options = " ".join(f"-c {key}={value}" for key, value in SERVER_SETTINGS.items())
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
                  "-l", str(self.directory / "server.log"),
                  "-o", f"-k {self.socket_dir} {options}", "start")

    def stop(self) -> None:
        try:
            # immediate: nothing in a throwaway cluster is worth a checkpoint at shutdown.
            self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


PREFIX = "auditor-pg-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans() -> None:
    """Stop clusters whose test session died without its teardown (SIGKILL, SIGTERM)."""
    for directory in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int((directory / "owner").read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        try:
            postmaster = int((directory / "data" / "postmaster.pid").read_text().split()[0])
            os.kill(postmaster, signal.SIGQUIT)  # immediate shutdown of that server only
        except (OSError, ValueError, IndexError):
            pass
        shutil.rmtree(directory, ignore_errors=True)


def start_cluster() -> Cluster:
    """initdb + pg_ctl start in a fresh temporary directory; PostgresUnavailable on failure."""
    try:
        import psycopg  # noqa: F401  (the driver must be there for the tests to connect)
    except ImportError:
        raise PostgresUnavailable("the psycopg driver is not installed: "
                                  "pip install '.[test]'") from None
    binaries = server_binaries()
    user = _server_user()
    # Not pytest's tmp_path: its 0700 parents would keep an unprivileged server out; and a
    # short path keeps the socket name under the 107-byte limit of sun_path.
    reap_orphans()
    directory = Path(tempfile.mkdtemp(prefix=PREFIX))
    (directory / "owner").write_text(str(os.getpid()))
    cluster = Cluster(directory, binaries, user)
    try:
        cluster.start()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return cluster
