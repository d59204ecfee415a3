"""The benchmarks' processes: a log server or a measured run, each in a fresh process that
sends its answer on a pipe.

The pipe's other end is closed here once the process has started, so that a process that dies
before it answers (its traceback printed above) is an end of file here and the benchmark ends
with exit 1, rather than waiting forever for an answer that cannot come.
"""

from __future__ import annotations

import os
from typing import Any


def started(context: Any, target: Any, *args: Any) -> tuple[Any, Any]:
    """`target(*args, pipe)` started in a fresh process: (the process, our end of the pipe)."""
    theirs, ours = context.Pipe()
    process = context.Process(target=target, args=(*args, theirs))
    process.start()
    theirs.close()
    return process, ours


def answer(ours: Any, what: str) -> Any:
    """What the process at the other end of `ours` sent; exit 1 if it ended first."""
    try:
        return ours.recv()
    except EOFError:
        raise SystemExit(f"{what} ended before it answered (its error is above)") from None


def in_process(context: Any, target: Any, *args: Any) -> Any:
    """`target(*args, pipe)` run in a fresh process: what it sent."""
    process, ours = started(context, target, *args)
    try:
        return answer(ours, getattr(target, "__name__", "the measured process"))
    finally:
        process.join()


def serve_until(stop: Any) -> None:
    """In a server process: wait for `stop`, or for the benchmark that started it to end without
    setting it (killed): a server left behind waited for ever."""
    parent = os.getppid()
    while not stop.wait(1.0):
        if os.getppid() != parent:
            return
