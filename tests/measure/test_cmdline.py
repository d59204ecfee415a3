"""Command-line digests, the 256-byte limit, and Oak's (Rust regex) matching semantics."""

from __future__ import annotations

import hashlib
import re
import signal
from pathlib import Path

import pytest

from auditor.errors import InputError
from auditor.measure.cmdline import cmdline_matches, measure_cmdline
from auditor.measure.evidence import read_evidence

OAK = Path(__file__).parent.parent / "data" / "oak"


def test_digests_and_json() -> None:
    text = "console=ttyS0 quiet"
    measured = measure_cmdline(text, ["quiet$", "^quiet"])
    assert measured.to_json() == {
        "cmdline": text,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "sha256_nul": hashlib.sha256(text.encode() + b"\0").hexdigest(),
        "length_ok": True,
        "matches": [True, False],
    }


@pytest.mark.parametrize(
    ("text", "ok"),
    [("a" * 255, True), ("a" * 256, False), ("é" * 127, True), ("é" * 128, False)],
)
def test_length_is_counted_in_utf8_bytes(text: str, ok: bool) -> None:
    assert measure_cmdline(text).length_ok is ok


@pytest.mark.parametrize(
    ("regex", "text", "expected"),
    [
        ("ttyS0", "console=ttyS0 quiet", True),  # unanchored: anywhere
        ("^quiet", "console=ttyS0 quiet", False),
        ("^a$", "a", True),
        # Rust's `$` is end of text only; Python's would also match before a final newline.
        ("^a$", "a\n", False),
        (r"a\z", "a", True),
        (r"a\z", "a\n", False),
        ("a[$]", "a$", True),  # `$` inside a class stays a literal
        (r"a\$", "a$", True),
        ("[]$]x", "$x", True),  # `]` first in a class is a member
        ("(?m)^a$", "a\nb", True),  # multi-line mode keeps line-end semantics
        ("(?<size>[1-9][0-9]*)$", "brd.rd_size=42", True),  # Rust's named group
        (r"^\p{L}+$", "kérnel", True),
        ("a\x00\u202eb", "xa\x00\u202eby", True),  # hostile text is matched as written
    ],
)
def test_rust_regex_semantics(regex: str, text: str, expected: bool) -> None:
    assert cmdline_matches(regex, text) is expected


# What Rust's `regex` refuses (lookaround, backreferences, `\Z`) is refused, not matched with
# Python's meaning: an endorsement Oak's verifier cannot read endorses nothing.
@pytest.mark.parametrize("regex", ["(", "a{2,1}", "[z-a]", "(?=quiet)", r"(a)\1", r"quiet\Z"])
def test_invalid_regex(regex: str) -> None:
    with pytest.raises(InputError, match="invalid cmdline regex"):
        measure_cmdline("x", [regex])


def test_a_regex_that_backtracks_in_python_is_matched_in_linear_time() -> None:
    """`^(.|.|.|.)*X$` takes 4^n steps in Python's `re` on an n-byte command line (this one
    would not end); RE2, like Oak's Rust engine, is linear in it."""
    def hung(_signum: int, _frame: object) -> None:
        raise TimeoutError("still matching after 10 s")

    text = "console=ttyS0 panic=-1 quiet " * 8
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        assert not cmdline_matches("^(.|.|.|.)*X$", text)
        assert cmdline_matches("^(.|.|.|.)*X$", text + "X")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    "release", ["oak-containers-milan-release", "oak-containers-milan-staging"]
)
def test_real_endorsed_regex_matches_real_cmdline(release: str) -> None:
    # Oak's own test data: this evidence verifies against these endorsements upstream.
    regex = (OAK / release / "components" / "kernel_cmd_line" / "subject.bin").read_text()
    observed = read_evidence((OAK / release / "evidence.binarypb").read_bytes())
    cmdline = observed.to_json()["stage0"]["kernel_cmdline"]
    measured = measure_cmdline(cmdline, [regex, regex.replace("quiet", "loud")])
    assert measured.matches == (True, False)
    assert measured.length_ok


