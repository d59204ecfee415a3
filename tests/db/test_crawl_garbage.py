"""A crawl's batches leave nothing of theirs in reference cycles, so its memory does not grow
with its entries.

A crawl collects garbage rarely (`auditor.crawl.heap`): whatever a batch leaves in a reference
cycle stays until a pass over the generation it has reached. A crawl of 100,000 entries grew
by what its batches had looked up, held by SQLAlchemy's bind parameters for `IN` lists built
per batch (`auditor.store.key_lists`). What a run makes once (an engine's connections and type
adapters, a statement compiled) may be collected during it; a batch's keys may not.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable

from testlog.synthetic import add_endorsements
from tests.db.crawling import CrawlSetup

#: Entries added to the log's 45: a first crawl of them stores batches of 10, 20, 40, ... 500.
MORE = 1_000


def garbage_of(run: Callable[[], object]) -> list[object]:
    """The objects `run` left in reference cycles (collected during it, or after)."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
    finally:
        gc.set_debug(0)
    found = list(gc.garbage)
    gc.garbage.clear()
    return found


def holding(garbage: Iterable[object], keys: set[str]) -> list[object]:
    """The containers among `garbage` that hold any of `keys`."""
    return [o for o in garbage if isinstance(o, (list, tuple, set, frozenset))
            and not keys.isdisjoint(k for k in o if isinstance(k, str))]


def test_a_crawl_s_batches_leave_none_of_their_keys_in_cycles(
        crawl_setup: CrawlSetup, db_url: str) -> None:
    crawl_setup.endorsements += add_endorsements(crawl_setup.log, crawl_setup.endorsers, MORE)
    for endorsement in crawl_setup.endorsements:
        name = f"sha2-256:{endorsement.statement_sha256}"
        (crawl_setup.statements / name).write_bytes(endorsement.statement)
    keys = {key for e in crawl_setup.endorsements
            for key in (e.entry.leaf_hash.hex(), e.entry.uuid)}
    source, job = crawl_setup.crawler(db_url)
    try:
        garbage = garbage_of(lambda: source.crawl(job))
    finally:
        source.close()
    assert len(keys) == 2 * (45 + MORE)
    held = holding(garbage, keys)
    assert not held, f"{len(held)} of {len(garbage)} objects in cycles hold the crawl's keys"
