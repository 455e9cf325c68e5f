"""Atomic units of work on both backends: all of a unit commits, or none of it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from asyncstore import (
    AsyncStoreError,
    DuplicateError,
    InvalidDataError,
    LifecycleError,
    NotFoundError,
    Store,
    TradeRepository,
)
from tests.conftest import BOT_ID, rows_in, trade_data

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _snapshot(store: Store) -> list[list[tuple[object, ...]]]:
    return [
        await store.fetch_all(f"SELECT * FROM {table} ORDER BY id")
        for table in ("bot_instances", "trades", "performance_metrics")
    ]


async def test_a_unit_commits_every_write_together(repo: TradeRepository, bot: str) -> None:
    opened = await repo.create_trade(trade_data(entry_time=T0, entry_price="100", size="2"))
    async with repo.atomic() as unit:
        created = unit.create_trade(trade_data(entry_time=T0))
        closing = unit.close_trade(opened.id, {"exit_price": "101.5"})
        beat_at = unit.heartbeat(BOT_ID)
        moved = unit.update_bot_instance(BOT_ID, {"extra_metadata": {"position": 0}})
        metrics = unit.create_performance_metrics({"bot_id": BOT_ID, "total_trades": 1})
        newcomer = unit.create_bot_instance({"id": "newcomer", "type": "paper"})
        assert not closing.done
        with pytest.raises(AsyncStoreError, match="not written yet"):
            _ = closing.result
        # Nothing is written inside the block.
        assert await repo.get_trade_by_id(created.id) is None
    assert await repo.get_trade_by_id(created.id) == created
    assert closing.result.net_pnl == Decimal("3")
    assert closing.result == await repo.get_trade_by_id(opened.id)
    stored_bot = await repo.get_bot_instance(BOT_ID)
    assert stored_bot == moved.result
    assert stored_bot is not None and stored_bot.extra_metadata == {"position": 0}
    assert stored_bot.current_balance == Decimal("1003")  # the close booked it in the unit
    assert stored_bot.last_heartbeat == beat_at
    assert await repo.get_bot_instance("newcomer") == newcomer
    rows = await repo.store.fetch_all("SELECT id FROM performance_metrics")
    assert rows == [(metrics.id,)]


async def test_an_exception_in_the_block_writes_nothing(repo: TradeRepository, bot: str) -> None:
    before = await _snapshot(repo.store)
    with pytest.raises(RuntimeError, match="strategy crashed"):
        async with repo.atomic() as unit:
            unit.create_trade(trade_data())
            unit.heartbeat(BOT_ID)
            raise RuntimeError("strategy crashed")
    assert await _snapshot(repo.store) == before


async def test_a_failing_write_fails_the_whole_unit_with_its_error(
    repo: TradeRepository, bot: str
) -> None:
    existing = await repo.create_trade(trade_data(entry_time=T0, entry_price="1", size="1"))
    before = await _snapshot(repo.store)
    unknown = "0190d3a0-0000-7000-8000-000000000000"
    failing = [
        (lambda u: u.update_trade(unknown, {"exit_reason": "x"}), NotFoundError),
        (lambda u: u.create_trade(trade_data(id=existing.id)), DuplicateError),
        (lambda u: u.heartbeat("no_such_bot"), NotFoundError),
        # Checked against the unit's own earlier write: the close just before it.
        (lambda u: u.update_trade(existing.id, {"status": "open"}), LifecycleError),
    ]
    for make_it_fail, error in failing:
        with pytest.raises(error):
            async with repo.atomic() as unit:
                unit.close_trade(existing.id, {"exit_price": "2"})  # would move the balance
                unit.create_trade(trade_data())
                make_it_fail(unit)
        assert await _snapshot(repo.store) == before, error


async def test_bad_input_is_refused_at_the_call(repo: TradeRepository, bot: str) -> None:
    async with repo.atomic() as unit:
        with pytest.raises(InvalidDataError) as caught:
            unit.create_trade(trade_data(entry_price="-1"))
        assert [e.field for e in caught.value.errors] == ["entry_price"]
        kept = unit.create_trade(trade_data())
    # The refused call recorded nothing; the rest of the block committed.
    assert await rows_in(repo.store) == 1
    assert await repo.get_trade_by_id(kept.id) == kept
    with pytest.raises(AsyncStoreError, match="used once"):
        async with unit:
            pass
    with pytest.raises(AsyncStoreError, match="has ended"):
        unit.create_trade(trade_data())


async def test_a_bot_scoped_unit_touches_its_bot_only(repo: TradeRepository, bot: str) -> None:
    await repo.create_bot_instance({"id": "other", "type": "paper"})
    theirs = await repo.create_trade(trade_data(bot_id="other", entry_price="1", size="1"))
    mine = repo.for_bot(BOT_ID)
    with pytest.raises(NotFoundError):
        async with mine.atomic() as unit:
            unit.create_trade(trade_data())
            unit.close_trade(theirs.id, {"exit_price": "2"})
    async with mine.atomic() as unit:
        with pytest.raises(InvalidDataError):
            unit.create_trade(trade_data(bot_id="other"))
        with pytest.raises(InvalidDataError):
            unit.heartbeat("other")
    assert await rows_in(repo.store) == 1


async def test_300_concurrent_units_each_all_or_nothing(repo: TradeRepository, bot: str) -> None:
    """300 units at once, every third one failing at its last write: exactly the others
    committed, each with all of its writes, and the bot's books match its closed trades."""
    opened = [
        await repo.create_trade(trade_data(entry_time=T0, entry_price="100", size="1"))
        for _ in range(300)
    ]

    async def unit_of_work(n: int) -> str:
        async with repo.atomic() as unit:
            follow_up = unit.create_trade(trade_data(entry_time=T0, extra_metadata={"n": n}))
            unit.close_trade(opened[n].id, {"exit_price": f"{100 + n % 9}"})
            unit.heartbeat(BOT_ID)
            if n % 3 == 0:
                unit.update_trade("0190d3a0-0000-7000-8000-000000000000", {"exit_reason": "x"})
        return follow_up.id

    outcomes = await asyncio.gather(*(unit_of_work(n) for n in range(300)), return_exceptions=True)
    failed = [n for n, o in enumerate(outcomes) if isinstance(o, NotFoundError)]
    assert failed == list(range(0, 300, 3)), outcomes[:3]
    committed = {o for o in outcomes if isinstance(o, str)}
    assert len(committed) == 200
    rows = await repo.store.fetch_all("SELECT id, status, net_pnl FROM trades")
    follow_ups = {row[0] for row in rows} - {t.id for t in opened}
    assert follow_ups == committed
    closed = {row[0]: Decimal(row[2]) for row in rows if row[1] == "closed"}
    assert set(closed) == {opened[n].id for n in range(300) if n % 3}
    stored_bot = await repo.get_bot_instance(BOT_ID)
    assert stored_bot is not None
    assert stored_bot.total_pnl == sum(closed.values())
    assert stored_bot.current_balance == Decimal("1000") + sum(closed.values())
