"""The layers keep their arrows (the store owns every database read), the package holds no
test-only code, and what it cites can be read."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "auditor"
STORE = PACKAGE / "store"
#: A SQLAlchemy query being built (`select(`, `sa.select(`), not a word in prose.
QUERY = re.compile(r"(?<![\w.])(?:sa\.|sqlalchemy\.)?select\(")


def _sources() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "proto" not in p.parts]


def test_no_query_is_built_outside_the_store() -> None:
    modules = _sources()
    assert len(modules) > 100 and any(QUERY.search(p.read_text()) for p in STORE.rglob("*.py"))
    outside = [f"{p.relative_to(PACKAGE.parent)}:{n}"
               for p in modules if STORE not in p.parents
               for n, line in enumerate(p.read_text().splitlines(), 1) if QUERY.search(line)]
    assert outside == []


def test_the_package_signs_nothing_and_needs_no_test_code() -> None:
    """Signing checkpoints, entries and statements is what the test log does (testlog/)."""
    found = [f"{p.relative_to(PACKAGE.parent)}:{n}: {line.strip()}" for p in _sources()
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"\.sign\(|generate_private_key|^\s*(from|import) (testlog|tests)\b",
                          line)]
    assert found == []


def test_the_package_cites_no_document_outside_the_repository() -> None:
    """RFCs, C2SP and Oak's public docs are cited; the team's notes (DOMAIN.md, STYLE.md) are
    not shipped, so a reader of the code cannot follow them."""
    found = [f"{p.relative_to(PACKAGE.parent)}:{n}" for p in _sources()
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"DOMAIN\.md|STYLE\.md|shared/docs", line)]
    assert found == []


def test_what_a_worker_verifies_is_loaded_without_database_or_http_code() -> None:
    """A crawl's or an import's worker (auditor.verify_ahead) unpickles its task, importing the
    task's modules: SQLAlchemy among them would add about 0.4 CPU-seconds to every start, and
    requests 40 ms before the worker can take a batch."""
    import subprocess
    import sys

    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, auditor.verify_ahead, auditor.crawl.prepare, "
         "auditor.import_item, auditor.source.statements; "
         "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'requests')"
         " or m.startswith('auditor.store.') and m != 'auditor.store.record'))"],
        capture_output=True, text=True, check=True, cwd=PACKAGE.parent).stdout
    assert loaded.strip() == "[]"
