"""bulk_create_trades: whole-list validation, streamed chunks, idempotent re-runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncstore import (
    DuplicateError,
    ForeignKeyError,
    InvalidDataError,
    Store,
    TradeRepository,
    new_id,
)
from tests.conftest import BOT_ID, count_rows, rows_in, trade_data, wait_until


def rows(count: int, **overrides: Any) -> list[dict[str, Any]]:
    return [
        trade_data(trade_type="optimization", status="closed", net_pnl="1.25", **overrides)
        for _ in range(count)
    ]


async def test_list_inserts_every_row_in_chunks(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    assert await repo.bulk_create_trades(rows(5_000)) == 5_000
    assert await rows_in(repo.store) == 5_000
    summary = await repo.get_trade_summary(bot_id=BOT_ID)
    assert summary["closed_trades"] == 5_000 and summary["total_net_pnl"] == 6_250
    assert store.write_stats.operations >= 5_000 // store.settings.bulk_chunk_rows


async def test_one_bad_row_in_a_list_writes_nothing(
    repo: TradeRepository, bot: str, db_path: Path
) -> None:
    batch = rows(3_000)
    batch[2_345]["direction"] = "sideways"
    with pytest.raises(InvalidDataError) as caught:
        await repo.bulk_create_trades(batch)
    assert [e.field for e in caught.value.errors] == ["row 2345.direction"]
    assert caught.value.rows_committed == 0
    assert await rows_in(repo.store) == 0


async def test_repeated_id_or_unknown_bot_in_a_list_writes_nothing(
    repo: TradeRepository, bot: str, db_path: Path
) -> None:
    batch = rows(1_500)
    batch[1_200]["id"] = batch[3]["id"] = new_id()
    with pytest.raises(DuplicateError, match="row 1200.id: .* repeats row 3"):
        await repo.bulk_create_trades(batch)
    assert await rows_in(repo.store) == 0
    # Ignoring conflicts, the repeat is ignored like an id already in the table.
    assert await repo.bulk_create_trades(batch, on_conflict="ignore") == 1_499
    assert await rows_in(repo.store) == 1_499
    batch = rows(1_500)
    batch[1_499]["bot_id"] = "ghost"
    with pytest.raises(ForeignKeyError, match="row 1499.bot_id.*ghost"):
        await repo.bulk_create_trades(batch)
    assert await rows_in(repo.store) == 1_499  # nothing more


async def test_stream_reports_rows_committed_before_a_bad_row(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    chunk = store.settings.bulk_chunk_rows

    async def produce() -> AsyncIterator[dict[str, Any]]:
        for n in range(chunk * 3):
            yield trade_data(size="-1" if n == chunk * 2 + 7 else "1")

    with pytest.raises(InvalidDataError) as caught:
        await repo.bulk_create_trades(produce())
    assert caught.value.rows_committed == chunk * 2
    assert f"{chunk * 2} rows of this bulk insert were already committed" in caught.value.__notes__
    assert [e.field for e in caught.value.errors] == [f"row {chunk * 2 + 7}.size"]
    assert await rows_in(repo.store) == chunk * 2


async def test_sync_generator_is_streamed(repo: TradeRepository, bot: str, db_path: Path) -> None:
    def produce() -> Iterator[dict[str, Any]]:
        yield from rows(1_234)

    assert await repo.bulk_create_trades(produce()) == 1_234
    assert await rows_in(repo.store) == 1_234


async def test_rerun_with_ignore_inserts_only_what_is_missing(
    repo: TradeRepository, bot: str, db_path: Path
) -> None:
    batch = [{**row, "id": new_id()} for row in rows(2_000)]
    assert await repo.bulk_create_trades(batch[:1_300]) == 1_300
    with pytest.raises(DuplicateError) as caught:
        await repo.bulk_create_trades(batch)
    assert caught.value.rows_committed == 0  # the first chunk already collides
    assert await rows_in(repo.store) == 1_300
    assert await repo.bulk_create_trades(batch, on_conflict="ignore") == 700
    assert await repo.bulk_create_trades(batch, on_conflict="ignore") == 0
    assert await rows_in(repo.store) == 2_000


async def test_bad_on_conflict(repo: TradeRepository, bot: str) -> None:
    with pytest.raises(InvalidDataError, match="on_conflict"):
        await repo.bulk_create_trades(rows(1), on_conflict="replace")  # type: ignore[arg-type]


@pytest.mark.sqlite_only  # the single writer's lanes
async def test_small_writes_interleave_with_two_bulk_producers(
    repo: TradeRepository, store: Store, bot: str
) -> None:
    """Heartbeats commit between the first and the last chunk commit of two bulk inserts
    running at once: each heartbeat waits for about one chunk, never for a whole batch."""
    per_producer = 10_000
    total = 2 * per_producer
    producers = [asyncio.create_task(repo.bulk_create_trades(rows(per_producer))) for _ in range(2)]
    inside_the_window = 0
    while not all(producer.done() for producer in producers):
        # Rows committed before this heartbeat was submitted, and after it committed: if some
        # chunk had committed before it and some had not yet after it, it interleaved.
        before = await rows_in(store)
        await repo.heartbeat(BOT_ID)
        after = await rows_in(store)
        inside_the_window += before > 0 and after < total
    assert [await producer for producer in producers] == [per_producer, per_producer]
    chunks = total // store.settings.bulk_chunk_rows
    assert inside_the_window >= chunks // 4, (inside_the_window, chunks)


async def test_failed_list_reports_every_committed_row_and_writes_nothing_after(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    chunk = store.settings.bulk_chunk_rows
    batch = [{**row, "id": new_id()} for row in rows(chunk * 3)]
    await repo.create_trade(batch[chunk + 5])  # a row of the second chunk already exists
    with pytest.raises(DuplicateError) as caught:
        await repo.bulk_create_trades(batch)
    committed_now = await rows_in(repo.store) - 1
    assert caught.value.rows_committed == committed_now  # true, whatever got committed
    await repo.create_trade(trade_data())  # a later write: anything still queued is done
    assert await rows_in(repo.store) - 2 == committed_now  # nothing landed after the call returned


@pytest.mark.sqlite_only  # the single writer's lanes, the file itself
async def test_cancelled_list_insert_writes_nothing_after_it_returns(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    task = asyncio.create_task(repo.bulk_create_trades(rows(store.settings.bulk_chunk_rows * 20)))
    await wait_until(lambda: count_rows(db_path) > 0)  # the insert is under way
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after_return = await rows_in(repo.store)
    await repo.create_trade(trade_data())
    assert await rows_in(repo.store) == after_return + 1
