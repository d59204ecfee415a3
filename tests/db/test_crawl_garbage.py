"""A crawl's batches leave no cyclic garbage, so its memory does not grow with its entries.

A crawl collects garbage rarely (`auditor.crawl.heap`): whatever a batch leaves in a reference
cycle stays until a pass over the generation it has reached. A crawl of 100,000 entries grew
by what its batches had looked up, held by SQLAlchemy's bind parameters for `IN` lists built
per batch (`auditor.store.key_lists`).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable

from testlog.synthetic import add_endorsements
from tests.db.crawling import CrawlSetup

#: Entries added to the log's 45: a first crawl of them stores batches of 10, 20, 40, ... 500.
MORE = 1_000


def garbage_of(run: Callable[[], object]) -> Counter[str]:
    """The types of the objects `run` left in reference cycles, and how many of each."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
    finally:
        gc.set_debug(0)
    found = Counter(type(o).__qualname__ for o in gc.garbage)
    gc.garbage.clear()
    return found


def crawl_garbage(setup: CrawlSetup, url: str) -> Counter[str]:
    """What a crawl into `url` left in reference cycles, its database opened before."""
    source, job = setup.crawler(url)
    try:
        return garbage_of(lambda: source.crawl(job))
    finally:
        source.close()


def test_a_crawl_of_many_batches_leaves_no_cyclic_garbage(
        crawl_setup: CrawlSetup, db_url: str, reference_url: str) -> None:
    # What the first use of the ORM's mappings leaves, once in a process, is left here.
    crawl_garbage(crawl_setup, reference_url)
    more = add_endorsements(crawl_setup.log, crawl_setup.endorsers, MORE)
    for endorsement in more:
        name = f"sha2-256:{endorsement.statement_sha256}"
        (crawl_setup.statements / name).write_bytes(endorsement.statement)
    garbage = crawl_garbage(crawl_setup, db_url)
    assert not garbage, garbage.most_common(10)
