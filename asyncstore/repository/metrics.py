"""Performance metrics rows: stored as given, or computed from a bot's closed trades."""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

from asyncstore.clock import utc_now
from asyncstore.errors import NotFoundError, UnreadableRowError
from asyncstore.ids import new_id
from asyncstore.repository.bots import get_bot_instance
from asyncstore.repository.changes import Data
from asyncstore.repository.performance import ClosedTrade, compute_metrics
from asyncstore.repository.records import from_values
from asyncstore.repository.trades import get_trades_with_status
from asyncstore.schema.codec import TableCodec
from asyncstore.schema.records import (
    PerformanceMetricsCreate,
    PerformanceMetricsRecord,
    TradeRecord,
)
from asyncstore.schema.tables import METRICS
from asyncstore.schema.validation import validate, validate_money
from asyncstore.store import Store
from asyncstore.types import DECIMAL_CONTEXT, ExactDecimal, quantum
from asyncstore.writes import InsertRows

__all__ = ["calculate_performance_metrics", "create_performance_metrics"]

METRICS_CODEC = TableCodec(METRICS)


def _fits(column: str, value: Any) -> bool:
    """Whether a computed figure, rounded to its DECIMAL column's scale, fits that column."""
    type_ = METRICS.c[column].type
    if value is None or not isinstance(type_, ExactDecimal):
        return True
    rounded = Decimal(value).quantize(quantum(type_.scale), context=DECIMAL_CONTEXT)
    return rounded.is_zero() or rounded.adjusted() < type_.precision - type_.scale


async def create_performance_metrics(store: Store, data: Data) -> PerformanceMetricsRecord:
    metrics = validate(
        PerformanceMetricsCreate,
        data,
        "performance metrics",
        round_decimals=store.settings.round_decimals,
    )
    return await _insert(store, metrics)


async def calculate_performance_metrics(
    store: Store, bot_id: Any, starting_balance: Any = None
) -> PerformanceMetricsRecord:
    bot = await get_bot_instance(store, bot_id)
    if bot is None:
        raise NotFoundError(f"no bot instance {bot_id!r} exists")
    start: Decimal | None = None
    if starting_balance is not None:
        start = validate_money("starting_balance", starting_balance)
    closed = await get_trades_with_status(store, "closed", bot.id, None, limit=None)
    # Creation order first, then a stable sort by exit: ties in exit_time keep creation order.
    trades = sorted(map(_closed_trade, closed), key=lambda trade: trade.exited_at)
    if start is None and bot.current_balance is not None:
        balance = _finite("bot_instances", bot.id, "current_balance", bot.current_balance)
        with localcontext(DECIMAL_CONTEXT):  # exact whatever the caller's context
            start = balance - sum((t.net_pnl for t in trades), Decimal(0))
    figures = compute_metrics(trades, start)
    overflow = [name for name, value in figures.items() if not _fits(name, value)]
    values = {name: value for name, value in figures.items() if name not in overflow}
    values.update(bot_id=bot.id, extra_metadata={"overflow": overflow} if overflow else None)
    metrics = validate(PerformanceMetricsCreate, values, "performance metrics", round_decimals=True)
    return await _insert(store, metrics)


def _closed_trade(trade: TradeRecord) -> ClosedTrade:
    net_pnl = Decimal(0) if trade.net_pnl is None else trade.net_pnl
    exited_at = trade.exit_time or trade.created_at
    return ClosedTrade(exited_at, _finite("trades", trade.id, "net_pnl", net_pnl))


def _finite(table: str, row_id: str, column: str, value: Decimal) -> Decimal:
    """Stored rows are trusted, but a NaN (PostgreSQL's NUMERIC holds one; another tool may
    write one) cannot be summed or compared: name where it is instead of a bare InvalidOperation."""
    if not value.is_finite():
        raise UnreadableRowError(
            f"{table} row {row_id!r}, column {column}: the stored value {value} cannot enter "
            "the performance metrics"
        )
    return value


async def _insert(store: Store, metrics: PerformanceMetricsCreate) -> PerformanceMetricsRecord:
    now = utc_now()
    values = {
        **metrics.__dict__,
        "id": metrics.id or new_id(),
        "calculated_at": metrics.calculated_at or now,
        "created_at": now,
    }
    subject = f"performance metrics {values['id']} (bot_id {metrics.bot_id!r})"
    await store.submit(InsertRows(METRICS, [METRICS_CODEC.encode(values)], subject))
    return from_values(PerformanceMetricsRecord, values)
