"""Store.fetch_chunks: a big result a chunk at a time, from one snapshot, on both backends.

Metrics read a bot's closed trades this way, so neither the loop nor the memory ever holds all
of the driver's row objects at once (asyncpg builds them on the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Any

import pytest

from asyncstore import (
    AsyncStoreError,
    InvalidDataError,
    Store,
    StoreClosedError,
    TradeRepository,
)
from asyncstore.repository import metrics
from tests.conftest import open_store_with_bot, trade_data

IDS = "SELECT id FROM trades ORDER BY id"


async def _trades(repo: TradeRepository, count: int, **columns: Any) -> None:
    await repo.bulk_create_trades([trade_data(**columns) for _ in range(count)])


async def test_every_row_comes_once_in_chunks_of_the_size_asked(
    store: Store, repo: TradeRepository, bot: str
) -> None:
    await _trades(repo, 2345)
    chunks = [rows async for rows in store.fetch_chunks(IDS, rows_per_chunk=1000)]
    assert [len(rows) for rows in chunks] == [1000, 1000, 345]
    assert [row for rows in chunks for row in rows] == await store.fetch_all(IDS)
    assert all(type(row) is tuple for rows in chunks for row in rows)


async def test_a_statement_binds_by_name_and_an_empty_result_has_no_chunks(
    store: Store, repo: TradeRepository, bot: str
) -> None:
    await _trades(repo, 3, symbol="ETHUSDT")
    await _trades(repo, 2, symbol="BTCUSDT")
    query = "SELECT symbol FROM trades WHERE symbol = ?"
    chunks = [rows async for rows in store.fetch_chunks(query, ["ETHUSDT"], rows_per_chunk=2)]
    assert [len(rows) for rows in chunks] == [2, 1]
    assert {row for rows in chunks for row in rows} == {("ETHUSDT",)}
    assert [rows async for rows in store.fetch_chunks(query, ["XRPUSDT"])] == []


async def test_a_chunked_read_sees_one_snapshot(
    store: Store, repo: TradeRepository, bot: str
) -> None:
    await _trades(repo, 30)
    seen = 0
    async with contextlib.aclosing(store.fetch_chunks(IDS, rows_per_chunk=10)) as chunks:
        async for rows in chunks:
            seen += len(rows)
            await repo.create_trade(trade_data())  # committed while the read is under way
    assert seen == 30
    assert len(await store.fetch_all(IDS)) == 33


async def test_stopping_early_hands_the_connection_back(db_url: str) -> None:
    # One read connection: were it kept by the abandoned read, the next read would wait forever.
    store, repo = await open_store_with_bot(db_url, read_pool_size=1, pg_pool_size=1)
    try:
        await _trades(repo, 50)

        async def first_chunk() -> int:
            async with contextlib.aclosing(store.fetch_chunks(IDS, rows_per_chunk=10)) as chunks:
                async for rows in chunks:
                    return len(rows)
            return 0

        for _ in range(3):
            assert await asyncio.wait_for(first_chunk(), timeout=30) == 10
        assert len(await asyncio.wait_for(store.fetch_all(IDS), timeout=30)) == 50
    finally:
        await store.close()


@pytest.mark.parametrize("size", [0, -1, 1.5, "10", True])
async def test_a_chunk_size_that_is_not_a_positive_whole_number_is_refused(
    store: Store, size: Any
) -> None:
    with pytest.raises(InvalidDataError) as caught:
        async for _ in store.fetch_chunks(IDS, rows_per_chunk=size):
            pass
    assert [error.field for error in caught.value.errors] == ["rows_per_chunk"]


async def test_a_bad_query_is_an_error_of_the_tree(store: Store) -> None:
    with pytest.raises(AsyncStoreError, match="nope"):
        async for _ in store.fetch_chunks("SELECT nope FROM trades"):
            pass


async def test_metrics_read_closed_trades_a_chunk_at_a_time(
    store: Store, repo: TradeRepository, bot: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pnls = [Decimal(n % 7) - 3 for n in range(120)]
    await repo.bulk_create_trades([trade_data(status="closed", net_pnl=pnl) for pnl in pnls])
    monkeypatch.setattr(metrics, "_CHUNK_ROWS", 50)
    chunk_sizes: list[int] = []
    real = Store.fetch_chunks

    async def counting(self: Store, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        async with contextlib.aclosing(real(self, *args, **kwargs)) as chunks:
            async for rows in chunks:
                chunk_sizes.append(len(rows))
                yield rows

    monkeypatch.setattr(Store, "fetch_chunks", counting)
    figures = await repo.calculate_performance_metrics(bot, starting_balance=Decimal(1000))
    assert chunk_sizes == [50, 50, 20]
    assert figures.total_trades == 120
    assert figures.winning_trades == sum(1 for pnl in pnls if pnl > 0)
    assert figures.largest_loss == min(pnls)
    assert figures.total_return == sum(pnls) / 1000 * 100  # percent of the starting balance


@pytest.mark.sqlite_only
async def test_closing_the_store_ends_a_chunked_read_as_closed(db_url: str) -> None:
    # (On PostgreSQL close() waits for reads under way, a chunked one included.)
    store, repo = await open_store_with_bot(db_url)
    await _trades(repo, 30)
    seen = 0
    with pytest.raises(StoreClosedError):
        async with contextlib.aclosing(store.fetch_chunks(IDS, rows_per_chunk=10)) as chunks:
            async for rows in chunks:
                seen += len(rows)
                await store.close()
    assert seen == 10


async def test_arguments_are_checked_at_the_call(store: Store) -> None:
    with pytest.raises(InvalidDataError, match="rows_per_chunk"):
        store.fetch_chunks(IDS, rows_per_chunk=0)  # no iteration needed to hear of it
