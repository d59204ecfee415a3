from __future__ import annotations

from auditor.cli.app import app, out_console


@app.command("version")
def version() -> None:
    """Print the auditor's version."""
    from auditor import __version__

    out_console().print(__version__)
