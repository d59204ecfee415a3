"""An `audit crawl` process stopped with SIGTERM once it is where a test wants it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Stopped:
    code: int
    stderr: str
    #: From SIGTERM to the process's end.
    seconds: float


def crawl_stopped(args: list[str], db_url: str, ready: Callable[[], bool], *,
                  settle: float = 0.2) -> Stopped:
    """Run `audit crawl ARGS --db DB_URL`, wait (at most a minute) until `ready()`, then
    `settle` seconds more, and send it SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "auditor", "crawl", *args, "--db", db_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "AUDITOR_DB": db_url})
    deadline = time.monotonic() + 60
    while not ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(settle)
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    return Stopped(process.returncode, stderr, time.monotonic() - signalled)
