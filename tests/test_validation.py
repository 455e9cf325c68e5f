"""Bad input: a clear error naming the field and the reason, and nothing written."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from asyncstore import InvalidDataError, Store, TradeRepository
from tests.conftest import BOT_ID, rows_in, trade_data

BAD_TRADES: list[tuple[dict[str, Any], str, str]] = [
    ({"trade_type": "swing"}, "trade_type", "'paper', 'live' or 'optimization'"),
    ({"direction": "up"}, "direction", "'long' or 'short'"),
    ({"status": "pending"}, "status", "'open', 'closed' or 'cancelled'"),
    ({"entry_price": "abc"}, "entry_price", "valid decimal"),
    ({"entry_price": float("nan")}, "entry_price", "finite"),
    ({"entry_price": "Infinity"}, "entry_price", "finite"),
    ({"entry_price": True}, "entry_price", "Decimal"),
    ({"entry_price": "1.123456789"}, "entry_price", "more than 8 decimal places"),
    ({"entry_price": "1234567890123"}, "entry_price", "more than 12 digits"),
    ({"entry_price": -1}, "entry_price", "greater than or equal to 0"),
    ({"pnl_percentage": "1.23456"}, "pnl_percentage", "DECIMAL(10,4)"),
    ({"entry_time": datetime(2024, 1, 1)}, "entry_time", "timezone"),
    ({"exit_time": "2024-01-01T10:00:00"}, "exit_time", "timezone"),
    ({"symbol": "X" * 21}, "symbol", "at most 20 characters"),
    ({"symbol": ""}, "symbol", "at least 1 character"),
    ({"interval": 60}, "interval", "valid string"),
    ({"exit_prise": 1}, "exit_prise", "unknown field"),
    ({"id": "trade-1"}, "id", "'trade-1' is not a UUID"),
    ({"extra_metadata": {"x": float("inf")}}, "extra_metadata", "not valid JSON"),
    ({"extra_metadata": {"when": datetime.now()}}, "extra_metadata.when", "JSON"),
]


@pytest.mark.parametrize(("override", "field", "reason"), BAD_TRADES)
async def test_bad_trade_field_is_named_and_nothing_written(
    repo: TradeRepository,
    bot: str,
    db_path: Path,
    override: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    with pytest.raises(InvalidDataError) as caught:
        await repo.create_trade(trade_data(**override))
    assert [error.field for error in caught.value.errors] == [field]
    assert reason in str(caught.value), str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert await rows_in(repo.store) == 0


@pytest.mark.parametrize(
    "missing",
    [
        "bot_id",
        "trade_type",
        "entry_logic_name",
        "exit_logic_name",
        "symbol",
        "interval",
        "direction",
    ],
)
async def test_missing_required_field(
    repo: TradeRepository, bot: str, db_path: Path, missing: str
) -> None:
    data = trade_data()
    del data[missing]
    with pytest.raises(InvalidDataError, match=rf"{missing}: Field required"):
        await repo.create_trade(data)
    assert await rows_in(repo.store) == 0


async def test_every_bad_field_is_reported_at_once(repo: TradeRepository, bot: str) -> None:
    with pytest.raises(InvalidDataError) as caught:
        await repo.create_trade(trade_data(direction="up", size="x", symbol=None))
    assert {e.field for e in caught.value.errors} == {"direction", "size", "symbol"}


async def test_not_a_mapping(repo: TradeRepository, bot: str) -> None:
    with pytest.raises(InvalidDataError, match="valid dictionary"):
        await repo.create_trade(["BTCUSDT"])  # type: ignore[arg-type]


async def test_bad_update_changes_nothing(repo: TradeRepository, bot: str) -> None:
    trade = await repo.create_trade(trade_data())
    for bad, field in [
        ({"status": None}, "status"),
        ({"status": "won"}, "status"),
        ({"net_pnl": "0.000000001"}, "net_pnl"),
        ({"bot_id": "other"}, "bot_id"),
        ({"id": trade.id}, "id"),
        ({"exit_time": datetime(2024, 1, 1)}, "exit_time"),
    ]:
        with pytest.raises(InvalidDataError) as caught:
            await repo.update_trade(trade.id, bad)
        assert [e.field for e in caught.value.errors] == [field]
    with pytest.raises(InvalidDataError, match="no fields to update"):
        await repo.update_trade(trade.id, {})
    assert await repo.get_trade_by_id(trade.id) == trade


async def test_bad_bot_instance(repo: TradeRepository, db_path: Path) -> None:
    for bad, field in [
        ({"id": "b", "type": "demo"}, "type"),
        ({"id": "", "type": "paper"}, "id"),
        ({"id": "b", "type": "paper", "status": "paused"}, "status"),
        ({"id": "b", "type": "paper", "current_balance": "1e30"}, "current_balance"),
        ({"type": "paper"}, "id"),
    ]:
        with pytest.raises(InvalidDataError) as caught:
            await repo.create_bot_instance(bad)
        assert [e.field for e in caught.value.errors] == [field]
    assert await rows_in(repo.store, "bot_instances") == 0
    await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
    with pytest.raises(InvalidDataError, match="status: may not be null"):
        await repo.update_bot_instance(BOT_ID, {"status": None})


async def test_bad_metrics(repo: TradeRepository, bot: str, db_path: Path) -> None:
    for bad, field in [
        ({"win_rate": 101}, "win_rate"),
        ({"win_rate": "65.001"}, "win_rate"),
        ({"total_trades": -1}, "total_trades"),
        ({"total_trades": True}, "total_trades"),
        ({"total_trades": 2**31}, "total_trades"),  # PostgreSQL's INTEGER is 32-bit
        ({"losing_trades": 2**63}, "losing_trades"),  # SQLite's is 64-bit (found by fuzzing)
        ({"sharpe_ratio": "1234567.1"}, "sharpe_ratio"),
    ]:
        with pytest.raises(InvalidDataError) as caught:
            await repo.create_performance_metrics({"bot_id": BOT_ID, **bad})
        assert [e.field for e in caught.value.errors] == [field]
    assert await rows_in(repo.store, "performance_metrics") == 0


async def test_round_decimals_option_rounds_half_even(db_url: str) -> None:
    async with Store(db_url, round_decimals=True) as store:
        await store.create_tables()
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        trade = await repo.create_trade(
            trade_data(entry_price="1.000000005", size="1.000000015", pnl_percentage="0.12345")
        )
        assert trade.entry_price == __import__("decimal").Decimal("1.00000000")
        assert str(trade.size) == "1.00000002"
        assert str(trade.pnl_percentage) == "0.1234"
        assert await repo.get_trade_by_id(trade.id) == trade
        with pytest.raises(InvalidDataError, match="more than 12 digits"):
            await repo.create_trade(trade_data(entry_price="1234567890123"))


async def test_managed_columns_say_why_they_are_refused(repo: TradeRepository, bot: str) -> None:
    trade = await repo.create_trade(trade_data())
    with pytest.raises(InvalidDataError, match="bot_id: cannot be changed once the trade exists"):
        await repo.update_trade(trade.id, {"bot_id": "other"})
    with pytest.raises(InvalidDataError, match="created_at: set by asyncstore"):
        await repo.create_trade(trade.model_dump())  # a record passed back in


async def test_nul_characters_are_refused_on_both_backends(repo: TradeRepository, bot: str) -> None:
    # PostgreSQL text and JSON cannot hold NUL: refused up front, naming the field, everywhere.
    for data, field in [
        (trade_data(symbol="BTC\x00"), "symbol"),
        (trade_data(extra_metadata={"note": "a\x00b"}), "extra_metadata"),
    ]:
        with pytest.raises(InvalidDataError) as caught:
            await repo.create_trade(data)
        assert [e.field for e in caught.value.errors] == [field]
    assert await rows_in(repo.store) == 0


BAD_READ_FILTERS: list[tuple[str, dict[str, Any], str, str]] = [
    ("get_open_trades", {"bot_id": "bot\x00"}, "bot_id", "NUL"),
    ("get_open_trades", {"bot_id": 7}, "bot_id", "valid string"),
    ("get_open_trades", {"symbol": "X" * 21}, "symbol", "at most 20 characters"),
    ("get_closed_trades", {"symbol": "BTC\x00"}, "symbol", "NUL"),
    ("get_closed_trades", {"limit": -1}, "limit", "greater than or equal to 0"),
    ("get_closed_trades", {"limit": "2"}, "limit", "valid integer"),
    ("get_closed_trades", {"limit": True}, "limit", "valid integer"),
    ("get_closed_trades", {"limit": 2**63}, "limit", "less than or equal to"),
    ("get_bot_instances", {"status": "runing"}, "status", "'running', 'stopped' or 'error'"),
    ("get_bot_instance", {"bot_id": ""}, "bot_id", "at least 1 character"),
    ("get_trade_summary", {"bot_id": "x" * 256}, "bot_id", "at most 255 characters"),
]


@pytest.mark.parametrize(("method", "arguments", "field", "reason"), BAD_READ_FILTERS)
async def test_bad_read_filter_is_named_alike_on_both_backends(
    repo: TradeRepository, bot: str, method: str, arguments: dict[str, Any], field: str, reason: str
) -> None:
    # Without this check the same call gave [] on SQLite and a driver error on PostgreSQL.
    await repo.update_trade(
        (await repo.create_trade(trade_data())).id, {"status": "closed", "exit_price": "51000"}
    )
    with pytest.raises(InvalidDataError) as caught:
        await getattr(repo, method)(**arguments)
    assert [e.field for e in caught.value.errors] == [field]
    assert reason in str(caught.value)


async def test_good_read_filters_still_work(repo: TradeRepository, bot: str) -> None:
    for _ in range(3):
        await repo.update_trade(
            (await repo.create_trade(trade_data())).id, {"status": "closed", "exit_price": "51000"}
        )
    assert len(await repo.get_closed_trades(bot_id=BOT_ID, symbol="BTCUSDT", limit=2)) == 2
    assert await repo.get_closed_trades(limit=0) == []
    assert await repo.get_open_trades(bot_id="no_such_bot") == []
    assert [b.id for b in await repo.get_bot_instances(status="running")] == [BOT_ID]
    assert (await repo.get_trade_summary(bot_id=BOT_ID))["closed_trades"] == 3
