"""`audit verify-entry`: verify one Rekor entry or Sigstore bundle end to end."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auditor.cli.app import ExitCode, app, err_console, print_json, terminal_safe
from auditor.cli.options import ConfigOption, RekorKeyOption, TrustedRootOption, settings_for

if TYPE_CHECKING:
    from rich.table import Table

    from auditor.verify.entry import Verification

_MARK = {True: "pass", False: "FAIL", None: "skip"}
#: Checks whose skipping leaves a part of the chain unverified, and what that part is.
_UNCHECKED = {"endorser_key": "the signer (no endorser key pinned: --key)",
              "statement": "the statement (no --artifact)",
              "endorsement_signature": "the endorsement signature (no --artifact)"}


def verdict(verifications: list[Verification]) -> str:
    """One line: verified or not, and which part of the chain was not checked."""
    failures = [c.name for v in verifications for c in v.failures]
    if failures:
        return "NOT verified: " + ", ".join(dict.fromkeys(failures))
    skipped = {c.name for v in verifications for c in v.checks if c.ok is None}
    unchecked = [what for name, what in _UNCHECKED.items() if name in skipped]
    if not unchecked:
        return "verified: all applicable checks pass"
    return ("verified the log entry; not checked: " + "; ".join(dict.fromkeys(unchecked)))


def render_checks(verification: Verification) -> Table:
    from rich.table import Table

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
    path: Annotated[Path, typer.Argument(metavar="PATH",
                                         help="Rekor v1 entry JSON or Sigstore bundle.")],
    rekor_key: RekorKeyOption = None,
    trusted_root: TrustedRootOption = None,
    endorser_key: Annotated[list[str] | None, typer.Option(
        "--key", "--endorser-key", metavar="[COMPONENT=]PEM",
        help="Pinned endorser key (repeatable); a COMPONENT= prefix is accepted and "
        "ignored.")] = None,
    artifact: Annotated[Path | None, typer.Option(
        metavar="FILE", help="The signed file (for Oak: endorsement.json).")] = None,
    signature: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Detached signature over the artifact (DER).")] = None,
    subject: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Inline subject (Oak attachment or regex) to check.")] = None,
    at: Annotated[str | None, typer.Option(
        metavar="RFC3339", help="Judge validity at this time, not the entry's integratedTime.")]
    = None,
    config_path: ConfigOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Verify a log entry: proofs, checkpoint, SET, body, keys and the endorsement.

    Exit 0 when every applicable check passes, 1 when any fails, 2 for unreadable input.
    """
    from auditor.cli.query import parse_time
    from auditor.service import Auditor
    from auditor.source.bundle import Bundle
    from auditor.source.documents import parse_log_document, read_file
    from auditor.verify.bundle import verify_bundle
    from auditor.verify.entry import EndorsementMaterial, verify_entry
    from auditor.verify.keys import load_public_key

    settings = settings_for(config_path, rekor_keys=rekor_key, trusted_root=trusted_root,
                            default_keys=False)
    keyring = Auditor(settings).keyring
    pems = [spec.partition("=")[2] if "=" in spec else spec for spec in endorser_key or []]
    material = EndorsementMaterial(
        artifact=read_file(artifact) if artifact else None,
        signature=read_file(signature) if signature else None,
        subject=read_file(subject) if subject else None,
        endorser_keys=tuple(load_public_key(read_file(Path(p)), source=p) for p in pems),
        at=parse_time(at, "--at"),
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
            err_console().print(render_checks(verification))
        err_console().print(verdict(verifications))
    raise typer.Exit(ExitCode.CLEAN if ok else ExitCode.FINDINGS)
