"""`audit import DIR` takes from a directory tree exactly what a walk of its sorted paths takes:
component directories (nested ones too), Endorsements messages, bundles and log entries not
inside a component directory, in path order; linked directories are taken, not entered."""

from __future__ import annotations

import os
from pathlib import Path

from auditor.importer import _ENDORSEMENT_MESSAGES, importable


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
    assert list(importable([root])) == expected
    assert list(importable([root / "components", root / "a"])) == \
        by_sorted_paths(root / "components") + by_sorted_paths(root / "a")
    assert list(importable([root / "components" / "kernel"])) == [root / "components" / "kernel"]


def test_names_of_any_bytes_come_back_whole(tmp_path: Path) -> None:
    """The walk holds a directory's names joined by NULs, which no name holds."""
    root = tmp_path / "odd"
    names = [b"a\nb", b"\xff\xfe-not-utf8", b"tab\there", b" ", b"\\", b"x" * 200, "é".encode()]
    for name in names:
        directory = os.path.join(bytes(root), name)
        os.makedirs(directory)
        with open(os.path.join(directory, b"endorsement.json"), "wb") as file:
            file.write(b"{}")
    assert list(importable([root])) == by_sorted_paths(root)
    assert len(list(importable([root]))) == len(names)


def test_the_walk_holds_a_few_bytes_a_directory(tmp_path: Path) -> None:
    """A directory of 5,000 component directories, walked: once the first is found, what the
    walk holds is its sorted names (as sorted DirEntry objects, 207 bytes each, and the paths
    found as a list, 318 each, it held 2.6 MB)."""
    import itertools
    import tracemalloc

    root = tmp_path / "flat"
    for n in range(5_000):
        (root / f"{n:06d}").mkdir(parents=True)
        (root / f"{n:06d}" / "endorsement.json").write_bytes(b"{}")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        walk = importable([root])
        first = next(walk)
        held = tracemalloc.get_traced_memory()[0] - before
        rest = list(itertools.islice(walk, 10))
    finally:
        tracemalloc.stop()
    assert [first, *rest] == [root / f"{n:06d}" for n in range(11)]
    assert held < 5_000 * 16, held
