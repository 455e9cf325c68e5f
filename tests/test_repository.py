"""The spec's repository examples, made async, plus what each call promises."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from asyncstore import (
    BotInstanceRecord,
    DuplicateError,
    ForeignKeyError,
    NotFoundError,
    TradeCreate,
    TradeRecord,
    TradeRepository,
)
from tests.conftest import BOT_ID, trade_data


async def test_spec_trade_lifecycle(repo: TradeRepository, bot: str) -> None:
    trade = await repo.create_trade(trade_data())
    assert isinstance(trade, TradeRecord)
    assert len(trade.id) == 36 and trade.status == "open"
    assert trade.entry_price == Decimal("50000") and trade.size == Decimal("0.1")

    updated = await repo.update_trade(
        trade.id,
        {
            "exit_time": datetime.now(UTC),
            "exit_price": 51000.0,
            "status": "closed",
            "net_pnl": 100.0,
        },
    )
    assert updated.status == "closed" and updated.net_pnl == Decimal("100")
    assert updated.updated_at >= trade.updated_at and updated.created_at == trade.created_at

    assert await repo.get_open_trades(bot_id=BOT_ID) == []
    closed = await repo.get_closed_trades(symbol="BTCUSDT")
    assert [t.id for t in closed] == [trade.id]
    assert closed[0] == updated == await repo.get_trade_by_id(trade.id)


async def test_record_from_create_equals_record_read_back(repo: TradeRepository, bot: str) -> None:
    trade = await repo.create_trade(
        trade_data(extra_metadata={"signal": {"rsi": 28.5, "bands": [1, 2]}}, strategy_name="s")
    )
    assert await repo.get_trade_by_id(trade.id) == trade


async def test_spec_bot_instance_management(repo: TradeRepository) -> None:
    bot = await repo.create_bot_instance(
        {
            "id": BOT_ID,
            "type": "paper",
            "config_file": "config.json",
            "status": "running",
            "current_balance": 1000.0,
        }
    )
    assert isinstance(bot, BotInstanceRecord)
    assert bot.started_at is not None  # a running bot's start defaults to now
    updated = await repo.update_bot_instance(
        BOT_ID, {"status": "stopped", "current_balance": 1050.0}
    )
    assert updated.status == "stopped" and updated.current_balance == Decimal("1050")
    assert await repo.get_bot_instance(BOT_ID) == updated
    assert await repo.get_bot_instance("nobody") is None


async def test_create_bot_on_existing_id_is_duplicate(repo: TradeRepository, bot: str) -> None:
    with pytest.raises(DuplicateError, match=BOT_ID):
        await repo.create_bot_instance({"id": BOT_ID, "type": "live"})
    assert (await repo.get_bot_instance(BOT_ID)).type == "paper"  # type: ignore[union-attr]


async def test_spec_performance_metrics(repo: TradeRepository, bot: str) -> None:
    metrics = await repo.create_performance_metrics(
        {
            "bot_id": BOT_ID,
            "sharpe_ratio": 1.5,
            "win_rate": 65.0,
            "profit_factor": 2.1,
            "total_trades": 100,
            "winning_trades": 65,
        }
    )
    assert metrics.sharpe_ratio == Decimal("1.5") and metrics.win_rate == Decimal("65")
    assert metrics.profit_factor == Decimal("2.1") and metrics.total_trades == 100
    assert metrics.calculated_at is not None and len(metrics.id) == 36


async def test_metrics_for_unknown_bot_is_foreign_key_error(repo: TradeRepository) -> None:
    with pytest.raises(ForeignKeyError):
        await repo.create_performance_metrics({"bot_id": "ghost", "sharpe_ratio": 1})


async def test_update_unknown_trade_and_bot_are_not_found(repo: TradeRepository, bot: str) -> None:
    with pytest.raises(NotFoundError):
        await repo.update_trade(
            "01900000-0000-7000-8000-000000000000", {"status": "closed", "exit_price": "51000"}
        )
    with pytest.raises(NotFoundError):
        await repo.update_trade("not-a-uuid", {"status": "closed", "exit_price": "51000"})
    with pytest.raises(NotFoundError):
        await repo.update_bot_instance("ghost", {"status": "stopped"})
    assert await repo.get_trade_by_id("not-a-uuid") is None


async def test_heartbeat_stamps_bot_and_unknown_bot_is_not_found(
    repo: TradeRepository, bot: str
) -> None:
    at = await repo.heartbeat(BOT_ID)
    record = await repo.get_bot_instance(BOT_ID)
    assert record is not None and record.last_heartbeat == at and record.updated_at == at
    with pytest.raises(NotFoundError, match="ghost"):
        await repo.heartbeat("ghost")


async def test_trade_for_unknown_bot_is_foreign_key_error(repo: TradeRepository, bot: str) -> None:
    with pytest.raises(ForeignKeyError, match="ghost"):
        await repo.create_trade(trade_data(bot_id="ghost"))
    assert await repo.get_open_trades() == []


async def test_caller_chosen_trade_id_and_duplicate(repo: TradeRepository, bot: str) -> None:
    trade_id = "0190A3C1-0000-7000-8000-00000000ABCD"
    trade = await repo.create_trade(trade_data(id=trade_id))
    assert trade.id == trade_id.lower()
    with pytest.raises(DuplicateError):
        await repo.create_trade(trade_data(id=trade_id))
    assert len(await repo.get_open_trades()) == 1


async def test_accepts_pydantic_models(repo: TradeRepository, bot: str) -> None:
    trade = await repo.create_trade(TradeCreate.model_validate(trade_data()))

    class CloseTrade(BaseModel):
        status: str = "open"
        exit_price: float | None = None
        exit_reason: str | None = None

    # Like a PATCH: only the fields set on the model count; defaults left alone change nothing.
    closed = await repo.update_trade(trade.id, CloseTrade(status="closed", exit_price=51000.5))
    assert closed.status == "closed" and closed.exit_price == Decimal("51000.5")
    assert closed.entry_price == trade.entry_price


async def test_open_and_closed_filters(repo: TradeRepository, bot: str) -> None:
    await repo.create_bot_instance({"id": "other", "type": "live"})
    mine_btc = await repo.create_trade(trade_data())
    mine_eth = await repo.create_trade(trade_data(symbol="ETHUSDT"))
    theirs = await repo.create_trade(trade_data(bot_id="other"))
    cancelled = await repo.create_trade(trade_data(status="cancelled"))

    assert [t.id for t in await repo.get_open_trades(bot_id=BOT_ID)] == [mine_btc.id, mine_eth.id]
    assert [t.id for t in await repo.get_open_trades(symbol="ETHUSDT")] == [mine_eth.id]
    assert [t.id for t in await repo.get_open_trades(bot_id="other")] == [theirs.id]
    assert cancelled.id not in {t.id for t in await repo.get_closed_trades()}

    for trade in (mine_btc, mine_eth, theirs):
        await repo.update_trade(trade.id, {"status": "closed", "exit_price": "51000"})
    assert [t.id for t in await repo.get_closed_trades(bot_id=BOT_ID, symbol="BTCUSDT")] == [
        mine_btc.id
    ]
    newest = await repo.get_closed_trades(limit=2)
    assert [t.id for t in newest] == [mine_eth.id, theirs.id]


async def test_trade_summary_counts_and_exact_pnl(repo: TradeRepository, bot: str) -> None:
    pnls = ["0.10000001", "0.20000002", "-0.05", "123456789012.12345678", "-0.00000001", None]
    for pnl in pnls:
        trade = await repo.create_trade(trade_data())
        await repo.update_trade(
            trade.id, {"status": "closed", "exit_price": "51000", "net_pnl": pnl}
        )
    await repo.create_trade(trade_data())  # open
    await repo.create_trade(trade_data(status="cancelled", net_pnl="5"))

    summary = await repo.get_trade_summary()
    assert dict(summary) == {
        "total_trades": 8,
        "open_trades": 1,
        "closed_trades": 6,
        "cancelled_trades": 1,
        "winning_trades": 3,
        "losing_trades": 2,
        "total_net_pnl": sum(Decimal(p) for p in pnls if p is not None),
    }
    assert summary["total_net_pnl"] == Decimal("123456789012.37345680")
    assert (await repo.get_trade_summary(bot_id="nobody"))["total_trades"] == 0
    assert (await repo.get_trade_summary(bot_id="nobody"))["total_net_pnl"] == 0


async def test_update_trade_clears_nullable_field(repo: TradeRepository, bot: str) -> None:
    trade = await repo.create_trade(trade_data(exit_reason="tp"))
    cleared = await repo.update_trade(trade.id, {"exit_reason": None})
    assert cleared.exit_reason is None


async def test_records_are_whole_frozen_pydantic_models(repo: TradeRepository, bot: str) -> None:
    """Records are built without validating again (values already validated, or stored); they
    must still be complete pydantic models: every field set, equal to a validated copy, frozen,
    dumpable and copyable."""
    created = await repo.create_trade(trade_data(extra_metadata={"rsi": 28.5}))
    read = await repo.get_trade_by_id(created.id)
    bot_record = await repo.get_bot_instance(BOT_ID)
    assert read is not None and bot_record is not None
    for record in (created, read, bot_record):
        model = type(record)
        assert record.model_fields_set == set(model.model_fields)
        assert model.model_validate(record.model_dump()) == record
        assert record.model_copy(update={"status": "stopped"}).status == "stopped"
        with pytest.raises(ValidationError):
            record.status = "closed"  # type: ignore[misc]
    assert read == created
