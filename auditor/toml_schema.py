"""Strict reading of TOML documents: every key known, every value of its type.

A misspelt key (`[log] urll`, `expected_sine`, `[reprots]`) silently ignored is a setting that
silently does not apply: the auditor would crawl the wrong log or report nothing. Each document
the auditor reads (the config, key files, release manifests) declares its schema here; an
unknown key or a wrong type is a `ConfigError` naming the key's path and, for a misspelling,
the nearest valid name.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError
from auditor.local_files import open_input, read_at_most


@dataclass(frozen=True)
class Value:
    """A scalar or a list of scalars: `kinds` are the accepted Python types."""

    kinds: tuple[type, ...]
    description: str
    is_list: bool = False
    #: A string that must say something (not "" nor blanks).
    nonempty: bool = False


@dataclass(frozen=True)
class Table:
    """A table with known keys (`fields`), or with any keys mapping to `each` (a map)."""

    fields: Mapping[str, Value | Table | Tables] | None = None
    each: Table | None = None


@dataclass(frozen=True)
class Tables:
    """An array of tables (`[[releases]]`), each following `table`."""

    table: Table


STRING = Value((str,), "a string")
STRINGS = Value((str,), "a list of strings", is_list=True)
#: A path, URL or name: `""` is a mistake, never "none" (an empty path was the config file's
#: own directory, an empty report directory or statement store was taken as none given).
TEXT = Value((str,), "a non-empty string", nonempty=True)
TEXTS = Value((str,), "a list of non-empty strings", is_list=True, nonempty=True)
INTEGERS = Value((int,), "a list of integers", is_list=True)
NUMBER = Value((int, float), "a number")
INTEGER = Value((int,), "an integer")
BOOLEAN = Value((bool,), "true or false")
DATE = Value((date, datetime), "a date (2026-12-31)")


#: Far past any config, key file or manifest. A device or an endless pipe (`--config
#: /dev/zero`) was read whole: an internal error (MemoryError) once memory ran out.
MAX_TOML_SIZE = 4 << 20


def read_toml(path: Path, what: str = "TOML") -> dict[str, Any]:
    try:
        with open_input(path) as handle:
            data = read_at_most(handle, MAX_TOML_SIZE)
        if data is None:
            raise ConfigError(f"{path}: larger than {MAX_TOML_SIZE} bytes, not a {what} file")
        # A byte order mark (Windows editors write one) was "Invalid statement at line 1".
        return tomllib.loads(data.decode("utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a {what} file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid {what} ({error})") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively: `x = [[[...]]]` 5,000
        # deep was an internal error. No config, key file or manifest nests past a few levels.
        raise ConfigError(f"{path}: {what} nested too deeply") from None


def check(document: Mapping[str, Any], schema: Table, source: str) -> None:
    """Raise ConfigError for the first unknown key or mistyped value of `document`."""
    _check_table(document, schema, source, "")


def _check_table(document: Mapping[str, Any], schema: Table, source: str, path: str) -> None:
    for key, value in document.items():
        where = f"{path}.{key}" if path else key
        if schema.fields is not None:
            spec = schema.fields.get(key)
            if spec is None:
                raise ConfigError(_unknown(source, key, path, list(schema.fields)))
        else:
            assert schema.each is not None
            spec = schema.each
        _check_value(value, spec, source, where)


def _check_value(value: Any, spec: Value | Table | Tables, source: str, where: str) -> None:
    if isinstance(spec, Table):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {where} must be a table")
        _check_table(value, spec, source, where)
    elif isinstance(spec, Tables):
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ConfigError(f"{source}: {where} must be an array of tables ([[{where}]])")
        for index, item in enumerate(value):
            _check_table(item, spec.table, source, f"{where}[{index}]")
    elif spec.is_list:
        if not isinstance(value, list) or not all(_is(v, spec.kinds) for v in value):
            raise ConfigError(f"{source}: {where} must be {spec.description}")
        for index, item in enumerate(value):
            _check_said(item, spec, source, f"{where}[{index}]")
    elif not _is(value, spec.kinds):
        raise ConfigError(f"{source}: {where} must be {spec.description}")
    else:
        _check_said(value, spec, source, where)


def _check_said(value: Any, spec: Value, source: str, where: str) -> None:
    """A non-empty string says something; a number is finite."""
    if spec.nonempty and isinstance(value, str) and not value.strip():
        raise ConfigError(f"{source}: {where} is empty: give a value or leave the key out")
    if isinstance(value, float) and not math.isfinite(value):
        # TOML has nan and inf; no setting means either (a NaN rate passed every `< 0` check,
        # an infinite backoff or deadline ended the crawl at its first request).
        raise ConfigError(f"{source}: {where} must be a finite number, not {value}")


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    # TOML booleans are not numbers here, whatever Python's bool-is-int says.
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def _unknown(source: str, key: str, path: str, known: list[str]) -> str:
    place = f"[{path}]" if path else "the top level"
    message = f"{source}: unknown key {key!r} in {place}"
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if near:
        return f"{message}; did you mean {near[0]!r}?"
    return f"{message}; valid keys: {', '.join(sorted(known))}"
