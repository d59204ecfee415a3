"""Options shared by commands, and the one way every command turns them into settings.

Flags are read here; environment variables and the config file are read by
`auditor.settings.resolve`, which applies the one precedence (flag > environment > config >
default) for every command. Each option's help names its environment variable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click.types import ParamType

from auditor.errors import InputError
from auditor.numbers import integer, number

if TYPE_CHECKING:
    from typer._click import Context, Parameter

    from auditor.settings import Settings


class _Decimal(ParamType):
    """A numeric flag's type: click's INT and FLOAT take what Python's int() and float() take
    (`--limit 1_0` was 10, `--rate 1e3` 1000); this takes plain decimal (auditor.numbers). A
    refusal is a usage error, one line naming the flag and its help (exit 2)."""

    def __init__(self, name: str, parse: Callable[[str, str], Any]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: Parameter | None, ctx: Context | None) -> Any:
        if not isinstance(value, str):  # a default, already a number
            return value
        try:
            return self._parse(value, "")
        except InputError as refused:
            self.fail(str(refused), param, ctx)


#: The click types of integer and decimal-number flags (`click_type=` of typer.Option).
INTEGER = _Decimal("integer", integer)
NUMBER = _Decimal("number", number)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", metavar="FILE",
                 help="Configuration file (TOML). [env: AUDITOR_CONFIG]"),
]
DbOption = Annotated[
    str | None,
    typer.Option("--db", metavar="URL", help="Database: a SQLAlchemy URL or a SQLite file path "
                 "(default: a SQLite file in the user data directory). [env: AUDITOR_DB]"),
]
RekorUrlOption = Annotated[
    str | None,
    typer.Option("--rekor-url", metavar="URL",
                 help="Rekor base URL (default https://rekor.sigstore.dev). "
                 "[env: AUDITOR_REKOR_URL]"),
]
RekorKeyOption = Annotated[
    list[Path] | None,
    typer.Option("--rekor-key", metavar="PEM",
                 help="Pin this log public key instead of the Sigstore trusted root "
                 "(repeatable). [env: AUDITOR_REKOR_KEY]"),
]
TrustedRootOption = Annotated[
    Path | None,
    typer.Option("--trusted-root", metavar="JSON",
                 help="Sigstore trusted_root.json holding the log keys. "
                 "[env: AUDITOR_TRUSTED_ROOT]"),
]
KeyOption = Annotated[
    list[str] | None,
    typer.Option("--key", metavar="COMPONENT=PEM",
                 help="Pin an endorser key for a component (repeatable). [env: AUDITOR_KEY]"),
]
StatementsOption = Annotated[
    str | None,
    typer.Option("--statements", metavar="URL_OR_DIR",
                 help="Statement store: a base URL serving sha2-256:<hex> files, or a "
                 "directory. [env: AUDITOR_STATEMENTS]"),
]
RateOption = Annotated[
    float | None,
    typer.Option("--rate", metavar="RPS", click_type=NUMBER,
                 help="Requests per second to each source (default: "
                 "4 to Rekor v1, 100 to a tiled log, 20 to the publisher's index). "
                 "[env: AUDITOR_RATE]"),
]
TiledLogOption = Annotated[
    str | None,
    typer.Option("--tiled-log", metavar="URL",
                 help="Crawl this tiled log (C2SP tlog-tiles prefix, e.g. a Rekor v2 shard's "
                 "https://HOST/api/v2) instead of Rekor v1; needs --log-verifier. "
                 "[env: AUDITOR_TILED_LOG]"),
]
LogVerifierOption = Annotated[
    str | None,
    typer.Option("--log-verifier", metavar="VKEY",
                 help="The tiled log's checkpoint key, as a signed-note verifier key "
                 "<name>+<8 hex>+<base64(0x01 ‖ Ed25519 key)>. [env: AUDITOR_LOG_VERIFIER]"),
]
TlogPolicyOption = Annotated[
    Path | None,
    typer.Option("--tlog-policy", metavar="FILE",
                 help="C2SP tlog-policy file: the witnesses whose cosignatures the tiled "
                 "log's checkpoints need. [env: AUDITOR_TLOG_POLICY]"),
]
DeadlineOption = Annotated[
    float | None,
    typer.Option("--deadline", metavar="SECONDS", click_type=NUMBER,
                 help="Give up (exit 3) once the run has taken this long. "
                 "[env: AUDITOR_DEADLINE]"),
]
NotifyWebhookOption = Annotated[
    str | None,
    typer.Option("--notify-webhook", metavar="URL",
                 help="Alert this webhook (JSON POST, Slack-compatible) of every new finding; "
                 "the URL is a secret: prefer the environment. [env: AUDITOR_NOTIFY_WEBHOOK]"),
]
NotifyMinSeverityOption = Annotated[
    str | None,
    typer.Option("--notify-min-severity", metavar="SEVERITY",
                 help="Alert findings at or above this severity: info, low, medium, high "
                 "(default), critical. [env: AUDITOR_NOTIFY_MIN_SEVERITY]"),
]
IndexFilesOption = Annotated[
    str | None,
    typer.Option("--index-files", metavar="URL",
                 help="The publisher's content-addressed files, compared with the logs (Oak: "
                 "https://storage.googleapis.com/oak-files); also the statement store when "
                 "none is given. [env: AUDITOR_INDEX_FILES]"),
]
IndexLinksOption = Annotated[
    str | None,
    typer.Option("--index-links", metavar="URL",
                 help="The publisher's link index (Oak: https://storage.googleapis.com/"
                 "oak-index). [env: AUDITOR_INDEX_LINKS]"),
]
IndexKeysetOption = Annotated[
    list[str] | None,
    typer.Option("--index-keyset", metavar="[COMPONENT=]sha2-256:HEX",
                 help="List this keyset's keys in the index; a key nobody pins is a finding "
                 "(repeatable). [env: AUDITOR_INDEX_KEYSET]"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def within(value: int | None, flag: str, low: int = 0, high: int | None = None,
           low_means: str = "") -> None:
    """Refuse (exit 2, naming `flag` and its range) an integer flag's value outside
    [`low`, `high`] (default: the largest int64, which SQL integers and Rekor's log indexes
    are: a count or an index past it cannot reach a query); `low_means`: what the lowest value
    stands for (`all`)."""
    from auditor.errors import InputError
    from auditor.source.fields import INT64_MAX

    high = INT64_MAX if high is None else high

    if value is not None and not low <= value <= high:
        lowest = f"{low} ({low_means})" if low_means else str(low)
        raise InputError(f"{flag} {value} is out of range: it takes {lowest} to {high}")


def settings_for(config: Path | None = None, *, db: str | None = None,
                 rekor_url: str | None = None, rekor_keys: list[Path] | None = None,
                 trusted_root: Path | None = None, keys: list[str] | None = None,
                 statements: str | None = None, rate: float | None = None,
                 deadline: float | None = None, default_keys: bool = True,
                 index_keysets: list[str] | None = None, **run: object) -> Settings:
    """The settings of one command: its flags, the environment, the config file, defaults."""
    from auditor.settings import Flags, resolve

    flags = Flags(config=config, db=db, rekor_url=rekor_url,
                  rekor_keys=tuple(rekor_keys or ()), trusted_root=trusted_root,
                  keys=tuple(keys or ()), statements=statements, rate=rate, deadline=deadline,
                  index_keysets=tuple(index_keysets or ()), **run)  # type: ignore[arg-type]
    return resolve(flags, default_keys=default_keys)
