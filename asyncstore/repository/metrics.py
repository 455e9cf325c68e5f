"""Performance metrics rows: stored as given, or computed from a bot's closed trades."""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

from asyncstore.clock import utc_now
from asyncstore.errors import NotFoundError
from asyncstore.ids import new_id
from asyncstore.repository.bots import get_bot_instance
from asyncstore.repository.changes import Data
from asyncstore.repository.performance import ClosedTrade, compute_metrics
from asyncstore.repository.records import from_values
from asyncstore.repository.trades import get_trades_with_status
from asyncstore.schema.codec import TableCodec
from asyncstore.schema.records import PerformanceMetricsCreate, PerformanceMetricsRecord
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
    trades = sorted(
        (ClosedTrade(t.exit_time or t.created_at, t.net_pnl or Decimal(0)) for t in closed),
        key=lambda trade: trade.exited_at,
    )
    if start is None and bot.current_balance is not None:
        with localcontext(DECIMAL_CONTEXT):  # exact whatever the caller's context
            start = bot.current_balance - sum((t.net_pnl for t in trades), Decimal(0))
    figures = compute_metrics(trades, start)
    overflow = [name for name, value in figures.items() if not _fits(name, value)]
    values = {name: value for name, value in figures.items() if name not in overflow}
    values.update(bot_id=bot.id, extra_metadata={"overflow": overflow} if overflow else None)
    metrics = validate(PerformanceMetricsCreate, values, "performance metrics", round_decimals=True)
    return await _insert(store, metrics)


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
