"""Numbers a user types (a flag, an environment variable): plain decimal, nothing else.

Python's `int()` and `float()` also take `1_0` (10), `+7`, ` 7\\n`, other scripts' digits
(`٧`), and `float()` takes `1e3`, `inf` and `nan`: a typo would then be read as another
number without a word. Every numeric flag and variable is parsed here instead, so `--vcpus 1_0`
is refused, not taken as 10. (A TOML file's integers are typed by TOML's own grammar, in which
`1_0` is 10: that is left to TOML.)
"""

from __future__ import annotations

import re

from auditor.errors import AuditorError, InputError

# A sign is let through so that a range check, not this one, names what a negative value is.
_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
#: The longest text read as a number: past it (a pasted blob) only its start is quoted.
_LONGEST = 40

INTEGER_FORM = "a number (whole, in decimal digits)"
NUMBER_FORM = "a number (in decimal digits, e.g. 2.5)"
HEX_INTEGER_FORM = "a number (whole, in decimal digits or 0x-prefixed hex)"


def is_integer(text: str) -> bool:
    return _INTEGER.fullmatch(text) is not None


def is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None


def integer(text: str, where: str, *, hex_too: bool = False,
            error: type[AuditorError] = InputError) -> int:
    """`text` as an integer (`where`: the flag or variable it came from, for the error)."""
    if is_integer(text):
        return int(text)
    if hex_too and _HEX.fullmatch(text):
        return int(text, 16)
    raise error(not_a_number(text, where, HEX_INTEGER_FORM if hex_too else INTEGER_FORM))


def number(text: str, where: str, *, error: type[AuditorError] = InputError) -> float:
    if is_number(text):
        return float(text)
    raise error(not_a_number(text, where, NUMBER_FORM))


def not_a_number(text: str, where: str, form: str) -> str:
    """`--vcpus '1_0' is not ...`; without `where`, `'1_0' is not ...`."""
    quoted = repr(text[:_LONGEST])
    return f"{where} {quoted} is not {form}" if where else f"{quoted} is not {form}"
