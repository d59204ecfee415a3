"""Boot components: how each one's measurement is recomputed and what its endorsement vouches for.

The chain (Oak's transparent release, `docs/tr/`): local artifact → recomputed measurement →
attachment or regex (whose sha256 is the statement subject) → statement. Which step applies
depends on the component.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """How a component's measurement is recomputed and what its endorsement vouches for."""

    STAGE0 = "stage0"  # SEV-SNP launch digest; endorsed via a FirmwareAttachment
    KERNEL = "kernel"  # kernel image + setup digests; endorsed via a KernelAttachment
    CMDLINE = "cmdline"  # a string; endorsed as a regex (inline subject)
    FILE = "file"  # sha256 of the file is the statement subject (initrd, system image, ...)


_KINDS = {
    "stage0": Kind.STAGE0,
    "kernel": Kind.KERNEL,
    "kernel_cmd_line": Kind.CMDLINE,
    "cmdline": Kind.CMDLINE,
}


#: The components an Oak Evidence message reports values of (auditor.reconcile.local): a
#: finding may name them though no key or manifest does.
OBSERVED_COMPONENTS = frozenset({"stage0", "kernel", "init_ram_fs", "kernel_cmd_line",
                                 "system_image", "memory_map", "acpi"})


def kind_of(component: str) -> Kind:
    return _KINDS.get(component, Kind.FILE)
