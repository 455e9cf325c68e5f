"""Money is exact and time is UTC, to the last digit and microsecond, through the real file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncstore import TradeRepository
from tests.conftest import trade_data

money = st.decimals(
    min_value=Decimal("-999999999999.99999999"),
    max_value=Decimal("999999999999.99999999"),
    places=8,
    allow_nan=False,
    allow_infinity=False,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pnl=money, commission=money)
async def test_decimal_round_trips_exactly(
    repo: TradeRepository, bot: str, pnl: Decimal, commission: Decimal
) -> None:
    trade = await repo.create_trade(trade_data(net_pnl=pnl, commission=commission))
    stored = await repo.get_trade_by_id(trade.id)
    assert stored is not None
    assert stored.net_pnl == pnl and stored.commission == commission
    assert stored.net_pnl.as_tuple().exponent == -8  # type: ignore[union-attr]  # DECIMAL(20,8)


async def test_floats_convert_through_str(repo: TradeRepository, bot: str) -> None:
    trade = await repo.create_trade(trade_data(entry_price=50000.1, size=0.1, net_pnl=-0.3))
    stored = await repo.get_trade_by_id(trade.id)
    assert stored is not None
    assert stored.entry_price == Decimal("50000.1")  # not 50000.100000000005820766091346740722656
    assert stored.size == Decimal("0.1") and stored.net_pnl == Decimal("-0.3")


async def test_extremes_of_the_column(repo: TradeRepository, bot: str) -> None:
    for value in ["999999999999.99999999", "-999999999999.99999999", "0.00000001", "-0", "0"]:
        trade = await repo.create_trade(trade_data(net_pnl=value))
        stored = await repo.get_trade_by_id(trade.id)
        assert stored is not None and stored.net_pnl == Decimal(value)


@pytest.mark.sqlite_only  # reads the SQLite file itself
async def test_sqlite_stores_money_as_text_never_real(
    repo: TradeRepository, bot: str, db_path: Path
) -> None:
    await repo.create_trade(trade_data(entry_price="0.1", net_pnl="-0.00000001"))
    with sqlite3.connect(db_path) as conn:
        row = conn.execute(
            "SELECT typeof(entry_price), entry_price, typeof(net_pnl), net_pnl FROM trades"
        ).fetchone()
    conn.close()
    assert row == ("text", "0.10000000", "text", "-0.00000001")


async def test_times_are_converted_to_utc(repo: TradeRepository, bot: str) -> None:
    tokyo = timezone(timedelta(hours=9))
    entry = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=tokyo)
    trade = await repo.create_trade(
        trade_data(entry_time=entry, exit_time="2024-03-01T02:00:00-05:00")
    )
    # The record create_trade returns is in UTC already, equal to what is read back.
    assert trade.entry_time is not None and trade.entry_time.tzinfo is UTC
    assert trade.entry_time == entry and trade.entry_time.hour == 0
    assert trade.exit_time == datetime(2024, 3, 1, 7, 0, tzinfo=UTC)
    assert trade.exit_time is not None and trade.exit_time.tzinfo is UTC
    stored = await repo.get_trade_by_id(trade.id)
    assert stored == trade
    assert stored is not None and stored.entry_time is not None and stored.exit_time is not None
    assert stored.entry_time == entry
    assert stored.entry_time.tzinfo is UTC
    assert stored.entry_time.hour == 0 and stored.entry_time.microsecond == 123456
    assert stored.exit_time == datetime(2024, 3, 1, 7, 0, tzinfo=UTC)
    assert stored.created_at.tzinfo is UTC and stored.updated_at.tzinfo is UTC


@pytest.mark.sqlite_only  # reads the SQLite file itself
async def test_time_text_sorts_in_time_order(
    repo: TradeRepository, bot: str, db_path: Path
) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    instants = [base + timedelta(microseconds=n) for n in (0, 1, 999_999)]
    instants += [base + timedelta(days=d) for d in (1, 400)]
    for instant in reversed(instants):
        await repo.create_trade(trade_data(entry_time=instant))
    with sqlite3.connect(db_path) as conn:
        stored = [r[0] for r in conn.execute("SELECT entry_time FROM trades ORDER BY entry_time")]
    conn.close()
    assert [datetime.fromisoformat(s).replace(tzinfo=UTC) for s in stored] == instants


async def test_metadata_json_round_trip(repo: TradeRepository, bot: str) -> None:
    metadata = {"rsi": 28.123456789, "tags": ["a", "ü", None], "nested": {"n": 10**18, "ok": True}}
    trade = await repo.create_trade(trade_data(extra_metadata=metadata))
    stored = await repo.get_trade_by_id(trade.id)
    assert stored is not None and stored.extra_metadata == metadata
