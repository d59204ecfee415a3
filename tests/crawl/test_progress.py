"""`audit crawl` shows its progress on stderr when stderr is a terminal (a pseudo-terminal
here, as a person's shell gives it), and says nothing but its summary when it is not (cron)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from tests.crawl.world import World

REPO = Path(__file__).resolve().parents[2]
#: The crawl's stages, as the Rekor v1 source names them.
STAGES = ("searching the index by component key", "fetching entries")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def crawl(world: World, db_url: str, *, terminal: bool) -> tuple[int, str]:
    """Run `audit crawl` in a fresh process; its exit code and everything it wrote on stderr."""
    command = [sys.executable, "-m", "auditor", "crawl", *world.flags(), "--db", db_url]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm", "COLUMNS": "160"}
    if not terminal:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120,
                              check=False)
        return done.returncode, done.stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_sees_stage_entries_and_requests(world: World, db_url: str) -> None:
    world.server.faults.delay = 0.15  # slow answers: the display refreshes while it waits
    code, output = crawl(world, db_url, terminal=True)
    assert code == 0, output
    shown = ANSI.sub("", output)
    assert all(stage in shown for stage in STAGES), shown
    # One line of the display: the stage, done/total, the requests sent so far.
    line = re.compile(rf"(?:{'|'.join(STAGES)})[^\r\n]*?\d+/\d+[^\r\n]*?\b[1-9]\d* requests?\b")
    assert line.search(shown), shown
    assert "crawl complete: 30 new" in shown


def test_cron_sees_only_the_summary(world: World, db_url: str) -> None:
    code, output = crawl(world, db_url, terminal=False)
    assert code == 0, output
    assert not any(stage in output for stage in STAGES)
    assert "\x1b[" not in output
    lines = output.strip().splitlines()
    assert all(line.startswith("note: ") for line in lines[:-1]), lines  # trust by flags
    assert lines[-1].startswith("crawl complete: 30 new, 30 verified, 0 failed")
