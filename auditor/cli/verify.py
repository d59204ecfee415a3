"""`audit verify-entry`: verify one Rekor entry or Sigstore bundle end to end."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from auditor.cli.app import ExitCode, app, out_console, print_json, terminal_safe
from auditor.errors import InputError
from auditor.source.bundle import Bundle
from auditor.source.documents import parse_log_document, read_file
from auditor.verify.bundle import verify_bundle
from auditor.verify.entry import EndorsementMaterial, Verification, verify_entry
from auditor.verify.keys import load_public_key
from auditor.verify.trust import load_keyring

_MARK = {True: "pass", False: "FAIL", None: "skip"}


def parse_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--at {value!r} is not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise InputError(f"--at {value!r} needs a time zone (e.g. Z)")
    return moment.astimezone(UTC)


def render_checks(verification: Verification) -> Table:
    summary = verification.summary()
    title = f"entry {summary['uuid'] or '(no uuid)'} · log index {summary['log_index']}"
    table = Table(title=terminal_safe(title), title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for check in verification.checks:
        table.add_row(check.name, _MARK[check.ok], terminal_safe(check.detail))
    return table


@app.command("verify-entry")
def verify_entry_command(
    path: Annotated[Path, typer.Argument(help="Rekor v1 entry JSON or Sigstore bundle.")],
    rekor_key: Annotated[
        list[Path] | None, typer.Option("--rekor-key", help="Pinned log public key (PEM).")
    ] = None,
    trusted_root: Annotated[
        Path | None, typer.Option(help="Sigstore trusted_root.json with the log keys.")
    ] = None,
    endorser_key: Annotated[
        list[Path] | None,
        typer.Option("--endorser-key", help="Pinned endorser (component) public key (PEM)."),
    ] = None,
    artifact: Annotated[
        Path | None, typer.Option(help="The signed file (for Oak: endorsement.json).")
    ] = None,
    signature: Annotated[
        Path | None, typer.Option(help="Detached signature over the artifact (DER).")
    ] = None,
    subject: Annotated[
        Path | None, typer.Option(help="Inline subject (Oak attachment or regex) to check.")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="Judge validity at this RFC 3339 time, not integratedTime.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Verify a log entry: proofs, checkpoint, SET, body, keys and the endorsement.

    Exit 0 when every applicable check passes, 1 when any fails, 2 for unreadable input.
    """
    keyring = load_keyring(rekor_key or [], trusted_root)
    material = EndorsementMaterial(
        artifact=read_file(artifact) if artifact else None,
        signature=read_file(signature) if signature else None,
        subject=read_file(subject) if subject else None,
        endorser_keys=tuple(
            load_public_key(read_file(p), source=str(p)) for p in endorser_key or []
        ),
        at=parse_at(at),
    )
    document = parse_log_document(read_file(path), source=str(path))
    if isinstance(document, Bundle):
        verifications = verify_bundle(document, keyring, material)
    else:
        verifications = [verify_entry(document, keyring, material)]
    ok = all(v.ok for v in verifications)
    if json_output:
        result = verifications[0].to_json()
        result["ok"] = ok
        if len(verifications) > 1:
            result["entries"] = [v.to_json() for v in verifications]
        print_json(result)
    else:
        for verification in verifications:
            out_console.print(render_checks(verification))
        out_console.print("verified: all applicable checks pass" if ok else
                          "NOT verified: " + ", ".join(
                              c.name for v in verifications for c in v.failures))
    raise typer.Exit(ExitCode.CLEAN if ok else ExitCode.FINDINGS)
