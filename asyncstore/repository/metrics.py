"""Performance metrics rows: stored as given, or computed from a bot's closed trades."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import bindparam, func, select

from asyncstore.clock import utc_now
from asyncstore.errors import NotFoundError, UnreadableRowError
from asyncstore.ids import new_id
from asyncstore.repository.bots import get_bot_instance
from asyncstore.repository.changes import Data
from asyncstore.repository.performance import ClosedTrades, compute_metrics
from asyncstore.repository.records import from_values
from asyncstore.schema.codec import InputRules, TableCodec
from asyncstore.schema.records import (
    PerformanceMetricsCreate,
    PerformanceMetricsRecord,
)
from asyncstore.schema.tables import METRICS, TRADES
from asyncstore.schema.validation import validate, validate_money
from asyncstore.store import Store
from asyncstore.threads import SMALL_RESULT_ROWS, in_slices
from asyncstore.types import DECIMAL_CONTEXT, ExactDecimal, UTCDateTime, quantum
from asyncstore.writes import InsertRows, Params

__all__ = [
    "calculate_performance_metrics",
    "create_performance_metrics",
    "prepare_performance_metrics",
]

METRICS_CODEC = TableCodec(METRICS)
_ROUNDED = InputRules(round_decimals=True)


def _fits(column: str, value: Any) -> bool:
    """Whether a computed figure, rounded to its DECIMAL column's scale, fits that column."""
    type_ = METRICS.c[column].type
    if value is None or not isinstance(type_, ExactDecimal):
        return True
    rounded = Decimal(value).quantize(quantum(type_.scale), context=DECIMAL_CONTEXT)
    return rounded.is_zero() or rounded.adjusted() < type_.precision - type_.scale


async def create_performance_metrics(store: Store, data: Data) -> PerformanceMetricsRecord:
    metrics = validate(PerformanceMetricsCreate, data, "performance metrics")
    return await _insert(store, metrics, store.input_rules)


