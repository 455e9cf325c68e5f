"""Things that go wrong around the writer: cancellation of its task or of close(), callers'
decimal contexts, failing input streams, extreme values."""

from __future__ import annotations

import asyncio
import decimal
import threading
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from asyncstore import (
    AsyncStoreError,
    InvalidDataError,
    NotFoundError,
    Store,
    StoreClosedError,
    TradeRepository,
)
from tests.conftest import (
    BOT_ID,
    count_rows,
    open_store_with_bot,
    queue_depth,
    rows_in,
    trade_data,
    wait_until,
    write_lock_held,
    writer_queue,
    writer_took_everything,
)


def _writer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("asyncstore-writer")}


@pytest.mark.sqlite_only  # the single writer's task and batches
async def test_cancelled_writer_task_reports_the_truth_and_hangs_nobody(
    db_url: str, db_path: Path
) -> None:
    earlier_writers = _writer_threads()  # a Store another test leaked is not this test's concern
    store, repo = await open_store_with_bot(db_url, write_queue_size=1)
    writer = writer_queue(store)
    with write_lock_held(db_path) as blocker:
        in_batch = asyncio.create_task(repo.create_trade(trade_data()))
        await wait_until(lambda: writer.depth == 0 and writer.stats.accepted == 3)
        queued = asyncio.create_task(repo.create_trade(trade_data()))
        waiting_for_room = asyncio.create_task(repo.create_trade(trade_data()))
        await wait_until(lambda: writer.depth == 1)
        assert writer._task is not None
        writer._task.cancel()  # e.g. a SIGTERM handler cancelling every task
        for _ in range(10):
            await asyncio.sleep(0)
        blocker.rollback()  # the stuck batch now commits on the writer thread
        committed = await in_batch  # its real outcome: committed, reported as such
        with pytest.raises(AsyncStoreError, match="writer stopped"):
            await queued
        with pytest.raises(StoreClosedError):
            await waiting_for_room
    await store.close()  # does not raise the dead task's CancelledError
    assert await _exists(db_path, committed.id)
    assert count_rows(db_path) == 1
    await wait_until(lambda: _writer_threads() <= earlier_writers)


async def _exists(db_path: Path, trade_id: str) -> bool:
    async with Store(f"sqlite+aiosqlite:///{db_path}") as store:
        return await TradeRepository(store).get_trade_by_id(trade_id) is not None


@pytest.mark.sqlite_only  # the single writer's task and batches
async def test_cancelled_close_still_drains_and_releases(db_url: str, db_path: Path) -> None:
    earlier_writers = _writer_threads()
    store, repo = await open_store_with_bot(db_url)
    with write_lock_held(db_path) as blocker:
        pending = [asyncio.create_task(repo.create_trade(trade_data())) for _ in range(20)]
        await wait_until(lambda: store.write_stats.accepted == 22)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(store.close(), timeout=0.05)
        blocker.rollback()
    assert len(await asyncio.gather(*pending)) == 20  # accepted writes still land
    await store.close()  # waits for the shutdown the cancelled call started
    await wait_until(
        lambda: _writer_threads() <= earlier_writers
    )  # and the writer thread is released
    assert count_rows(db_path) == 20


async def test_callers_decimal_context_does_not_matter(repo: TradeRepository, bot: str) -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 6
        ctx.traps[decimal.Inexact] = True
        trade = await repo.create_trade(trade_data(net_pnl="123456789012.12345678"))
        await repo.update_trade(trade.id, {"status": "closed", "exit_price": "51000"})
        stored = await repo.get_trade_by_id(trade.id)
        summary = await repo.get_trade_summary()
    assert stored is not None and stored.net_pnl == Decimal("123456789012.12345678")
    assert summary["total_net_pnl"] == Decimal("123456789012.12345678")


async def test_failing_source_iterator_says_what_was_committed(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    chunk = store.settings.bulk_chunk_rows

    async def feed() -> AsyncIterator[dict[str, Any]]:
        for n in range(chunk * 2 + 5):
            yield trade_data()
            if n == chunk * 2 + 3:
                raise ConnectionError("exchange feed dropped")

    with pytest.raises(ConnectionError) as caught:
        await repo.bulk_create_trades(feed())
    assert caught.value.rows_committed == chunk * 2  # type: ignore[attr-defined]
    assert await rows_in(repo.store) == chunk * 2


@pytest.mark.parametrize(
    "moment",
    [
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))),
        datetime.min.replace(tzinfo=timezone(timedelta(hours=1))),
    ],
)
async def test_times_outside_utc_range_are_invalid_data(
    repo: TradeRepository, bot: str, moment: datetime
) -> None:
    with pytest.raises(InvalidDataError, match="entry_time: is outside the years"):
        await repo.create_trade(trade_data(entry_time=moment))


def test_url_options_are_refused(tmp_path: Path) -> None:
    from asyncstore import ConfigurationError

    with pytest.raises(ConfigurationError, match="%3F"):
        Store(f"sqlite+aiosqlite:///{tmp_path}/a?b.db")


async def test_read_waiting_for_a_connection_during_close(db_url: str) -> None:
    store, repo = await open_store_with_bot(db_url, read_pool_size=1)
    reads = [asyncio.create_task(repo.get_open_trades()) for _ in range(5)]
    await asyncio.sleep(0)
    await store.close()
    results = await asyncio.gather(*reads, return_exceptions=True)
    assert all(r == [] or isinstance(r, StoreClosedError) for r in results), results


@pytest.mark.sqlite_only  # the single writer's task and batches
async def test_heartbeat_of_an_unknown_bot_does_not_replay_the_batch(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    with write_lock_held(db_path) as blocker:
        first = asyncio.create_task(repo.heartbeat(BOT_ID))
        await writer_took_everything(store, accepted=1)
        beats = [asyncio.create_task(repo.heartbeat(BOT_ID)) for _ in range(20)]
        ghost = asyncio.create_task(repo.heartbeat("retired_bot"))
        await wait_until(lambda: queue_depth(store) == 21)
        blocker.rollback()
        await asyncio.gather(first, *beats)
        with pytest.raises(NotFoundError):
            await ghost
    assert store.write_stats.retried_operations == 0
