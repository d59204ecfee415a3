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

from dataclasses import dataclass, field
from pathlib import Path

from auditor.components import Kind, kind_of
from auditor.errors import ConfigError
from auditor.toml_schema import STRING, TEXT, Table, check, read_toml

#: Read strictly, as the config is: a misspelt `evidense` or `[component.kernel]` was ignored,
#: and the release reconciled without it.
MANIFEST = Table({
    "name": TEXT,
    "evidence": TEXT,
    # An empty cmdline is a command line (a kernel booted with none); an empty path is not.
    "components": Table(each=Table({"artifact": TEXT, "cmdline": STRING})),
})


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


def _path(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def load_manifest(path: Path, name: str | None = None) -> Release:
    """The manifest at `path`; `name` (the config's) over the manifest's own, else its stem."""
    document = read_toml(path, "TOML manifest")
    check(document, MANIFEST, str(path))
    base = path.resolve().parent
    release = Release(name=name or document.get("name", path.stem), manifest=path)
    if "evidence" in document:
        release.evidence = _path(base, document["evidence"])
    for component, table in document.get("components", {}).items():
        where = f"{path}: components.{component}"
        cmdline = table.get("cmdline")
        artifact = _path(base, table["artifact"]) if "artifact" in table else None
        if (artifact is None) == (cmdline is None):
            # Both was one of them silently passed over.
            raise ConfigError(f"{where} needs an artifact or a cmdline (one of them)")
        if cmdline is not None and kind_of(component) is not Kind.CMDLINE:
            # A command line is only ever a command line's value: a kernel or stage0 given
            # one was an internal error at its reconciliation.
            raise ConfigError(f"{where}: a cmdline is given only to a command line component "
                              f"(such as kernel_cmd_line); {component} takes an artifact")
        release.components[component] = ComponentInput(component, artifact, cmdline)
    if not release.components and release.evidence is None:
        raise ConfigError(f"{path}: the manifest names no component and no evidence")
    return release
