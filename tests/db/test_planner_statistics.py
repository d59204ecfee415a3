"""PostgreSQL's planner statistics follow a crawl that fills the tables (see
`auditor.store.planner_statistics`): planned from an empty table's statistics, a batch's
look-up of its leaf hashes read every stored entry once per hash.

Whether a table was analyzed is read from `pg_class.reltuples`: -1 until ANALYZE (or VACUUM)
counts its rows. Autovacuum is turned off for the tables, so that only the store analyzes them.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from auditor.store import planner_statistics
from auditor.store.database import engine_of, open_database
from tests.db.crawling import ENTRIES, CrawlSetup
from tests.db.test_concurrency import crawl_once
from tests.postgres import Cluster


@pytest.fixture
def pg_url(postgres: Cluster) -> str:
    url = postgres.create_database()
    sessions = open_database(url)
    with sessions.begin() as session:
        for table in planner_statistics.TABLES:
            session.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
    engine_of(sessions).dispose()
    return url


def counted_rows(url: str, table: str = "entries") -> float:
    sessions = open_database(url)
    try:
        with sessions() as session:
            return float(session.execute(text("SELECT reltuples FROM pg_class WHERE relname = "
                                              ":table"), {"table": table}).scalar_one())
    finally:
        engine_of(sessions).dispose()


def test_a_crawl_analyzes_the_tables_it_fills(crawl_setup: CrawlSetup, pg_url: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planner_statistics, "FIRST", 10)
    crawl_once(crawl_setup, pg_url)
    for table in ("entries", "endorsements", "verifications"):
        assert 10 <= counted_rows(pg_url, table) <= ENTRIES, table
    assert counted_rows(pg_url, "check_results") >= 10


def test_a_crawl_smaller_than_the_first_step_analyzes_nothing(
        crawl_setup: CrawlSetup, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planner_statistics, "FIRST", ENTRIES + 1)
    crawl_once(crawl_setup, pg_url)
    assert counted_rows(pg_url) == -1


def test_rows_of_a_rolled_back_transaction_do_not_count(pg_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planner_statistics, "FIRST", 10)
    sessions = open_database(pg_url)
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
            planner_statistics.stored(session, 10)
            session.rollback()
            session.commit()  # nothing left to count
        assert counted_rows(pg_url) == -1
        with sessions.begin() as session:
            planner_statistics.stored(session, 9)
        assert counted_rows(pg_url) == -1
        with sessions.begin() as session:
            planner_statistics.stored(session, 1)
        assert counted_rows(pg_url) == 0  # analyzed: the table is empty
    finally:
        engine_of(sessions).dispose()


def test_analyze_steps_double() -> None:
    growth = planner_statistics._Growth(10)
    assert [growth.committed(rows) for rows in (9, 1, 9, 1, 5, 15, 1, 39)] == \
        [False, True, False, True, False, True, False, True]
    assert growth.due == 2 * 80