# An argument that is not UTF-8 reaches Python holding its bytes as lone surrogates (PEP 383):
# encoding it ended the command with an internal error (exit 70).
def test_a_command_line_that_is_not_utf8_is_refused_naming_the_byte() -> None:
    # Stage0 reads the command line into a Rust String and stops on one that is not UTF-8.
    # The byte is counted in UTF-8: è before it is two.
    with pytest.raises(InputError, match=r"^the command line is not UTF-8 text \(byte 5\)$"):
        measure_cmdline("cafè\udce9 quiet")


def test_a_regex_that_is_not_utf8_is_refused_naming_the_byte() -> None:
    with pytest.raises(InputError, match=r"cmdline regex '\^\\udcff' is not UTF-8 text \(byte 1\)"):
        measure_cmdline("x", ["^\udcff"])


# RE2 matched each of these, reading it its own way; Rust's regex (Oak's verifier) refuses it
# or reads it otherwise, so Oak's verifier would not find that match.
@pytest.mark.parametrize(
    ("regex", "text", "construct"),
    [
        (r"^\C$", "x", r"\C"),  # any byte
        (r"^\Q.*\E$", ".*", r"\Q"),  # quoting
        (r"^\141$", "a", r"\1"),  # octal
        ("^\\0$", "\0", r"\0"),
        (r"^\<q", "<q", r"\<"),  # Rust: a word start
        (r"q\>$", "q>", r"\>"),
        (r"\b{start}", "b{start}", r"\b{"),
        ("^[a&&b]$", "a", "&&"),  # Rust: an intersection, empty here
        ("^[a~~b]$", "~", "~~"),
        ("^[a[b]]$", "a]", "["),  # Rust: a nested class
        ("^x{$", "x{", "{"),  # Rust: an unclosed repetition
        ("^a{,5}$", "a{,5}", "{"),
        ("^a{1, 2}$", "a{1, 2}", "{"),
        ("^a{01}$", "a{01}", "{"),  # RE2: a literal (a leading zero); Rust: `a` once
        ("^a{1,02}$", "a{1,02}", "{"),
        ("^a{99999999999}$", "a{99999999999}", "{"),  # RE2: a literal; Rust: refused
    ],
)
def test_syntax_re2_reads_unlike_rust_is_refused(regex: str, text: str, construct: str) -> None:
    with pytest.raises(InputError, match=re.escape(f"Rust's regex, which Oak's verifier uses, "
                                                   f"does not read {construct!r} as RE2 does")):
        cmdline_matches(regex, text)


# RE2's \d, \w, \s and \b are ASCII, Rust's Unicode: RE2 matched `^\D$` on an Arabic-Indic
# digit and `^\S+$` across a vertical tab, where Oak's verifier does not.
@pytest.mark.parametrize(
    ("regex", "text"), [(r"^\D$", "\u0663"), (r"^\S+$", "a\vb"), (r"^[^\d]$", "\u0663"),
                        (r"^\W$", "é"), (r"^\w+$", "kérnel")],
)
def test_perl_classes_on_text_they_read_unlike_rust_are_undecidable(regex: str,
                                                                    text: str) -> None:
    with pytest.raises(InputError, match=r"cannot match cmdline regex .* as Oak does: its "
                                         r"\\d, \\w, \\s or \\b classes are ASCII in RE2"):
        cmdline_matches(regex, text)


@pytest.mark.parametrize(
    ("regex", "text", "expected"),
    [
        (r"^\d+ \w+\s\S$", "12 ab x", True),  # on ASCII text both engines agree
        (r"\bquiet\b", "a quiet b", True),
        (r"^\p{Greek}+ \x{61}$", "αβ a", True),  # braces that belong to the escape
        ("^[[:digit:]]+$", "42", True),
        ("^[]a]+$", "]a", True),  # a `]` first in a class is a member, in both
        ("^[^]a]$", "b", True),
        ("^a{2}b{1,}c{0,1}$", "aabc", True),
        (r"^\{x\}$", "{x}", True),
        ("^[a-z{}]+$", "a{b}", True),  # braces in a class are characters, in both
        ("^a-b--c$", "a-b--c", True),  # `--` outside a class is two hyphens, in both
    ],
)
def test_syntax_both_engines_read_alike_is_matched(regex: str, text: str, expected: bool) -> None:
    assert cmdline_matches(regex, text) is expected
