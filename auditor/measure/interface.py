"""The one thing every measurer returns: a measurement that renders as contract JSON.

Each measurer is a module with a `measure_*` function taking the artifact (a path, a string)
and returning a frozen dataclass implementing `Measurement`. The CLI renders any of them the
same way: `to_json()` on stdout with `--json`, or a table of its flattened keys.
"""

from __future__ import annotations

from typing import Protocol, TypeAlias

JsonValue: TypeAlias = "str | int | bool | list[JsonValue] | dict[str, JsonValue] | None"


class Measurement(Protocol):
    def to_json(self) -> dict[str, JsonValue]:
        """The CLI contract's JSON object: hex digests, exact keys."""
        ...
