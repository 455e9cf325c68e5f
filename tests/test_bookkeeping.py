"""close_trade's PnL and the bot's books, and the lifecycle rules, on both backends.

Every figure below is worked by hand (exact Decimal), not recomputed with asyncstore's formulas.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Context, Decimal, localcontext
from typing import Any

import pytest

from asyncstore import (
    InvalidDataError,
    LifecycleError,
    NotFoundError,
    Store,
    TradeRecord,
    TradeRepository,
)
from tests.conftest import BOT_ID, trade_data

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _bot(repo: TradeRepository, bot_id: str, balance: str | None) -> None:
    data: dict[str, Any] = {"id": bot_id, "type": "live"}
    if balance is not None:
        data["current_balance"] = balance
    await repo.create_bot_instance(data)


async def _open(repo: TradeRepository, bot_id: str = BOT_ID, **fields: Any) -> TradeRecord:
    return await repo.create_trade(trade_data(bot_id=bot_id, entry_time=T0, **fields))


async def test_long_close_worked_by_hand(repo: TradeRepository) -> None:
    await _bot(repo, BOT_ID, "1000")
    trade = await _open(repo, entry_price="50000.1", size="0.01", direction="long")
    assert trade.entry_value == Decimal("500.001")  # filled in: 50000.1 × 0.01
    closed = await repo.close_trade(
        trade.id, {"exit_price": "50010.5", "commission": "0.1", "exit_reason": "take profit"}
    )
    assert closed.status == "closed" and closed.exit_reason == "take profit"
    assert closed.exit_price == Decimal("50010.5")
    assert closed.exit_value == Decimal("500.105")  # 50010.5 × 0.01
    assert closed.gross_pnl == Decimal("0.104")  # (50010.5 − 50000.1) × 0.01
    assert closed.net_pnl == Decimal("0.004")  # 0.104 − 0.1: exact, no float residue
    # 0.004 / 500.001 × 100 = 0.000799998…, half-even to DECIMAL(10,4)
    assert closed.pnl_percentage == Decimal("0.0008")
    assert closed.commission == Decimal("0.1")
    assert closed.exit_time is not None and closed.exit_time >= trade.entry_time  # type: ignore[operator]
    bot = await repo.get_bot_instance(BOT_ID)
    assert bot is not None
    assert bot.current_balance == Decimal("1000.004")
    assert bot.total_pnl == Decimal("0.004")  # NULL counted as 0
    assert await repo.get_trade_by_id(trade.id) == closed


async def test_short_close_worked_by_hand(repo: TradeRepository) -> None:
    await _bot(repo, BOT_ID, None)  # no balance: it stays NULL, total_pnl still moves
    trade = await _open(repo, entry_price="2000", size="1.5", direction="short", commission="0.5")
    when = T0 + timedelta(hours=3)
    closed = await repo.close_trade(
        trade.id, {"exit_price": "1900.25", "exit_time": when, "commission": "1.2345"}
    )
    assert closed.exit_time == when
    assert closed.entry_value == Decimal("3000")
    assert closed.exit_value == Decimal("2850.375")
    assert closed.gross_pnl == Decimal("149.625")  # (2000 − 1900.25) × 1.5
    assert closed.net_pnl == Decimal("148.3905")  # the commission given replaces 0.5
    # 148.3905 / 3000 × 100 = 4.94635 exactly: a tie, half-even keeps the even 4.9464
    assert closed.pnl_percentage == Decimal("4.9464")
    bot = await repo.get_bot_instance(BOT_ID)
    assert bot is not None and bot.current_balance is None
    assert bot.total_pnl == Decimal("148.3905")


async def test_losses_the_stored_commission_and_half_even_rounding(repo: TradeRepository) -> None:
    await _bot(repo, BOT_ID, "100")
    # A loss, with the commission stored on the trade (not given at close).
    loss = await _open(repo, entry_price="10", size="3", commission="0.03")
    closed = await repo.close_trade(loss.id, {"exit_price": "9.5"})
    assert (closed.gross_pnl, closed.net_pnl) == (Decimal("-1.5"), Decimal("-1.53"))
    assert closed.pnl_percentage == Decimal("-5.1")  # −1.53 / 30 × 100
    # (1.00000003 − 1) × 0.5 = 0.000000015: half-way, half-even rounds to …02 (even).
    tiny = await _open(repo, entry_price="1", size="0.5", entry_value="0.5")
    closed_tiny = await repo.close_trade(tiny.id, {"exit_price": "1.00000003"})
    assert closed_tiny.gross_pnl == Decimal("0.00000002")
    assert closed_tiny.net_pnl == Decimal("0.00000002")  # commission: none stored → 0
    assert closed_tiny.commission == 0
    # (1.00000001 − 1) × 0.5 = 0.000000005: half-way, half-even rounds to 0 (even).
    tinier = await _open(repo, entry_price="1", size="0.5")
    assert (await repo.close_trade(tinier.id, {"exit_price": "1.00000001"})).net_pnl == 0
    bot = await repo.get_bot_instance(BOT_ID)
    assert bot is not None
    assert bot.total_pnl == Decimal("-1.52999998")  # −1.53 + 0.00000002 + 0
    assert bot.current_balance == Decimal("98.47000002")


async def test_the_books_stay_exact_over_many_closes(repo: TradeRepository) -> None:
    await _bot(repo, BOT_ID, "10000")
    trades = [
        await _open(repo, entry_price=f"{100 + n}.125", size="0.333", direction=d)
        for n, d in enumerate(["long", "short"] * 20)
    ]
    closed = await asyncio.gather(
        *(
            repo.close_trade(t.id, {"exit_price": f"{101 + n % 7}.37", "commission": "0.0101"})
            for n, t in enumerate(trades)
        )
    )
    total = sum((c.net_pnl for c in closed if c.net_pnl is not None), Decimal(0))
    bot = await repo.get_bot_instance(BOT_ID)
    assert bot is not None
    assert bot.total_pnl == total
    assert bot.current_balance == Decimal("10000") + total


async def test_only_an_open_trade_is_closed_and_nothing_is_written(repo: TradeRepository) -> None:
    await _bot(repo, BOT_ID, "1000")
    trade = await _open(repo, entry_price="100", size="1")
    first = await repo.close_trade(trade.id, {"exit_price": "110"})
    with pytest.raises(LifecycleError) as again:
        await repo.close_trade(trade.id, {"exit_price": "120"})
    assert [e.field for e in again.value.errors] == ["status"]
    assert "the trade is closed" in str(again.value)
    cancelled = await _open(repo, entry_price="100", size="1", status="cancelled")
    with pytest.raises(LifecycleError, match="the trade is cancelled"):
        await repo.close_trade(cancelled.id, {"exit_price": "120"})
    assert await repo.get_trade_by_id(trade.id) == first
    bot = await repo.get_bot_instance(BOT_ID)
    assert bot is not None and bot.current_balance == Decimal("1010")  # moved once


async def test_close_refuses_bad_input_naming_the_field(repo: TradeRepository) -> None:
    await _bot(repo, BOT_ID, "1000")
    trade = await _open(repo, entry_price="100", size="1")
    cases: list[tuple[Any, str]] = [
        ({}, "exit_price"),
        ({"exit_price": None}, "exit_price"),
        ({"exit_price": "-1"}, "exit_price"),
        ({"exit_price": "1.123456789"}, "exit_price"),
        ({"exit_price": "1", "net_pnl": "5"}, "net_pnl"),  # computed, not given
        ({"exit_price": "1", "exit_time": datetime(2026, 3, 1)}, "exit_time"),  # naive
        ({"exit_price": "1", "exit_time": T0 - timedelta(seconds=1)}, "exit_time"),  # early
    ]
    for data, field in cases:
        with pytest.raises(InvalidDataError) as caught:
            await repo.close_trade(trade.id, data)
        assert field in [e.field for e in caught.value.errors], (data, caught.value)
    with pytest.raises(NotFoundError):
        await repo.close_trade("0190d3a0-0000-7000-8000-000000000000", {"exit_price": "1"})
    unpriced = await _open(repo, entry_price=None, size="1")
    with pytest.raises(LifecycleError) as no_entry:
        await repo.close_trade(unpriced.id, {"exit_price": "1"})
    assert [e.field for e in no_entry.value.errors] == ["entry_price"]
    assert (await repo.get_trade_by_id(trade.id)) == trade
    bot = await repo.get_bot_instance(BOT_ID)
    assert bot is not None and bot.current_balance == Decimal("1000") and bot.total_pnl is None


async def test_a_balance_too_large_for_its_column_refuses_the_whole_close(
    repo: TradeRepository,
) -> None:
    await _bot(repo, BOT_ID, "999999999999")
    trade = await _open(repo, entry_price="1", size="10")
    with pytest.raises(InvalidDataError) as caught:
        await repo.close_trade(trade.id, {"exit_price": "2"})  # +10 overflows DECIMAL(20,8)
    assert "current_balance" in [e.field for e in caught.value.errors]
    assert (await repo.get_trade_by_id(trade.id)) == trade  # the trade is still open


async def test_a_bot_scoped_repository_closes_its_own_trades_only(repo: TradeRepository) -> None:
    await _bot(repo, BOT_ID, "0")
    await _bot(repo, "other", "0")
    theirs = await _open(repo, bot_id="other", entry_price="1", size="1")
    mine = repo.for_bot(BOT_ID)
    with pytest.raises(NotFoundError):
        await mine.close_trade(theirs.id, {"exit_price": "2"})
    own = await mine.create_trade(trade_data(entry_time=T0, entry_price="1", size="1"))
    assert (await mine.close_trade(own.id, {"exit_price": "3"})).net_pnl == 2


# --- lifecycle rules ------------------------------------------------------------------------


async def test_every_lifecycle_refusal_names_its_field_and_writes_nothing(
    repo: TradeRepository,
) -> None:
    await _bot(repo, BOT_ID, "0")
    with pytest.raises(LifecycleError) as unpriced:
        await _open(repo, status="closed", exit_price=None)
    assert [e.field for e in unpriced.value.errors] == ["exit_price"]
    with pytest.raises(LifecycleError) as backwards:
        await _open(repo, exit_time=T0 - timedelta(minutes=1))
    assert [e.field for e in backwards.value.errors] == ["exit_time"]
    assert await repo.get_open_trades() == []

    trade = await _open(repo, entry_price="1", size="1")
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"status": "closed"}, "exit_price"),  # the stored trade has no exit price
        ({"exit_time": T0 - timedelta(seconds=1)}, "exit_time"),  # before the stored entry
        ({"entry_time": T0 + timedelta(days=1), "exit_time": T0 + timedelta(hours=1)}, "exit_time"),
    ]
    for changes, field in refusals:
        with pytest.raises(LifecycleError) as caught:
            await repo.update_trade(trade.id, changes)
        assert [e.field for e in caught.value.errors] == [field], changes
    assert await repo.get_trade_by_id(trade.id) == trade

    for final in ("closed", "cancelled"):
        done = await _open(repo, status=final, exit_price="2", exit_time=T0)
        with pytest.raises(LifecycleError) as reopened:
            await repo.update_trade(done.id, {"status": "open"})
        assert [e.field for e in reopened.value.errors] == ["status"]
        assert f"the trade is {final}" in str(reopened.value)
        other_final = "cancelled" if final == "closed" else "closed"
        with pytest.raises(LifecycleError) as switched:  # a booked close is never cancelled
            await repo.update_trade(done.id, {"status": other_final, "exit_price": "2"})
        assert [e.field for e in switched.value.errors] == ["status"]
        if final == "closed":
            with pytest.raises(LifecycleError):  # clearing a closed trade's exit price
                await repo.update_trade(done.id, {"exit_price": None})
        assert await repo.get_trade_by_id(done.id) == done
    # What the rules allow: closing by update with an exit price, a correction of a closed
    # trade, cancelling an open one.
    allowed = await repo.update_trade(trade.id, {"status": "closed", "exit_price": "1.5"})
    assert allowed.status == "closed"
    assert (await repo.update_trade(trade.id, {"commission": "0.01"})).commission == Decimal("0.01")
    other = await _open(repo)
    assert (await repo.update_trade(other.id, {"status": "cancelled"})).status == "cancelled"


async def test_bulk_insert_checks_the_rules_per_row(repo: TradeRepository) -> None:
    await _bot(repo, BOT_ID, "0")
    rows = [trade_data(entry_time=T0) for _ in range(10)]
    rows[7] = trade_data(entry_time=T0, status="closed", exit_price=None)
    with pytest.raises(LifecycleError) as caught:
        await repo.bulk_create_trades(rows)
    assert [e.field for e in caught.value.errors] == ["row 7.exit_price"]
    assert await repo.get_open_trades() == []


async def test_racing_closes_book_the_trade_once(db_url: str, repo: TradeRepository) -> None:
    """The rules are checked against the stored trade inside the writing transaction: two
    closes of one trade racing (two Stores: two writers, as two processes would be) book it
    once; the loser hears the trade is closed."""
    await _bot(repo, BOT_ID, "0")
    trades = [await _open(repo, entry_price="100", size="1") for _ in range(20)]
    outcomes: list[object] = []
    async with Store(db_url) as second:
        other = TradeRepository(second)
        for trade in trades:  # one close per Store at a time: each its own transaction
            outcomes += await asyncio.gather(
                repo.close_trade(trade.id, {"exit_price": "101"}),
                other.close_trade(trade.id, {"exit_price": "102"}),
                return_exceptions=True,
            )
    closed = [o for o in outcomes if isinstance(o, TradeRecord)]
    refused = [o for o in outcomes if isinstance(o, LifecycleError)]
    assert len(closed) == len(refused) == 20, outcomes
    bot = await repo.get_bot_instance(BOT_ID)
    assert bot is not None
    assert bot.total_pnl == bot.current_balance == sum(c.net_pnl or 0 for c in closed)


async def test_the_callers_decimal_context_does_not_change_the_books(db_url: str) -> None:
    """Bots set a low decimal precision for their own maths; the writer (on PostgreSQL a task
    that inherits the context) must not compute money in it."""
    with localcontext(Context(prec=8, rounding=ROUND_DOWN)):
        async with Store(db_url) as store:
            repo = TradeRepository(store)
            await repo.create_bot_instance(
                {"id": BOT_ID, "type": "live", "current_balance": "12345678.12345678"}
            )
            trade = await repo.create_trade(
                trade_data(entry_time=T0, entry_price="12345.67891234", size="0.12345678")
            )
            closed = await repo.close_trade(
                trade.id, {"exit_price": "12346.67891234", "commission": "0.00000001"}
            )
            bot = await repo.get_bot_instance(BOT_ID)
    assert closed.gross_pnl == Decimal("0.12345678")  # 1 × 0.12345678
    assert closed.net_pnl == Decimal("0.12345677")
    assert bot is not None
    assert bot.total_pnl == Decimal("0.12345677")
    assert bot.current_balance == Decimal("12345678.24691355")  # 16 digits: more than prec 8


async def test_a_refused_close_fails_alone_without_replaying_its_batch(
    repo: TradeRepository,
) -> None:
    """A refusal decided before the script wrote anything fails that call only: the group
    commit it met is not rolled back and run again (on PostgreSQL that replay would cost every
    other caller in the batch a transaction of its own)."""
    await _bot(repo, BOT_ID, "0")
    trade = await _open(repo, entry_price="1", size="1")
    await repo.close_trade(trade.id, {"exit_price": "2"})
    retried = repo.store.write_stats.retried_operations
    outcomes = await asyncio.gather(
        *(repo.heartbeat(BOT_ID) for _ in range(200)),
        repo.close_trade(trade.id, {"exit_price": "3"}),
        *(repo.heartbeat(BOT_ID) for _ in range(200)),
        return_exceptions=True,
    )
    assert [type(o) for o in outcomes].count(LifecycleError) == 1
    assert sum(isinstance(o, datetime) for o in outcomes) == 400
    assert repo.store.write_stats.retried_operations == retried
