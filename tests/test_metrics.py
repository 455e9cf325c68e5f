"""calculate_performance_metrics against hand-worked examples."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from asyncstore import NotFoundError, TradeRepository
from tests.conftest import BOT_ID, rows_in, trade_data


async def _close(
    repo: TradeRepository, when: datetime, pnl: str | None, bot_id: str = BOT_ID
) -> None:
    trade = await repo.create_trade(trade_data(bot_id=bot_id, entry_time=when))
    await repo.update_trade(
        trade.id, {"status": "closed", "exit_price": "51000", "exit_time": when, "net_pnl": pnl}
    )


async def _worked_example(repo: TradeRepository) -> None:
    """+100 and -50 on Jan 1, nothing on Jan 2, +30 and a trade without PnL on Jan 3."""
    await _close(repo, datetime(2024, 1, 3, 9, tzinfo=UTC), "30")
    await _close(repo, datetime(2024, 1, 1, 10, tzinfo=UTC), "100")
    await _close(repo, datetime(2024, 1, 1, 15, tzinfo=UTC), "-50")
    await _close(repo, datetime(2024, 1, 3, 12, tzinfo=UTC), None)
    await repo.create_trade(trade_data())  # open: not counted
    await repo.create_bot_instance({"id": "other", "type": "paper"})
    await _close(repo, datetime(2024, 1, 2, tzinfo=UTC), "-999", bot_id="other")  # not this bot


def _expected_sharpe() -> float:
    # End-of-day equity from a start of 1000: Jan 1 1050, Jan 2 1050, Jan 3 1080.
    returns = [Fraction(50, 1000), Fraction(0), Fraction(30, 1050)]
    return (
        float(statistics.mean(returns))
        / statistics.stdev([float(r) for r in returns])
        * math.sqrt(365)
    )


async def test_worked_example_with_explicit_start(repo: TradeRepository, bot: str) -> None:
    await _worked_example(repo)
    metrics = await repo.calculate_performance_metrics(BOT_ID, starting_balance=1000)
    assert metrics.bot_id == BOT_ID
    assert (metrics.total_trades, metrics.winning_trades, metrics.losing_trades) == (4, 2, 1)
    assert metrics.win_rate == Decimal("50.00")
    assert metrics.avg_win == Decimal("65") and metrics.avg_loss == Decimal("-50")
    assert metrics.largest_win == Decimal("100") and metrics.largest_loss == Decimal("-50")
    assert metrics.profit_factor == Decimal("2.6")
    assert metrics.total_return == Decimal("8")  # 1000 -> 1080
    assert metrics.max_drawdown == Decimal("4.5455")  # peak 1100 -> 1050, rounded half-even
    assert metrics.sharpe_ratio is not None
    assert abs(float(metrics.sharpe_ratio) - _expected_sharpe()) < 0.0001
    assert metrics.calculated_at is not None


async def test_default_start_is_balance_minus_closed_pnl(repo: TradeRepository, bot: str) -> None:
    await _worked_example(repo)
    await repo.update_bot_instance(BOT_ID, {"current_balance": "1080"})
    metrics = await repo.calculate_performance_metrics(BOT_ID)
    assert metrics.total_return == Decimal("8") and metrics.max_drawdown == Decimal("4.5455")


async def test_every_call_stores_a_new_row(repo: TradeRepository, bot: str, db_path: Path) -> None:
    await _worked_example(repo)
    first = await repo.calculate_performance_metrics(BOT_ID, starting_balance="1000")
    second = await repo.calculate_performance_metrics(BOT_ID, starting_balance="1000")
    assert first.id != second.id and first.sharpe_ratio == second.sharpe_ratio
    assert await rows_in(repo.store, "performance_metrics") == 2


async def test_no_closed_trades(repo: TradeRepository, bot: str) -> None:
    await repo.create_trade(trade_data())
    metrics = await repo.calculate_performance_metrics(BOT_ID)
    assert metrics.total_trades == 0
    for ratio in [
        "win_rate",
        "profit_factor",
        "sharpe_ratio",
        "max_drawdown",
        "total_return",
        "avg_win",
        "avg_loss",
        "largest_win",
        "largest_loss",
    ]:
        assert getattr(metrics, ratio) is None, ratio


async def test_no_losers_and_a_single_day(repo: TradeRepository, bot: str) -> None:
    await _close(repo, datetime(2024, 1, 1, 10, tzinfo=UTC), "10")
    await _close(repo, datetime(2024, 1, 1, 11, tzinfo=UTC), "20")
    metrics = await repo.calculate_performance_metrics(BOT_ID, starting_balance=100)
    assert (
        metrics.profit_factor is None and metrics.avg_loss is None and metrics.largest_loss is None
    )
    assert metrics.win_rate == 100 and metrics.avg_win == 15 and metrics.max_drawdown == 0
    assert metrics.total_return == 30
    assert metrics.sharpe_ratio is None  # fewer than two days


async def test_unknown_bot_and_bad_start(repo: TradeRepository, bot: str) -> None:
    with pytest.raises(NotFoundError):
        await repo.calculate_performance_metrics("ghost")
    from asyncstore import InvalidDataError

    with pytest.raises(InvalidDataError, match="starting_balance"):
        await repo.calculate_performance_metrics(BOT_ID, starting_balance="lots")


async def test_equal_daily_returns_have_no_sharpe(repo: TradeRepository, bot: str) -> None:
    # Start 9: +3 on day 1 and +4 on day 2 are both returns of exactly 1/3: zero deviation.
    await _close(repo, datetime(2024, 1, 1, tzinfo=UTC), "3")
    await _close(repo, datetime(2024, 1, 2, tzinfo=UTC), "4")
    metrics = await repo.calculate_performance_metrics(BOT_ID, starting_balance=9)
    assert metrics.sharpe_ratio is None and metrics.extra_metadata is None


async def test_callers_decimal_context_does_not_change_metrics(
    repo: TradeRepository, bot: str
) -> None:
    import decimal

    await _worked_example(repo)
    expected = await repo.calculate_performance_metrics(BOT_ID, starting_balance=1000)
    with decimal.localcontext() as ctx:
        ctx.prec = 6
        again = await repo.calculate_performance_metrics(BOT_ID, starting_balance=1000)
    assert (again.max_drawdown, again.total_return, again.sharpe_ratio) == (
        expected.max_drawdown,
        expected.total_return,
        expected.sharpe_ratio,
    )


async def test_ties_in_exit_time_go_in_creation_order_whatever_the_ids(
    repo: TradeRepository, bot: str
) -> None:
    """Two trades closed at the same instant, created in one bulk list (so in the same
    moment) with ids that sort the other way round: the equity curve follows creation order.
    Start 1000: +100 then -55 gives a peak of 1100 and a drawdown of 55/1100 = 5.0000 %;
    the other order (-55 first) would give 55/1000 = 5.5000 %."""
    exit_at = datetime(2024, 1, 5, 12, tzinfo=UTC)
    first_id, second_id = (
        "ffffffff-0000-7000-8000-000000000000",
        "00000000-0000-7000-8000-000000000000",
    )
    await repo.bulk_create_trades(
        [
            trade_data(id=first_id, status="closed", exit_time=exit_at, net_pnl="100"),
            trade_data(id=second_id, status="closed", exit_time=exit_at, net_pnl="-55"),
        ]
    )
    metrics = await repo.calculate_performance_metrics(BOT_ID, starting_balance=1000)
    assert metrics.max_drawdown == Decimal("5.0000")


async def test_exit_order_is_time_order_for_times_other_tools_wrote(tmp_path: Path) -> None:
    """The database sorts by the stored time text; text with an offset (written by another tool)
    sorts out of time order, and the metrics must still see the trades in time order."""
    import sqlite3

    from asyncstore import Store

    path = tmp_path / "other_tool.db"
    async with Store(f"sqlite+aiosqlite:///{path}") as store:
        await store.create_tables()
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        loss = await repo.create_trade(trade_data(status="closed", net_pnl="-100"))
        gain = await repo.create_trade(trade_data(status="closed", net_pnl="100"))
    conn = sqlite3.connect(path)
    with conn:  # 23:00 UTC written with its offset; sorts after 23:30 as text
        conn.execute(
            "UPDATE trades SET exit_time = '2024-01-02T01:00:00+02:00' WHERE id = ?", (loss.id,)
        )
        conn.execute(
            "UPDATE trades SET exit_time = '2024-01-01 23:30:00.000000' WHERE id = ?", (gain.id,)
        )
    conn.close()
    async with Store(f"sqlite+aiosqlite:///{path}") as store:
        figures = await TradeRepository(store).calculate_performance_metrics(
            BOT_ID, starting_balance="1000"
        )
    # In time order: 1000 -> 900 -> 1000, a 10 % drawdown (the text order would give 9.09 %).
    assert figures.max_drawdown == Decimal("10.0000")
