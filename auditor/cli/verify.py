"""`audit verify-entry`: verify one Rekor entry, Sigstore bundle, C2SP tlog-proof or PES
confirmation end to end."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auditor.cli.app import ExitCode, app, err_console, print_json, say, terminal_safe
from auditor.cli.options import ConfigOption, RekorKeyOption, TrustedRootOption, settings_for

if TYPE_CHECKING:
    from rich.table import Table

    from auditor.verify.entry import EndorsementMaterial, Verification
    from auditor.verify.receipts import Receipt

_MARK = {True: "pass", False: "FAIL", None: "skip"}
#: Checks whose skipping leaves a part of the chain unverified, and what that part is.
_UNCHECKED = {"endorser_key": "the signer (no endorser key pinned: --key)",
              "statement": "the statement (no --artifact)",
              "endorsement_signature": "the endorsement signature (no --artifact)"}
#: The checks --artifact feeds: given one, a check still skipped says its own reason (the file
#: is no statement, or not the one signed), not "no --artifact".
_OF_THE_ARTIFACT = frozenset({"statement", "endorsement_signature"})


def verdict(verifications: list[Verification], what: str = "the log entry",
            reasons: bool = False, artifact: bool = False) -> str:
    """One line: verified or not, and which part of the chain was not checked (`reasons`:
    with each skipped check's own reason, for a receipt on its own)."""
    failures = [c.name for v in verifications for c in v.failures]
    if failures:
        return "NOT verified: " + ", ".join(dict.fromkeys(failures))
    skipped = {c.name: c.detail for v in verifications for c in v.checks if c.ok is None}
    unchecked = [f"{name} ({skipped[name]})"
                 if reasons or (artifact and name in _OF_THE_ARTIFACT) else part
                 for name, part in _UNCHECKED.items() if name in skipped]
    if not unchecked:
        return "verified: all applicable checks pass"
    return (f"verified {what}; not checked: " + "; ".join(dict.fromkeys(unchecked)))


def render_checks(verification: Verification, title: str | None = None) -> Table:
    from rich.table import Table

    if title is None:
        summary = verification.summary()
        unsigned = " (unsigned)" if "log_index" in summary.get("unsigned", ()) else ""
        title = (f"entry {summary['uuid'] or '(no uuid)'} · log index {summary['log_index']}"
                 f"{unsigned}")
    table = Table(title=terminal_safe(title), title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for check in verification.checks:
        table.add_row(check.name, _MARK[check.ok], terminal_safe(check.detail))
    return table


@app.command("verify-entry")
def verify_entry_command(
    path: Annotated[Path, typer.Argument(
        metavar="PATH", help="Rekor v1 entry JSON, Sigstore bundle, C2SP tlog-proof or PES "
        "confirmation JSON (recognised by content).")],
    rekor_key: RekorKeyOption = None,
    trusted_root: TrustedRootOption = None,
    endorser_key: Annotated[list[str] | None, typer.Option(
        "--key", metavar="COMPONENT=PEM",
        help="Pinned endorser key (repeatable); here COMPONENT= may be left out: the entry "
        "is checked against every key given.")] = None,
    old_endorser_key: Annotated[list[str] | None, typer.Option(
        "--endorser-key", metavar="PEM", hidden=True, help="The old spelling of --key.")]
    = None,
    artifact: Annotated[Path | None, typer.Option(
        metavar="FILE", help="The signed file (for Oak: endorsement.json).")] = None,
    signature: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Detached signature over the artifact (DER).")] = None,
    subject: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Inline subject (Oak attachment or regex) to check.")] = None,
    at: Annotated[str | None, typer.Option(
        metavar="RFC3339", help="Judge validity at this time, not the entry's integratedTime.")]
    = None,
    tlog_policy: Annotated[Path | None, typer.Option(
        "--tlog-policy", metavar="FILE",
        help="The c2sp.org/tlog-policy a tlog-proof is verified under.")] = None,
    pes_key: Annotated[list[Path] | None, typer.Option(
        "--pes-key", metavar="PEM_OR_CERT",
        help="A trusted PES key (RSA or ECDSA P-256; a key or certificate, PEM or DER) "
        "for a PES confirmation (repeatable).")] = None,
    pes_root: Annotated[list[Path] | None, typer.Option(
        "--pes-root", metavar="CERT", help="A PES root certificate: the confirmation's PES "
        "certificate must be one or be issued by one (repeatable).")] = None,
    config_path: ConfigOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Verify a log entry (proofs, checkpoint, SET, body, keys and the endorsement), or a C2SP
    tlog-proof or PES confirmation of a statement (--artifact).

    Exit 0 when every applicable check passes, 1 when any fails, 2 for unreadable input.
    """
    from auditor.cli.query import parse_time
    from auditor.errors import ConfigError
    from auditor.keyset import require_endorser_key
    from auditor.service import Auditor
    from auditor.source.bundle import Bundle
    from auditor.source.documents import parse_log_document, read_file
    from auditor.verify.bundle import verify_bundle
    from auditor.verify.entry import EndorsementMaterial, verify_entry
    from auditor.verify.keys import load_pinned_key
    from auditor.verify.receipt_state import ReceiptKind
    from auditor.verify.receipts import Receipt, receipt_kind_of

    if (signature or subject) and artifact is None:
        # Each is checked against the artifact: without one it was passed over, and the entry
        # said verified.
        raise ConfigError("--signature and --subject are checked against --artifact: give "
                          "the signed file too")
    pems = [_pem_path(spec) for spec in [*(endorser_key or []), *(old_endorser_key or [])]]
    material = EndorsementMaterial(
        artifact=_read_artifact(artifact) if artifact else None,
        signature=read_file(signature) if signature else None,
        subject=read_file(subject) if subject else None,
        endorser_keys=tuple(require_endorser_key(load_pinned_key(read_file(Path(p)), source=p),
                                                 f"--key {p}") for p in pems),
        at=parse_time(at, "--at"),
    )
    data = read_file(path)
    # By content; a file named .tlog-proof that is not one is refused as such.
    kind = receipt_kind_of(data) or (ReceiptKind.C2SP if path.suffix == ".tlog-proof" else None)
    if kind is not None:
        if rekor_key or trusted_root:
            raise ConfigError(f"{path} is a {kind.label}: --rekor-key and --trusted-root "
                              "apply to a log entry or bundle")
        _verify_receipt(str(path), Receipt(kind, data), material, tlog_policy, pes_key or [],
                        pes_root or [], json_output)
    # Parsed first: a receipt that is not even JSON (cut, a key twice) is refused for what it
    # is, not called "a log entry or bundle" for the options given with it.
    document = parse_log_document(data, source=str(path))
    if tlog_policy is not None or pes_key or pes_root:
        raise ConfigError(f"{path} is a log entry or bundle: --tlog-policy, --pes-key and "
                          "--pes-root apply to a tlog-proof or PES confirmation")
    settings = settings_for(config_path, rekor_keys=rekor_key, trusted_root=trusted_root,
                            default_keys=False)
    keyring = Auditor(settings).keyring
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
        say(verdict(verifications, artifact=material.artifact is not None))
    raise typer.Exit(ExitCode.CLEAN if ok else ExitCode.FINDINGS)


def _read_artifact(path: Path) -> bytes:
    """The signed file, of any size when it is a file (it says its size). A device or pipe says
    none and may never end (--artifact /dev/zero read until memory ran out, exit 70): it is
    read no further than a document's bound."""
    import os
    import stat

    from auditor.errors import InputError
    from auditor.local_files import MAX_DOCUMENT_SIZE, open_input, read_at_most

    try:
        with open_input(path) as handle:
            regular = stat.S_ISREG(os.fstat(handle.fileno()).st_mode)
            data = read_at_most(handle, None if regular else MAX_DOCUMENT_SIZE)
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from None
    if data is None:
        raise InputError(f"{path}: not a file and more than {MAX_DOCUMENT_SIZE} bytes; give the "
                         "artifact as a file")
    return data


def _pem_path(spec: str) -> str:
    """The key file of `--key [COMPONENT=]PEM`. An empty one was read as the directory '.'
    ("error: .: cannot read (Is a directory)")."""
    from auditor.errors import ConfigError

    path = spec.partition("=")[2] if "=" in spec else spec
    if not path:
        raise ConfigError(f"--key {spec!r}: expected [COMPONENT=]PEM_FILE")
    return path


def _verify_receipt(source: str, receipt: Receipt, material: EndorsementMaterial,
                    tlog_policy: Path | None, pes_keys: list[Path], pes_roots: list[Path],
                    json_output: bool) -> None:
    """`verify-entry` of a tlog-proof or PES confirmation: the statement is --artifact."""
    from auditor.errors import ConfigError, InputError
    from auditor.source.documents import read_file
    from auditor.verify.receipt_state import ReceiptKind
    from auditor.verify.receipts import (
        PesKeySource,
        ReceiptTrust,
        TlogPolicySource,
        load_certificate,
        load_pes_key,
        load_tlog_policy,
        receipt_summary,
        verify_receipt,
    )

    c2sp = receipt.kind is ReceiptKind.C2SP
    what = "a C2SP tlog-proof" if c2sp else "a PES confirmation"
    if material.artifact is None:
        raise ConfigError(f"{what} is checked against its statement: give --artifact STATEMENT")
    if c2sp and tlog_policy is None:
        raise ConfigError(f"{what} is verified under a tlog-policy: give --tlog-policy FILE")
    if not c2sp and not pes_keys:
        raise ConfigError(f"{what} is verified under PES keys: give --pes-key PEM_OR_CERT")
    if (tlog_policy is not None and not c2sp) or (c2sp and (pes_keys or pes_roots)):
        raise ConfigError(f"--tlog-policy applies to a tlog-proof, --pes-key and --pes-root to "
                          f"a PES confirmation; this is {what}")
    try:
        summary = receipt_summary(receipt)
    except InputError as error:  # a malformed receipt is unreadable input: exit 2
        raise InputError(f"{source}: {error}") from None
    trust = ReceiptTrust(
        tlog_policies=(TlogPolicySource(f"--tlog-policy {tlog_policy}", load_tlog_policy(
            read_file(tlog_policy), source=str(tlog_policy))),) if tlog_policy else (),
        pes_keys=(PesKeySource("--pes-key", tuple(
            load_pes_key(read_file(p), index, source=str(p))
            for index, p in enumerate(pes_keys))),) if pes_keys else (),
        pes_roots=tuple(load_certificate(read_file(p), source=str(p)) for p in pes_roots),
    )
    verification = verify_receipt(receipt, material, trust)
    if json_output:
        print_json({"ok": verification.ok, "checks": [c.to_json() for c in verification.checks],
                    "receipt": summary})
    else:
        title = (f"C2SP tlog-proof · {summary['origin']} · index {summary['index']} of "
                 f"{summary['tree_size']}" if c2sp
                 else f"PES confirmation {summary['name']} · {summary['entry_id']}")
        err_console().print(render_checks(verification, title))
        say(verdict([verification], f"the {what.removeprefix('a ')}", reasons=True))
    raise typer.Exit(ExitCode.CLEAN if verification.ok else ExitCode.FINDINGS)

