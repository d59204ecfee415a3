"""Command-line digests, the 256-byte limit, and Oak's (Rust regex) matching semantics."""

from __future__ import annotations

import hashlib
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
