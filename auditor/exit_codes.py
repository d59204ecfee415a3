"""The exit codes: a contract with cron, systemd and CI (README, "Exit codes")."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    CLEAN = 0
    FINDINGS = 1
    USAGE = 2
    INCOMPLETE = 3
    INTERNAL = 70
    LOCKED = 75
    INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2
    TERMINATED = 143  # SIGTERM: 128 + 15
    CLOSED_PIPE = 141  # SIGPIPE's: 128 + 13, what a shell shows for `cat big | head`
