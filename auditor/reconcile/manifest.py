"""Release manifests: per component, the local artifact we ship (and optional Oak evidence).

    name = "oak-containers-2025-06"
    evidence = "evidence.binarypb"          # optional: observed values from a real VM

    [components.stage0]
    artifact = "stage0_bin"                  # the firmware ROM
    [components.kernel]
    artifact = "bzImage"
    [components.init_ram_fs]
    artifact = "stage1.cpio"
    [components.kernel_cmd_line]
    cmdline = "console=ttyS0 ..."            # or: artifact = "cmdline.txt"
    [components.system_image]
    artifact = "system.tar.xz"

Relative paths are relative to the manifest. `audit reconcile` flags build the same thing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.components import Kind, kind_of
from auditor.errors import ConfigError


@dataclass(frozen=True)
class ComponentInput:
    component: str
    artifact: Path | None = None
    cmdline: str | None = None

    @property
    def kind(self) -> Kind:
        return kind_of(self.component)


@dataclass
class Release:
    name: str
    manifest: Path | None = None
    components: dict[str, ComponentInput] = field(default_factory=dict)
    evidence: Path | None = None


def _path(base: Path, value: Any, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} must be a path")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def load_manifest(path: Path, name: str | None = None) -> Release:
    try:
        document = tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not a valid TOML manifest ({error})") from None
    base = path.resolve().parent
    release = Release(name=name or str(document.get("name", path.stem)), manifest=path)
    if "evidence" in document:
        release.evidence = _path(base, document["evidence"], f"{path}: evidence")
    components = document.get("components", {})
    if not isinstance(components, dict):
        raise ConfigError(f"{path}: [components] must be a table")
    for component, table in components.items():
        where = f"{path}: components.{component}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table")
        cmdline = table.get("cmdline")
        if cmdline is not None and not isinstance(cmdline, str):
            raise ConfigError(f"{where}.cmdline must be a string")
        artifact = _path(base, table["artifact"], f"{where}.artifact") \
            if "artifact" in table else None
        if artifact is None and cmdline is None:
            raise ConfigError(f"{where} needs an artifact (or a cmdline)")
        release.components[component] = ComponentInput(component, artifact, cmdline)
    if not release.components and release.evidence is None:
        raise ConfigError(f"{path}: the manifest names no component and no evidence")
    return release
