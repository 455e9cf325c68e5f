"""A bot-scoped repository cannot read or change another bot's rows by mistake."""

from __future__ import annotations

import pytest

from asyncstore import InvalidDataError, NotFoundError, TradeRepository
from tests.conftest import BOT_ID, trade_data


async def test_cross_bot_access_is_refused(repo: TradeRepository, bot: str) -> None:
    await repo.create_bot_instance({"id": "other", "type": "live"})
    mine = repo.for_bot(BOT_ID)
    theirs = await repo.create_trade(trade_data(bot_id="other"))

    own = await mine.create_trade({k: v for k, v in trade_data().items() if k != "bot_id"})
    assert own.bot_id == BOT_ID
    with pytest.raises(InvalidDataError, match="bot_id: 'other' is not this repository's bot"):
        await mine.create_trade(trade_data(bot_id="other"))
    with pytest.raises(NotFoundError):
        await mine.update_trade(theirs.id, {"status": "closed", "exit_price": "51000"})
    assert (await repo.get_trade_by_id(theirs.id)) == theirs  # untouched
    assert await mine.get_trade_by_id(theirs.id) is None
    assert [t.id for t in await mine.get_open_trades()] == [own.id]
    assert (await mine.get_trade_summary())["total_trades"] == 1
    with pytest.raises(InvalidDataError, match="bot_id"):
        await mine.bulk_create_trades([trade_data(), trade_data(bot_id="other")])
    with pytest.raises(InvalidDataError, match="bot_id"):
        await mine.create_performance_metrics({"bot_id": "other", "sharpe_ratio": 1})
    assert len(await repo.get_open_trades(bot_id="other")) == 1


async def test_scoped_writes_and_reads_work(repo: TradeRepository, bot: str) -> None:
    mine = repo.for_bot(BOT_ID)
    trade = await mine.create_trade(trade_data())
    closed = await mine.update_trade(
        trade.id, {"status": "closed", "exit_price": "51000", "net_pnl": "2.5"}
    )
    assert closed.net_pnl == 2.5 and [t.id for t in await mine.get_closed_trades()] == [trade.id]
    assert await mine.bulk_create_trades(row for row in [trade_data(), trade_data()]) == 2
    await mine.heartbeat()
    assert (await mine.get_bot_instance()).last_heartbeat is not None  # type: ignore[union-attr]
    metrics = await mine.calculate_performance_metrics(starting_balance=100)
    assert metrics.bot_id == BOT_ID and metrics.total_trades == 1
    with pytest.raises(InvalidDataError):
        repo.for_bot("")
