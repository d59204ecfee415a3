"""Kernel command line: the string stage0 records, its digests, and endorsed-regex matching.

Stage0 records the plain string (no NUL) in its event log; OVMF's kernel-hashes table instead
hashes `cmdline ‖ NUL`. Oak endorses a regex, and its verifier accepts the command line when
Rust's `regex::Regex::is_match` finds a match anywhere (unanchored unless the regex anchors).
Python's `re.search` has the same meaning except for the end-of-text assertions, which
`_as_python_regex` translates: Rust's `$` (without the `m` flag) and `\\z` match only at the
very end of the text, where Python's `$` also matches before a final newline.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.errors import InputError
from auditor.measure.interface import JsonValue

# Oak's verifier refuses command lines of 256 bytes or more unless told to skip the check.
MAX_CMDLINE_BYTES = 256

_MULTILINE_FLAG = re.compile(r"\(\?[a-zA-Z-]*m")


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
    encoded = cmdline.encode("utf-8")
    return CmdlineMeasurement(
        cmdline=cmdline,
        sha256=hashlib.sha256(encoded).digest(),
        sha256_nul=hashlib.sha256(encoded + b"\0").digest(),
        length_ok=len(encoded) < MAX_CMDLINE_BYTES,
        matches=tuple(cmdline_matches(regex, cmdline) for regex in regexes),
    )


def cmdline_matches(regex: str, cmdline: str) -> bool:
    """Oak's semantics: does `regex` match anywhere in `cmdline`?"""
    return _compiled(regex).search(cmdline) is not None


def _compiled(regex: str) -> re.Pattern[str]:
    try:
        return re.compile(_as_python_regex(regex))
    except re.error as error:
        raise InputError(f"invalid cmdline regex {regex!r}: {error}") from None


class RegexTimeout(InputError):
    """An endorsed regex that did not finish matching by its deadline."""


#: Seconds an endorsed regex may take to match a command line. Python's `re` backtracks where
#: Oak's Rust `regex` is linear: `^(.|.)*X$` takes 2^n steps on an n-byte command line, so an
#: endorsement under a compromised cmdline key could stop every later run at its reconcile.
#: A real one matches in microseconds; the bound is mostly the child interpreter's start.
ENDORSED_MATCH_DEADLINE = 2.0
#: The child that matches: a fresh interpreter (no fork of a process holding threads), killed
#: at the deadline. It reads [pattern, text] as JSON and exits 0 on a match, 1 without.
_MATCHER = ("import json, re, sys; pattern, text = json.load(sys.stdin); "
            "sys.exit(0 if re.search(pattern, text) else 1)")


def endorsed_regex_matches(regex: str, cmdline: str) -> bool:
    """`cmdline_matches` for a regex from an endorsement (hostile input): matched in a child
    process bounded by ENDORSED_MATCH_DEADLINE; RegexTimeout past it."""
    pattern = _compiled(regex).pattern  # an invalid regex is refused here, with its reason
    matched = _match_in_child(pattern, cmdline)
    if matched is None:
        raise RegexTimeout(
            f"the regex did not finish matching within {ENDORSED_MATCH_DEADLINE:g} s (Python's "
            "regex engine backtracks; Oak's is linear in the command line)")
    return matched


# Remembered, timeouts included: a regex that ran out of time once is not given time again for
# every release it is compared with.
@functools.lru_cache(maxsize=1024)
def _match_in_child(pattern: str, cmdline: str) -> bool | None:
    try:
        child = subprocess.run([sys.executable, "-I", "-S", "-c", _MATCHER],
                               input=json.dumps([pattern, cmdline]).encode(),
                               capture_output=True, timeout=ENDORSED_MATCH_DEADLINE, check=False)
    except subprocess.TimeoutExpired:
        return None
    if child.returncode not in (0, 1):
        raise InputError(f"matching the regex failed (exit {child.returncode}: "
                         f"{child.stderr.decode('utf-8', 'replace').strip()[-200:]})")
    return child.returncode == 0


def _as_python_regex(regex: str) -> str:
    """Rewrite Rust end-of-text assertions into Python's (`$` → `\\Z`, `\\z` → `\\Z`)."""
    multiline = _MULTILINE_FLAG.search(regex) is not None
    out: list[str] = []
    i, in_class = 0, False
    while i < len(regex):
        char = regex[i]
        if char == "\\" and i + 1 < len(regex):
            escape = regex[i : i + 2]
            out.append(r"\Z" if escape == r"\z" and not in_class else escape)
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # A `]` right after `[` or `[^` is a literal member, not the end of the class.
            lead = regex[i + 1 : i + 3]
            skip = 2 if lead.startswith("^]") else 1 if lead.startswith("]") else 0
            out.append(regex[i : i + 1 + skip])
            i += 1 + skip
            continue
        elif char == "$" and not multiline:
            out.append(r"\Z")
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)
