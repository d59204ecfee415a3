"""`audit import DIR` takes from a directory tree exactly what a walk of its sorted paths takes:
component directories (nested ones too), Endorsements messages, bundles and log entries not
inside a component directory, in path order; linked directories are taken, not entered."""

from __future__ import annotations

import os
from pathlib import Path

from auditor.importer import _ENDORSEMENT_MESSAGES, expand_paths


def by_sorted_paths(path: Path) -> list[Path]:
    """The definition: every path below `path`, sorted, kept as the importer keeps them."""
    kept = []
    for found in sorted(path.rglob("*")):
        if found.is_dir() and (found / "endorsement.json").is_file():
            kept.append(found)
        elif found.is_file() and found.parent.joinpath("endorsement.json").is_file():
            continue
        elif found.is_file() and (
                found.name in _ENDORSEMENT_MESSAGES or found.name.endswith(".sigstore.json")
                or found.name.endswith(".sigstore") or found.name == "logentry.json"):
            kept.append(found)
    return kept


def test_a_tree_expands_as_its_sorted_paths_do(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    files = [
        "components/stage0/endorsement.json", "components/stage0/logentry.json",
        "components/stage0/nested/endorsement.json", "components/stage0/nested/x.sigstore",
        "components/stage0/sub/logentry.json", "components/kernel/endorsement.json",
        "a/logentry.json", "a.x/logentry.json", "a/b/c/endorsements.binarypb",
        "a/b/bundle.sigstore.json", "a/b/notes.txt", ".hidden/logentry.json",
        "Z/endorsements.textproto", "z/logentry.json", "release.sigstore",
        "empty/.keep", "endorsement.json.d/logentry.json",
    ]
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("{}")
    (root / "a" / "b" / "dir.sigstore.json").mkdir()  # a directory named like a bundle
    os.symlink(root / "components" / "kernel", root / "linked-component")
    os.symlink(root / "a", root / "linked-tree")
    os.symlink(root / "a" / "logentry.json", root / "b-logentry-link" )
    expected = by_sorted_paths(root)
    assert len(expected) >= 12
    assert expand_paths([root]) == expected
    assert expand_paths([root / "components", root / "a"]) == \
        by_sorted_paths(root / "components") + by_sorted_paths(root / "a")
    assert expand_paths([root / "components" / "kernel"]) == [root / "components" / "kernel"]
