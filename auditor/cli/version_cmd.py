from __future__ import annotations

import sys

from auditor.cli.app import app


@app.command("version")
def version() -> None:
    """Print the auditor's version."""
    from auditor import __version__

    # Plain text: rich's console turns a closed pipe into exit 1, which says "findings".
    sys.stdout.write(__version__ + "\n")
