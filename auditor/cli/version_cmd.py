from __future__ import annotations

from auditor import __version__
from auditor.cli.app import app, out_console


@app.command("version")
def version() -> None:
    """Print the auditor's version."""
    out_console().print(__version__)
