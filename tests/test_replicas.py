"""Read replicas on PostgreSQL: reads go to the replicas, writes to the primary, and a caller
reads its own writes from the primary right after it wrote.

The "replica" here is a second database on the server that is NOT kept in sync with the
primary: what each read returns then shows which server answered it. (Replaying the primary's
WAL is PostgreSQL's job, not asyncstore's.)
"""

from __future__ import annotations

import asyncio
import contextvars
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from asyncstore import ConfigurationError, Store, TradeRepository
from tests.conftest import BOT_ID, fresh_postgres_database, trade_data

ONLY_ON_REPLICA = "only_on_the_replica"


async def _replica_with_a_bot(url: str) -> None:
    async with Store(url) as replica:
        await TradeRepository(replica).create_bot_instance({"id": ONLY_ON_REPLICA, "type": "paper"})


async def test_reads_go_to_the_replica_except_right_after_the_callers_write(pg_url: str) -> None:
    async with fresh_postgres_database() as replica_url:
        await _replica_with_a_bot(replica_url)
        async with Store(pg_url, read_replica_urls=[replica_url]) as store:
            repo = TradeRepository(store)
            assert await repo.get_bot_instance(ONLY_ON_REPLICA) is not None  # a replica read

            await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})  # the primary
            # Right after its write this caller reads the primary: it sees its bot, and not
            # the replica-only one.
            assert await repo.get_bot_instance(BOT_ID) is not None
            assert await repo.get_bot_instance(ONLY_ON_REPLICA) is None

            # Another caller, which wrote nothing, still reads the replica.
            other = asyncio.create_task(
                repo.get_bot_instance(ONLY_ON_REPLICA), context=contextvars.Context()
            )
            assert await other is not None
        async with Store(replica_url) as replica:  # the write never went to the replica
            assert await TradeRepository(replica).get_bot_instance(BOT_ID) is None


async def test_without_the_window_reads_go_to_the_replica_at_once(pg_url: str) -> None:
    async with fresh_postgres_database() as replica_url:
        await _replica_with_a_bot(replica_url)
        options = {"read_replica_urls": [replica_url], "replica_read_after_write_s": 0}
        async with Store(pg_url, **options) as store:
            repo = TradeRepository(store)
            await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
            assert await repo.get_bot_instance(BOT_ID) is None  # the replica has not got it
            assert await repo.get_bot_instance(ONLY_ON_REPLICA) is not None


def test_replicas_need_a_postgresql_primary() -> None:
    with pytest.raises(ConfigurationError, match="read_replica_urls"):
        Store("sqlite+aiosqlite:///x.db", read_replica_urls=["postgresql+asyncpg://h/db"])


async def test_writes_in_child_tasks_and_bulk_inserts_are_read_from_the_primary(
    pg_url: str,
) -> None:
    async with fresh_postgres_database() as replica_url:
        await _replica_with_a_bot(replica_url)
        async with Store(pg_url, read_replica_urls=[replica_url]) as store:
            repo = TradeRepository(store)
            await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
            await asyncio.gather(*(repo.create_trade(trade_data()) for _ in range(2)))
            assert len(await repo.get_open_trades(bot_id=BOT_ID)) == 2
            await repo.bulk_create_trades([trade_data() for _ in range(5)])
            assert len(await repo.get_open_trades(bot_id=BOT_ID)) == 7


async def test_cleanup_reads_the_primary_so_the_archive_holds_what_was_deleted(
    pg_url: str, tmp_path: Path
) -> None:
    old = datetime.now(UTC) - timedelta(days=100)
    async with fresh_postgres_database() as replica_url:
        await _replica_with_a_bot(replica_url)  # a replica without any of the trades
        async with Store(pg_url, read_replica_urls=[replica_url]) as store:
            repo = TradeRepository(store)
            await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
            trades = [
                await repo.create_trade(trade_data(status="closed", exit_time=old))
                for _ in range(3)
            ]
            archive = tmp_path / "old.csv"
            assert await repo.cleanup_old_data(30, archive=archive) == 3
    archived = archive.read_text()  # noqa: ASYNC240
    assert all(trade.id in archived for trade in trades)
