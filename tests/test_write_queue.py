"""The single writer: group commit, isolation of failures, cancellation, backpressure, close."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from asyncstore import (
    DuplicateError,
    ForeignKeyError,
    NotFoundError,
    Store,
    StoreClosedError,
    StoreState,
    TradeRepository,
)
from asyncstore.schema.tables import TRADES
from asyncstore.sqlite.statements import ROWS_PER_STATEMENT, rows_per_statement
from tests.conftest import (
    BOT_ID,
    count_rows,
    open_store_with_bot,
    queue_depth,
    trade_data,
    wait_until,
    write_lock_held,
    writer_took_everything,
)

# The SQLite file itself, its single writer, or SQLite processes: not (yet) on PostgreSQL.
pytestmark = pytest.mark.sqlite_only


async def test_hundreds_of_coroutines_write_at_once(
    repo: TradeRepository, store: Store, db_path: Path
) -> None:
    bots = [f"bot_{n:03d}" for n in range(300)]
    await asyncio.gather(*(repo.create_bot_instance({"id": b, "type": "paper"}) for b in bots))

    async def bot_session(bot_id: str) -> list[str]:
        ids = []
        for _ in range(5):
            trade = await repo.create_trade(trade_data(bot_id=bot_id))
            await repo.heartbeat(bot_id)
            ids.append(trade.id)
        await repo.update_trade(
            ids[0], {"status": "closed", "exit_price": "51000", "net_pnl": "1.5"}
        )
        return ids

    written = await asyncio.gather(*(bot_session(b) for b in bots))
    assert count_rows(db_path) == 1500
    assert len({i for ids in written for i in ids}) == 1500
    summary = await repo.get_trade_summary()
    assert summary["closed_trades"] == 300 and summary["total_net_pnl"] == 450
    stats = store.write_stats
    assert stats.batches < stats.operations / 10  # group commit really grouped them
    assert stats.retried_operations == 0


async def test_one_failing_write_in_a_busy_batch_fails_alone(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    existing = await repo.create_trade(trade_data())
    with write_lock_held(db_path) as blocker:
        first = asyncio.create_task(repo.create_trade(trade_data()))
        await writer_took_everything(store, accepted=1)
        # The writer is now stuck in BEGIN IMMEDIATE with `first`; everything below queues up
        # and is committed as the next batch.
        good = [asyncio.create_task(repo.create_trade(trade_data())) for _ in range(50)]
        duplicate = asyncio.create_task(repo.create_trade(trade_data(id=existing.id)))
        orphan = asyncio.create_task(repo.create_trade(trade_data(bot_id="ghost")))
        more = [asyncio.create_task(repo.create_trade(trade_data())) for _ in range(50)]
        await wait_until(lambda: queue_depth(store) == 102)
        blocker.rollback()
        results = await asyncio.gather(
            first, *good, duplicate, orphan, *more, return_exceptions=True
        )
    assert isinstance(results[51], DuplicateError)
    assert isinstance(results[52], ForeignKeyError)
    assert isinstance(results[52].__cause__, Exception)  # the driver's error stays visible
    assert sum(isinstance(r, Exception) for r in results) == 2
    assert count_rows(db_path) == 1 + 1 + 100
    # Only the rows of the one multi-row INSERT that failed ran again, not the whole batch.
    assert store.write_stats.retried_operations == ROWS_PER_STATEMENT


async def test_a_failing_write_of_several_statements_rolls_back_to_its_savepoint(
    db_url: str, db_path: Path
) -> None:
    """A bulk chunk larger than one INSERT may carry (SQLite's parameter limit) runs as two
    multi-row INSERTs; its second one fails on a taken id. The first one's rows are undone
    (its savepoint), while the other callers in the same transaction commit."""
    per_statement = rows_per_statement(TRADES)
    store, repo = await open_store_with_bot(db_url, bulk_chunk_rows=per_statement + 50)
    try:
        existing = await repo.create_trade(trade_data())
        rows = [trade_data() for _ in range(per_statement + 50)]
        rows[per_statement + 40]["id"] = existing.id  # in the chunk's second statement
        batches_before = store.write_stats.batches
        with write_lock_held(db_path) as blocker:
            first = asyncio.create_task(repo.create_trade(trade_data()))
            await writer_took_everything(store, accepted=1)
            before = [asyncio.create_task(repo.create_trade(trade_data())) for _ in range(5)]
            chunk = asyncio.create_task(repo.bulk_create_trades(rows))
            after = [asyncio.create_task(repo.create_trade(trade_data())) for _ in range(5)]
            await wait_until(lambda: queue_depth(store) == 11)
            blocker.rollback()
            results = await asyncio.gather(first, *before, chunk, *after, return_exceptions=True)
        failed = results[6]
        assert isinstance(failed, DuplicateError) and failed.rows_committed == 0
        assert not any(isinstance(r, BaseException) for r in results[:6] + results[7:]), results
        assert store.write_stats.batches - batches_before == 2  # `first`, then ONE for the rest
        assert count_rows(db_path) == 1 + 1 + 10  # not one of the chunk's rows
    finally:
        await store.close()


async def test_cancelled_before_taken_is_not_written(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    skipped_id = str(uuid.uuid4())
    with write_lock_held(db_path) as blocker:
        first = asyncio.create_task(repo.create_trade(trade_data()))
        await writer_took_everything(store, accepted=1)
        doomed = asyncio.create_task(repo.create_trade(trade_data(id=skipped_id)))
        await wait_until(lambda: queue_depth(store) == 1)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        blocker.rollback()
        await first
    await repo.create_trade(trade_data())  # a later write proves the writer moved past it
    assert store.write_stats.skipped_cancelled == 1
    assert await repo.get_trade_by_id(skipped_id) is None
    assert count_rows(db_path) == 2


async def test_cancelled_after_taken_is_still_committed(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    kept_id = str(uuid.uuid4())
    with write_lock_held(db_path) as blocker:
        taken = asyncio.create_task(repo.create_trade(trade_data(id=kept_id)))
        await writer_took_everything(store, accepted=1)
        taken.cancel()
        with pytest.raises(asyncio.CancelledError):
            await taken
        blocker.rollback()
    await repo.create_trade(trade_data())  # returns only after the earlier batch committed
    assert await repo.get_trade_by_id(kept_id) is not None


async def test_close_commits_every_accepted_write(db_url: str, db_path: Path) -> None:
    store, repo = await open_store_with_bot(db_url)
    before = store.write_stats.accepted
    tasks = [asyncio.create_task(repo.create_trade(trade_data())) for _ in range(500)]
    await wait_until(lambda: store.write_stats.accepted == before + 500)
    await store.close()
    results = await asyncio.gather(*tasks)
    assert len({r.id for r in results}) == 500
    assert count_rows(db_path) == 500
    with pytest.raises(StoreClosedError):
        await repo.create_trade(trade_data())


async def test_backpressure_bounds_the_queue(db_url: str, db_path: Path) -> None:
    async with Store(db_url, write_queue_size=5) as store:
        await store.create_tables()
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        before = store.write_stats.accepted
        with write_lock_held(db_path) as blocker:
            tasks = [asyncio.create_task(repo.create_trade(trade_data())) for _ in range(40)]
            # The first five fill the queue; the writer takes them as one (stuck) batch, which
            # frees room for five more; the other thirty wait for room.
            await wait_until(lambda: store.write_stats.accepted == before + 10)
            for _ in range(20):
                await asyncio.sleep(0)
            assert queue_depth(store) == 5
            assert store.write_stats.accepted == before + 10
            blocker.rollback()
            await asyncio.gather(*tasks)
        assert count_rows(db_path) == 40


async def test_close_refuses_a_caller_still_waiting_for_room(db_url: str, db_path: Path) -> None:
    store, repo = await open_store_with_bot(db_url, write_queue_size=1)
    before = store.write_stats.accepted
    with write_lock_held(db_path) as blocker:
        tasks = [asyncio.create_task(repo.create_trade(trade_data())) for _ in range(3)]
        await wait_until(lambda: store.write_stats.accepted == before + 2)  # 1 stuck, 1 queued
        closing = asyncio.create_task(store.close())
        await wait_until(lambda: store.state is StoreState.CLOSED)  # close() has begun
        blocker.rollback()
        await closing
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["TradeRecord", "TradeRecord", "StoreClosedError"]
    assert count_rows(db_path) == 2


async def test_reads_do_not_wait_for_the_writer(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    committed = await repo.create_trade(trade_data())
    with write_lock_held(db_path) as blocker:
        pending = asyncio.create_task(repo.create_trade(trade_data()))
        await writer_took_everything(store, accepted=1)
        # The writer is blocked, yet reads answer with everything committed so far.
        reads = await asyncio.gather(*(repo.get_open_trades(bot_id=BOT_ID) for _ in range(50)))
        assert all([t.id for t in r] == [committed.id] for r in reads)
        assert not pending.done()
        blocker.rollback()
        await pending


async def test_read_your_writes(repo: TradeRepository, bot: str) -> None:
    async def write_then_read(n: int) -> None:
        trade = await repo.create_trade(trade_data(symbol=f"SYM{n}"))
        assert await repo.get_trade_by_id(trade.id) == trade
        updated = await repo.update_trade(trade.id, {"status": "closed", "exit_price": "51000"})
        assert (await repo.get_trade_by_id(trade.id)) == updated

    await asyncio.gather(*(write_then_read(n) for n in range(100)))


async def test_heartbeats_of_one_bot_coalesce(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    await repo.create_bot_instance({"id": "second", "type": "paper"})
    with write_lock_held(db_path) as blocker:
        first = asyncio.create_task(repo.heartbeat(BOT_ID))
        await writer_took_everything(store, accepted=1)
        beats = [asyncio.create_task(repo.heartbeat(b)) for b in [BOT_ID, "second"] * 50]
        await wait_until(lambda: queue_depth(store) == 100)
        blocker.rollback()
        times = await asyncio.gather(first, *beats)
    stats = store.write_stats
    assert stats.heartbeats == 101
    assert stats.heartbeat_statements == 1 + 1  # `first` alone, then ONE UPDATE for 100 beats
    for bot_id, its_times in [(BOT_ID, [times[0], *times[1::2]]), ("second", times[2::2])]:
        record = await repo.get_bot_instance(bot_id)
        assert record is not None and record.last_heartbeat == max(its_times)
    assert count_rows(db_path, "bot_instances") == 2


async def test_heartbeat_after_a_bot_created_in_the_same_batch(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    with write_lock_held(db_path) as blocker:
        first = asyncio.create_task(repo.heartbeat(BOT_ID))
        await writer_took_everything(store, accepted=1)
        # Arrival order: beat of an unknown bot, creation of a new bot, beat of the new bot.
        ghost = asyncio.create_task(repo.heartbeat("ghost"))
        created = asyncio.create_task(repo.create_bot_instance({"id": "new", "type": "paper"}))
        new_beat = asyncio.create_task(repo.heartbeat("new"))
        await wait_until(lambda: queue_depth(store) == 3)
        blocker.rollback()
        await first
        await created
        assert (await new_beat) is not None  # grouping must not run it before the creation
        with pytest.raises(NotFoundError, match="ghost"):
            await ghost
    # The creation closed the first heartbeat step: the new bot's beat went in a second one,
    # after the creation, and nothing had to run again.
    assert store.write_stats.retried_operations == 0
    assert store.write_stats.heartbeat_statements == 1 + 2


async def test_a_trade_of_a_bot_created_in_the_same_batch_finds_its_bot(
    repo: TradeRepository, store: Store, bot: str, db_path: Path
) -> None:
    """Trades merge into multi-row INSERTs placed at the first trade's position; a trade whose
    bot was created after that position (in arrival order, before the trade) must still find
    it: the bot's creation starts a new trade step."""
    with write_lock_held(db_path) as blocker:
        first = asyncio.create_task(repo.create_trade(trade_data()))
        await writer_took_everything(store, accepted=1)
        mine = asyncio.create_task(repo.create_trade(trade_data()))
        created = asyncio.create_task(repo.create_bot_instance({"id": "new", "type": "paper"}))
        new_trade = asyncio.create_task(repo.create_trade(trade_data(bot_id="new")))
        await wait_until(lambda: queue_depth(store) == 3)
        blocker.rollback()
        await asyncio.gather(first, mine, created, new_trade)
    assert (await new_trade).bot_id == "new"
    assert store.write_stats.retried_operations == 0
    assert count_rows(db_path) == 3
