"""Paths of the real Oak data shipped under tests/data (see tests/data/PROVENANCE.md)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"
OAK = DATA / "oak"
RELEASE = OAK / "oak-containers-milan-release"
STAGING = OAK / "oak-containers-milan-staging"
SINGLE = OAK / "single-entry-2024"
REKOR_KEY = OAK / "rekor_public_key.pem"
RELEASE_COMPONENTS = ("stage0", "kernel", "kernel_cmd_line", "init_ram_fs", "system_image")


def real_entry_dirs() -> list[Path]:
    """Every directory holding a real Rekor entry and the statement it logs."""
    return [SINGLE] + [RELEASE / "components" / c for c in RELEASE_COMPONENTS]
