"""Options shared by several commands, and turning flags + config into settings.

Every flag has an `AUDITOR_*` environment variable (typer reads it); a flag or variable
overrides the config file, which overrides the default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from auditor.config import SIGSTORE_PRODUCTION, AuditConfig, add_component_key, load_config
from auditor.store.database import resolve_url
from auditor.verify.trust import LogKeyring, load_keyring

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", envvar="AUDITOR_CONFIG", help="Configuration file (TOML)."),
]
DbOption = Annotated[
    str | None,
    typer.Option("--db", envvar="AUDITOR_DB", help="SQLAlchemy database URL (default: a SQLite "
                 "file in the user data directory)."),
]
RekorUrlOption = Annotated[
    str | None, typer.Option("--rekor-url", envvar="AUDITOR_REKOR_URL", help="Rekor base URL."),
]
RekorKeyOption = Annotated[
    list[Path] | None,
    typer.Option("--rekor-key", envvar="AUDITOR_REKOR_KEY", help="Pinned log key (PEM)."),
]
TrustedRootOption = Annotated[
    Path | None,
    typer.Option("--trusted-root", envvar="AUDITOR_TRUSTED_ROOT",
                 help="Sigstore trusted_root.json holding the log keys."),
]
KeyOption = Annotated[
    list[str] | None,
    typer.Option("--key", envvar="AUDITOR_KEY",
                 help="COMPONENT=PEM: pin an endorser key for a component."),
]
StatementsOption = Annotated[
    str | None,
    typer.Option("--statements", envvar="AUDITOR_STATEMENTS",
                 help="Statement store: base URL (files by sha2-256:<hex>) or directory."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def settings(config_path: Path | None, *, db: str | None = None, rekor_url: str | None = None,
             rekor_keys: list[Path] | None = None, trusted_root: Path | None = None,
             keys: list[str] | None = None, statements: str | None = None) -> AuditConfig:
    """The config file with flags applied on top.

    Without a config file, `--key` flags alone define the components (so a crawl can run on
    flags alone); with one, they add to it. With neither, the shipped reference values apply.
    """
    config = load_config(config_path)
    if keys and config_path is None:
        config.keyset.components.clear()
    for spec in keys or []:
        add_component_key(config.keyset, spec)
    config.database_url = resolve_url(db or config.database_url)
    if rekor_url:
        config.log.url = rekor_url
    if rekor_keys:
        config.log.rekor_keys = list(rekor_keys)
        config.log.trusted_root = SIGSTORE_PRODUCTION
    if trusted_root:
        config.log.trusted_root = str(trusted_root)
        config.log.rekor_keys = []
    if statements:
        config.statements = statements
    return config


def keyring_for(config: AuditConfig) -> LogKeyring:
    if config.log.rekor_keys:
        return load_keyring(config.log.rekor_keys, None)
    if config.log.trusted_root != SIGSTORE_PRODUCTION:
        return load_keyring([], Path(config.log.trusted_root))
    return load_keyring([], None)
