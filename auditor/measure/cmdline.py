"""Kernel command line: the string stage0 records, its digests, and endorsed-regex matching.

Stage0 records the plain string (no NUL) in its event log; OVMF's kernel-hashes table instead
hashes `cmdline ‖ NUL`. Oak endorses a regex, and its verifier accepts the command line when
Rust's `regex::Regex::is_match` finds a match anywhere (unanchored unless the regex anchors).

The regex is matched with RE2 (google-re2), the engine Rust's `regex` follows: linear in the
text, with its syntax (no lookaround, no backreferences: refused, as Rust refuses them) and its
end of text (`$` without the `m` flag and `\\z` match only at the very end; `\\Z` is refused).
Python's `re` accepted what Rust refuses, and backtracked: an endorsed `^(.|.|.|.)*X$` took 4^n
steps on an n-byte command line, so an endorsement under a compromised cmdline key stopped every
later run at its reconcile. Where RE2 still reads a regex unlike Rust (`\\C`, octal,
`[a&&b]`, `\\<`: auditor.measure.rust_regex) it is refused, and where the Perl classes `\\d`,
`\\w`, `\\s`, `\\b` (ASCII in RE2, Unicode in Rust) meet non-ASCII text the match is not
decided: RE2 matched `^\\D$` on an Arabic-Indic digit, a match Oak's verifier never finds.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auditor.errors import InputError
from auditor.measure.interface import JsonValue
from auditor.measure.rust_regex import RegexSyntax, perl_classes_agree_on, scan
from auditor.wording import quoted

# Oak's verifier refuses command lines of 256 bytes or more unless told to skip the check.
MAX_CMDLINE_BYTES = 256


@dataclass(frozen=True)
class CmdlineMeasurement:
    cmdline: str
    sha256: bytes
    sha256_nul: bytes  # OVMF kernel-hashes: sha256(cmdline ‖ "\0")
    length_ok: bool
    matches: tuple[bool, ...]  # one per regex, in the order given

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "cmdline": self.cmdline,
            "sha256": self.sha256.hex(),
            "sha256_nul": self.sha256_nul.hex(),
            "length_ok": self.length_ok,
            "matches": list(self.matches),
        }


def measure_cmdline(cmdline: str, regexes: Sequence[str] = ()) -> CmdlineMeasurement:
    # Stage0 reads the command line into a Rust String and stops on one that is not UTF-8.
    encoded = utf8(cmdline, "the command line")
    return CmdlineMeasurement(
        cmdline=cmdline,
        sha256=hashlib.sha256(encoded).digest(),
        sha256_nul=hashlib.sha256(encoded + b"\0").digest(),
        length_ok=len(encoded) < MAX_CMDLINE_BYTES,
        matches=tuple(cmdline_matches(regex, cmdline) for regex in regexes),
    )


def cmdline_matches(regex: str, cmdline: str) -> bool:
    """Oak's semantics: does `regex` match anywhere in `cmdline`? An InputError when RE2
    cannot tell (auditor.measure.rust_regex): never a match Oak's verifier would not find."""
    compiled, syntax = _compiled(regex)
    if syntax.perl_classes and not perl_classes_agree_on(cmdline):
        raise InputError(
            f"cannot match cmdline regex {quoted(regex)} as Oak does: its \\d, \\w, \\s or "
            "\\b classes are ASCII in RE2 and Unicode in Oak's Rust regex, and the command line "
            "holds non-ASCII text or a vertical tab"
        )
    return compiled.search(cmdline) is not None


@functools.lru_cache(maxsize=256)
def _compiled(regex: str) -> tuple[Any, RegexSyntax]:
    """`regex` compiled by RE2 (an `re2._Regexp`: the package has no types) and what in it RE2
    may read unlike Rust, or InputError."""
    import re2  # type: ignore[import-untyped]  # 4 ms, for the commands that match

    utf8(regex, f"cmdline regex {quoted(regex)}")  # Oak's verifier takes a Rust str
    options = re2.Options()
    options.log_errors = False  # the error is raised, with its reason, not logged to stderr
    try:
        compiled = re2.compile(regex, options)
    except re2.error as error:
        reason = error.args[0].decode("utf-8", "replace") if error.args and \
            isinstance(error.args[0], bytes) else str(error)
        raise InputError(f"invalid cmdline regex {quoted(regex)}: {reason}") from None
    syntax = scan(regex)
    if syntax.unlike_rust is not None:
        raise InputError(
            f"invalid cmdline regex {quoted(regex)}: Rust's regex, which Oak's verifier uses, "
            f"does not read {syntax.unlike_rust!r} as RE2 does"
        )
    return compiled, syntax


def utf8(text: str, what: str) -> bytes:
    """`text` in UTF-8, or an InputError naming the first byte that is not. An argument that
    is not UTF-8 reaches Python holding its bytes as lone surrogates (PEP 383), which no UTF-8
    encoder takes: the CLI ended with an internal error."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        byte = len(text[: error.start].encode("utf-8"))
        raise InputError(f"{what} is not UTF-8 text (byte {byte})") from None
