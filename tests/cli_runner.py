"""Run `audit ...` in process through the real entry point, error handling included."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from auditor.cli import main


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


RunAudit = Callable[..., CliResult]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def make_runner(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RunAudit:
    def run(*args: str) -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["audit", *args])
        # main() handles SIGINT and SIGTERM as the command's own; the test process gets its
        # handlers back (else a signal meant for the test runner raises the auditor's
        # Interrupted wherever the process then is).
        handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
        try:
            with pytest.raises(SystemExit) as exited:
                main()
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        captured = capsys.readouterr()
        code = exited.value.code
        return CliResult(code if isinstance(code, int) else 0, captured.out, captured.err)

    return run
