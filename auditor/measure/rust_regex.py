"""Where RE2 and Rust's `regex` part ways: what in a cmdline regex RE2 reads unlike Oak.

Endorsed command-line regexes are matched with RE2, the linear engine whose syntax Rust's
`regex` (Oak's verifier) follows. Not everywhere, and where they differ RE2 could find a match
Oak's verifier never does. The differences (Rust: regex-syntax's parser with octal off, its
default; RE2: re2/syntax):

- syntax RE2 accepts and Rust refuses or reads otherwise: `\\C` (any byte), `\\Q...\\E`
  quoting, octal escapes (`\\0`, `\\141`), and a `{` that is no counted repetition to RE2 (a
  literal there: `x{`, `a{,5}`, a count with a leading zero or of ten digits);
- syntax both accept and read otherwise: `\\<`, `\\>` and `\\b{start}` (word boundaries in Rust,
  literals in RE2), and `&&`, `--`, `~~` or a nested `[` in a class (set operations in Rust,
  characters in RE2: `[a&&b]` matches `a` in RE2 and nothing in Rust);
- the Perl classes `\\d`, `\\w`, `\\s`, `\\b` and their negations: ASCII in RE2, Unicode in Rust,
  so they agree only on ASCII text without a vertical tab (which Rust's `\\s` holds and RE2's
  does not). `\\D` matches a non-ASCII digit in RE2 and not in Rust.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A counted repetition as both engines read it: `{n}`, `{n,}`, `{n,m}`, nothing else. RE2
# reads a count with a leading zero or of ten digits or more as literal text (re2/parse.cc
# ParseInteger), Rust as a count (`a{01}` is `a` there, `a{99999999999}` refused).
_COUNT = r"(?:0|[1-9][0-9]{0,8})"
_REPETITION = re.compile(rf"\{{{_COUNT}(?:,{_COUNT}?)?\}}")
_BRACED_ESCAPES = "pPxuU"  # `\p{Greek}`, `\x{10FFFF}`: the braces belong to the escape
_ESCAPES_UNLIKE_RUST = "CQE<>0123456789"
_PERL_CLASSES = "dDwWsSbB"
_SET_OPERATORS = ("&&", "--", "~~")


@dataclass(frozen=True)
class RegexSyntax:
    #: The first construct RE2 reads unlike Rust's `regex`, as written; None if there is none.
    unlike_rust: str | None
    #: Whether a Perl class (`\d`, `\w`, `\s`, `\b` or a negation) occurs.
    perl_classes: bool


def scan(regex: str) -> RegexSyntax:
    """What in `regex` (one RE2 compiles) RE2 and Rust's `regex` may read differently."""
    i, in_class, perl = 0, False, False
    while i < len(regex):
        if regex[i] == "\\":
            escape = regex[i + 1 : i + 2]
            if escape and escape in _BRACED_ESCAPES and regex.startswith("{", i + 2):
                close = regex.find("}", i + 3)
                i = len(regex) if close < 0 else close + 1
                continue
            if escape and escape in _ESCAPES_UNLIKE_RUST:
                return RegexSyntax(regex[i : i + 2], perl)
            if escape in ("b", "B") and regex.startswith("{", i + 2):
                return RegexSyntax(regex[i : i + 3], perl)
            perl = perl or (bool(escape) and escape in _PERL_CLASSES)
            i += 2
        elif in_class:
            posix_end = regex.find(":]", i + 2) if regex.startswith("[:", i) else -1
            if posix_end >= 0:  # `[[:alpha:]]`: the same ASCII class in both
                i = posix_end + 2
                continue
            if regex[i] == "[" or regex[i : i + 2] in _SET_OPERATORS:
                return RegexSyntax("[" if regex[i] == "[" else regex[i : i + 2], perl)
            in_class = regex[i] != "]"
            i += 1
        elif regex[i] == "[":
            i += 1
            # A `^`, then a `]`, right after the opening bracket belong to the class.
            i += 1 if regex.startswith("^", i) else 0
            i += 1 if regex.startswith("]", i) else 0
            in_class = True
        elif regex[i] == "{" and not _REPETITION.match(regex, i):
            return RegexSyntax("{", perl)
        else:
            i += 1
    return RegexSyntax(None, perl)


def perl_classes_agree_on(text: str) -> bool:
    """Whether RE2's ASCII Perl classes and Rust's Unicode ones read `text` alike."""
    return text.isascii() and "\v" not in text
