"""`audit measure ...`: recompute measurements from local artifacts."""

from __future__ import annotations

import typer

from auditor.cli.app import app

measure_app = typer.Typer(
    help="Recompute boot-component measurements from local artifacts.", no_args_is_help=True
)
app.add_typer(measure_app, name="measure")
