"""Command-line interface: `audit`."""

from __future__ import annotations

import importlib
import os
import sys
import traceback

from auditor.cli.app import ExitCode, app, err_console
from auditor.errors import AuditorError

_COMMAND_MODULES = (
    "crawl", "measure", "query", "reconcile", "store", "verify", "version_cmd",
)


def _register_commands() -> None:
    # Each module adds its commands to `app` when imported.
    for name in _COMMAND_MODULES:
        importlib.import_module(f"auditor.cli.{name}")


def main() -> None:
    try:
        _register_commands()
        app(standalone_mode=True)
    except AuditorError as error:
        err_console.print(f"error: {error.diagnostics()}")
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        err_console.print("error: interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as error:  # the contract says 70, never a bare traceback
        if os.environ.get("AUDITOR_DEBUG"):
            traceback.print_exc()
        err_console.print(
            f"internal error: {type(error).__name__}: {error} "
            "(set AUDITOR_DEBUG=1 for the traceback)"
        )
        sys.exit(ExitCode.INTERNAL)
