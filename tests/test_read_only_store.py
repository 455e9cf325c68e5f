"""A read-only Store (`read_only=True`, the dashboard's): reads and the change feed, no writer;
it never creates, upgrades or writes the database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from asyncstore import ConfigurationError, Store, StoreClosedError, TradeRepository
from tests.conftest import BOT_ID, trade_data


async def test_a_read_only_store_reads_and_hears_changes_but_never_writes(db_url: str) -> None:
    async with Store(db_url) as writer:
        repo = TradeRepository(writer)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        async with Store(db_url, read_only=True) as reader:
            viewer = TradeRepository(reader)
            assert (await viewer.get_bot_instance(BOT_ID)) is not None
            with pytest.raises(StoreClosedError, match="read-only"):
                await viewer.create_trade(trade_data())
            with pytest.raises(StoreClosedError, match="read-only"):
                await viewer.heartbeat(BOT_ID)
            async with reader.changes() as feed:
                trade = await repo.create_trade(trade_data())
                change = await asyncio.wait_for(anext(feed), 20)
            assert (change.table, change.row_id) == ("trades", trade.id)
            assert (await reader.health()).write_ms >= 0
        assert await repo.get_trade_by_id(trade.id) is not None


@pytest.mark.sqlite_only
async def test_a_read_only_store_leaves_the_file_untouched(db_url: str, db_path: Path) -> None:
    async with Store(db_url) as writer:
        await TradeRepository(writer).create_bot_instance({"id": BOT_ID, "type": "paper"})
    before = _file_state(db_path)
    async with Store(db_url, read_only=True) as reader:
        assert (await TradeRepository(reader).get_bot_instance(BOT_ID)) is not None
    assert _file_state(db_path) == before


@pytest.mark.sqlite_only
async def test_a_read_only_store_never_creates_a_database(db_url: str, db_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="never creates"):
        await Store(db_url, read_only=True).start()
    assert not _file_state(db_path)


async def test_a_read_only_store_refuses_an_empty_database(db_url: str, db_path: Path) -> None:
    if db_url.startswith("sqlite"):
        _empty_file(db_path)
    with pytest.raises(ConfigurationError, match="no asyncstore tables"):
        await Store(db_url, read_only=True).start()


def _file_state(path: Path) -> tuple[int, int, bytes] | None:
    """The file's modification time, size and bytes (None: no file)."""
    if not path.exists():
        return None
    return path.stat().st_mtime_ns, path.stat().st_size, path.read_bytes()


def _empty_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


async def test_a_read_only_store_s_queries_take_no_parallel_workers() -> None:
    """On PostgreSQL an observer's query runs in one server process: parallel workers would
    take the cores the bots' writing sessions need."""
    from tests.conftest import fresh_postgres_database

    async with fresh_postgres_database() as url:
        async with Store(url):
            pass  # builds the schema
        async with Store(url) as bots, Store(url, read_only=True) as observer:
            setting = "SHOW max_parallel_workers_per_gather"
            assert await observer.fetch_all(setting) == [("0",)]
            assert await bots.fetch_all(setting) != [("0",)]
