"""A cleanup vacuums what it deleted from (PostgreSQL), so the room of the deleted rows is
reused at once, even where autovacuum is off (as on this machine's server) or behind; and the
VACUUM never holds up the cleanup, the bots, or the Store's close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from asyncstore import (
    CleanupReport,
    InvalidDataError,
    Store,
    StoreClosedError,
    TradeRepository,
)
from tests.conftest import BOT_ID, trade_data, wait_until

ROWS = 3000  # closed trades: a few hundred heap pages


def _libpq(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@asynccontextmanager
async def _session(url: str, database: str | None = None) -> AsyncIterator[Any]:
    import asyncpg

    conn = await asyncpg.connect(_libpq(url, database))
    try:
        yield conn
    finally:
        await conn.close()


async def _heap_bytes(store: Store) -> int:
    ((size,),) = await store.fetch_all("SELECT pg_relation_size('trades')", primary=True)
    return int(size)


def _old(count: int) -> list[dict[str, Any]]:
    return [trade_data(status="closed") for _ in range(count)]


async def _fill_clean_refill(url: str, **options: Any) -> tuple[CleanupReport, int, int]:
    """Fill `trades` with old rows and a few recent ones after them (so no VACUUM could free
    the room by cutting the table's end off), clean the old out, write as many again: the
    heap's bytes after the first fill and after the second."""
    async with Store(url, **options) as store:
        async with _session(url) as admin:  # whatever the server says, no autovacuum here
            await admin.execute("ALTER TABLE trades SET (autovacuum_enabled = false)")
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        await repo.bulk_create_trades(_old(ROWS))
        await repo.bulk_create_trades([trade_data() for _ in range(50)])  # open: kept
        filled = await _heap_bytes(store)
        report = await repo.cleanup(days_to_keep=0)
        await repo.bulk_create_trades(_old(ROWS))
        return report, filled, await _heap_bytes(store)


async def test_the_rows_a_cleanup_deleted_leave_room_the_next_rows_reuse(pg_url: str) -> None:
    report, filled, refilled = await _fill_clean_refill(pg_url)
    assert report.deleted["trades"] == ROWS and report.vacuum_error is None
    assert report.vacuumed == ["trades"]  # nothing else had old rows
    assert refilled <= filled * 1.1, (filled, refilled)  # the freed pages again, not new ones


async def test_without_vacuum_after_cleanup_the_deleted_rows_keep_their_room(
    pg_url: str,
) -> None:
    report, filled, refilled = await _fill_clean_refill(pg_url, vacuum_after_cleanup=False)
    assert report.deleted["trades"] == ROWS and report.vacuumed == []
    assert refilled >= filled * 1.8, (filled, refilled)  # every new row in a new page


async def _vacuums_of_trades(url: str) -> int:
    async with _session(url) as admin:
        query = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'trades'"
        return int(await admin.fetchval(query))


async def test_a_cleanup_that_deleted_nothing_vacuums_nothing(pg_url: str) -> None:
    async with Store(pg_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        await repo.create_trade(trade_data())  # open: never old
        before = await _vacuums_of_trades(pg_url)
        report = await repo.cleanup(days_to_keep=0)
        assert report.total == 0 and report.vacuumed == []
        await repo.bulk_create_trades(_old(3))
        assert (await repo.cleanup(days_to_keep=0)).vacuumed == ["trades"]
    # The first cleanup ran no VACUUM; the second one did (counted by the server).
    assert await _vacuums_of_trades(pg_url) == before + 1


async def test_a_table_another_vacuum_holds_is_skipped_not_waited_for(pg_url: str) -> None:
    async with Store(pg_url) as store, _session(pg_url) as other:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        await repo.bulk_create_trades(_old(10))
        # The lock a VACUUM (autovacuum's, a compaction's) holds, held by another session.
        async with other.transaction():
            await other.execute("LOCK TABLE trades IN SHARE UPDATE EXCLUSIVE MODE")
            report = await asyncio.wait_for(repo.cleanup(days_to_keep=0), 60)
    assert report.deleted["trades"] == 10
    assert report.vacuumed == [] and report.vacuum_error is None  # skipped, said so


async def test_a_vacuum_that_cannot_run_leaves_the_cleanup_done_and_says_why(
    pg_url: str,
) -> None:
    database = make_url(pg_url).database
    async with Store(pg_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        await repo.bulk_create_trades(_old(10))
        # The VACUUM needs a connection of its own: the server refuses new ones now (the
        # Store's own are open already).
        async with _session(pg_url, "postgres") as admin:
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            try:
                report = await repo.cleanup(days_to_keep=0)
            finally:
                await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        assert await repo.get_trades() == []  # the rows are deleted all the same
    assert report.deleted["trades"] == 10 and report.vacuumed == []
    assert report.vacuum_error is not None and "cannot connect" in report.vacuum_error


async def test_close_cancels_a_vacuum_rather_than_wait_for_it(pg_url: str) -> None:
    vacuums = (
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'VACUUM%' "
        "AND datname = current_database()"
    )
    # `watcher` asks outside any transaction: inside one, pg_stat_activity would not change.
    async with _session(pg_url) as holder, _session(pg_url) as watcher:
        store = await Store(pg_url).start()
        await TradeRepository(store).create_bot_instance({"id": BOT_ID, "type": "paper"})

        async def vacuuming() -> int:
            return int(await watcher.fetchval(vacuums))

        async with holder.transaction():
            await holder.execute("LOCK TABLE trades IN SHARE UPDATE EXCLUSIVE MODE")
            compacting = asyncio.create_task(store.compact())  # waits for the lock
            await wait_until(vacuuming, limit_s=30)
            await store.close()
            with pytest.raises(StoreClosedError, match="closed during compact"):
                # Bounded: a VACUUM close() left running would wait for the lock forever.
                await asyncio.wait_for(compacting, 30)
            # The lock is still held: the VACUUM is gone because it was cancelled, not done.
            await wait_until(lambda: _is_zero(vacuuming()), limit_s=30)


async def _is_zero(count: Any) -> bool:
    return bool(await count == 0)


async def test_a_read_only_store_vacuums_nothing(db_url: str) -> None:
    async with Store(db_url) as store:
        await TradeRepository(store).create_bot_instance({"id": BOT_ID, "type": "paper"})
    async with Store(db_url, read_only=True) as observer:
        with pytest.raises(StoreClosedError, match="read-only"):
            await observer.reclaim_deleted(["trades"])


@pytest.mark.sqlite_only
async def test_sqlite_needs_no_vacuum_after_a_cleanup(repo: TradeRepository, bot: str) -> None:
    await repo.bulk_create_trades(_old(50))
    report = await repo.cleanup(days_to_keep=0)
    assert report.total == 50 and report.vacuumed == []  # freed pages are reused by themselves


@pytest.mark.parametrize("tables", ["trades", ["trades", "sqlite_master"], [1], None, b""])
async def test_reclaim_deleted_names_only_asyncstore_s_tables(store: Store, tables: Any) -> None:
    with pytest.raises(InvalidDataError, match="tables"):
        await store.reclaim_deleted(tables)