async def calculate_performance_metrics(
    store: Store, bot_id: Any, starting_balance: Any = None
) -> PerformanceMetricsRecord:
    bot = await get_bot_instance(store, bot_id)
    if bot is None:
        raise NotFoundError(f"no bot instance {bot_id!r} exists")
    start: Decimal | None = None
    if starting_balance is not None:
        start = validate_money("starting_balance", starting_balance)
    # The rows come a chunk at a time (PostgreSQL's driver builds its rows on the loop), from
    # the primary: the figures are stored, and must count every trade closed so far. Decoding
    # and the arithmetic grow with the bot's history: one worker thread does both.
    rows: list[Sequence[Any]] = []
    chunks = store.fetch_chunks(
        _CLOSED_TRADES, {"bot_id": bot.id}, rows_per_chunk=_CHUNK_ROWS, primary=True
    )
    async with contextlib.aclosing(chunks):
        async for chunk in chunks:
            rows += chunk

    def figures_of(rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
        trades = _in_exit_order(in_slices(_closed_trades, rows))
        opening = start
        if opening is None and bot.current_balance is not None:
            balance = _finite("bot_instances", bot.id, "current_balance", bot.current_balance)
            with localcontext(DECIMAL_CONTEXT):  # exact whatever the caller's context
                opening = balance - sum(trades.net_pnl, Decimal(0))
        return compute_metrics(trades, opening)

    if len(rows) <= SMALL_RESULT_ROWS:
        figures = figures_of(rows)
    else:
        figures = await asyncio.to_thread(figures_of, rows)
    overflow = [name for name, value in figures.items() if not _fits(name, value)]
    values = {name: value for name, value in figures.items() if name not in overflow}
    values.update(bot_id=bot.id, extra_metadata={"overflow": overflow} if overflow else None)
    metrics = validate(PerformanceMetricsCreate, values, "performance metrics")
    # Computed figures are rounded to their columns (the ones that overflow were left out).
    return await _insert(store, metrics, _ROUNDED)


# Only what the metrics need, in exit order, ties in creation order. (Times are stored as
# fixed-width UTC text on SQLite, so the text order is the time order; `_in_exit_order` checks.)
_EXITED_AT = func.coalesce(TRADES.c.exit_time, TRADES.c.created_at)
_CLOSED_TRADES = (
    select(TRADES.c.id, TRADES.c.exit_time, TRADES.c.created_at, TRADES.c.net_pnl)
    .where(TRADES.c.bot_id == bindparam("bot_id"), TRADES.c.status == "closed")
    .order_by(_EXITED_AT, TRADES.c.created_at, TRADES.c.id)
)
# Small enough that the driver's row objects for one chunk (built on the loop, on PostgreSQL)
# die young: bigger chunks pushed them into the oldest GC generation, whose full passes stalled
# the loop 60+ ms.
_CHUNK_ROWS = 1000
_read_money = ExactDecimal(20, 8).from_db  # trades.net_pnl's type


def _read_time(text: str) -> datetime:
    moment = UTCDateTime.from_db(text)
    if moment is None:  # created_at is NOT NULL
        raise ValueError("created_at is NULL")
    return moment


def _closed_trades(rows: Sequence[Sequence[Any]]) -> list[tuple[datetime, Decimal]]:
    """(exit time, net PnL) of each row (a trade without exit_time exits at its creation)."""
    trades = []
    for row_id, exit_time, created_at, net_pnl in rows:
        try:
            exited_at = _read_time(exit_time if exit_time is not None else created_at)
            pnl = _read_money(net_pnl) or Decimal(0)
        except (ValueError, ArithmeticError) as exc:
            raise UnreadableRowError(f"trades row {row_id!r}: {exc}") from exc
        trades.append((exited_at, _finite("trades", row_id, "net_pnl", pnl)))
    return trades


def _in_exit_order(trades: list[tuple[datetime, Decimal]]) -> ClosedTrades:
    """The query sorted them already. Times another tool wrote in another text form (with an
    offset, say) can sort out of time order as text: only then are they sorted here (stable,
    so ties keep creation order). The check is a Python loop, which lets the loop's thread in;
    a sort is one long C call that would not."""
    exits = [exited for exited, _ in trades]
    if any(later < earlier for earlier, later in zip(exits, exits[1:], strict=False)):
        trades.sort(key=_exit_time)
        exits = [exited for exited, _ in trades]
    return ClosedTrades(exits, [pnl for _, pnl in trades])


def _exit_time(trade: tuple[datetime, Decimal]) -> datetime:
    return trade[0]


def _finite(table: str, row_id: str, column: str, value: Decimal) -> Decimal:
    """Stored rows are trusted, but a NaN (PostgreSQL's NUMERIC holds one; another tool may
    write one) cannot be summed or compared: name where it is instead of a bare InvalidOperation."""
    if not value.is_finite():
        raise UnreadableRowError(
            f"{table} row {row_id!r}, column {column}: the stored value {value} cannot enter "
            "the performance metrics"
        )
    return value


async def _insert(
    store: Store, metrics: PerformanceMetricsCreate, rules: InputRules
) -> PerformanceMetricsRecord:
    record, row, subject = _prepared(metrics, rules)
    await store.submit(InsertRows(METRICS, [row], subject))
    return record


def prepare_performance_metrics(
    store: Store, data: Data
) -> tuple[PerformanceMetricsRecord, Params, str]:
    """Validate and encode a metrics row: (the record it will be, its row, its subject)."""
    metrics = validate(PerformanceMetricsCreate, data, "performance metrics")
    return _prepared(metrics, store.input_rules)


def _prepared(
    metrics: PerformanceMetricsCreate, rules: InputRules
) -> tuple[PerformanceMetricsRecord, Params, str]:
    now = utc_now()
    values = {
        **metrics.__dict__,
        "id": metrics.id or new_id(),
        "calculated_at": metrics.calculated_at or now,
        "created_at": now,
    }
    row = METRICS_CODEC.encode_input(values, rules, "performance metrics")
    subject = f"performance metrics {values['id']} (bot_id {metrics.bot_id!r})"
    return from_values(PerformanceMetricsRecord, values), row, subject
