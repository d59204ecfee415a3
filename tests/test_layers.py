"""The layers keep their arrows: the store owns every database read."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "auditor"
STORE = PACKAGE / "store"
#: A SQLAlchemy query being built (`select(`, `sa.select(`), not a word in prose.
QUERY = re.compile(r"(?<![\w.])(?:sa\.|sqlalchemy\.)?select\(")


def test_no_query_is_built_outside_the_store() -> None:
    modules = [p for p in PACKAGE.rglob("*.py") if "proto" not in p.parts]
    assert len(modules) > 100 and any(QUERY.search(p.read_text()) for p in STORE.rglob("*.py"))
    outside = [f"{p.relative_to(PACKAGE.parent)}:{n}"
               for p in modules if STORE not in p.parents
               for n, line in enumerate(p.read_text().splitlines(), 1) if QUERY.search(line)]
    assert outside == []
