"""A cleanup vacuums what it deleted from (PostgreSQL), so the room of the deleted rows is
reused at once, even where autovacuum is off (as on this machine's server) or behind."""

from __future__ import annotations

from typing import Any

import pytest

from asyncstore import CleanupReport, InvalidDataError, Store, TradeRepository
from tests.conftest import BOT_ID, trade_data

ROWS = 3000  # closed trades: a few hundred heap pages


async def _without_autovacuum(url: str) -> None:
    """Whatever the server's setting, only the cleanup's own VACUUM can free room here."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await conn.execute("ALTER TABLE trades SET (autovacuum_enabled = false)")
    finally:
        await conn.close()


async def _heap_bytes(store: Store) -> int:
    ((size,),) = await store.fetch_all("SELECT pg_relation_size('trades')", primary=True)
    return int(size)


async def _fill_clean_refill(url: str, **options: Any) -> tuple[CleanupReport, int, int]:
    """Fill `trades`, clean every row out, fill it again: the heap's bytes after each fill."""
    async with Store(url, **options) as store:
        await _without_autovacuum(url)
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        await repo.bulk_create_trades([trade_data(status="closed") for _ in range(ROWS)])
        filled = await _heap_bytes(store)
        report = await repo.cleanup(days_to_keep=0)
        await repo.bulk_create_trades([trade_data(status="closed") for _ in range(ROWS)])
        return report, filled, await _heap_bytes(store)


async def test_the_rows_a_cleanup_deleted_leave_room_the_next_rows_reuse(pg_url: str) -> None:
    report, filled, refilled = await _fill_clean_refill(pg_url)
    assert report.deleted["trades"] == ROWS
    assert report.vacuumed == ["trades"]  # nothing else had old rows
    assert refilled <= filled * 1.1, (filled, refilled)  # the same pages again, not new ones


async def test_without_vacuum_after_cleanup_the_deleted_rows_keep_their_room(
    pg_url: str,
) -> None:
    report, filled, refilled = await _fill_clean_refill(pg_url, vacuum_after_cleanup=False)
    assert report.deleted["trades"] == ROWS and report.vacuumed == []
    assert refilled >= filled * 1.8, (filled, refilled)  # every new row in a new page


async def test_a_cleanup_that_deleted_nothing_vacuums_nothing(
    repo: TradeRepository, bot: str
) -> None:
    await repo.create_trade(trade_data())  # open: never old
    report = await repo.cleanup(days_to_keep=0)
    assert report.total == 0 and report.vacuumed == []


@pytest.mark.sqlite_only
async def test_sqlite_needs_no_vacuum_after_a_cleanup(repo: TradeRepository, bot: str) -> None:
    await repo.bulk_create_trades([trade_data(status="closed") for _ in range(50)])
    report = await repo.cleanup(days_to_keep=0)
    assert report.total == 50 and report.vacuumed == []  # freed pages are reused by themselves


@pytest.mark.parametrize("tables", ["trades", ["trades", "sqlite_master"], [1], None])
async def test_reclaim_deleted_names_only_asyncstore_s_tables(store: Store, tables: Any) -> None:
    with pytest.raises(InvalidDataError, match="tables"):
        await store.reclaim_deleted(tables)
