"""Trade summary: the spec's health-check query, exact on SQLite.

SQLite stores money as fixed-scale text (see types.py), and its SUM() would turn that into a float.
The summary instead sums the integer part and the fractional digits separately as integers, which
is exact, and joins them with Decimal arithmetic.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    String,
    bindparam,
    case,
    cast,
    func,
    select,
    type_coerce,
)

from asyncstore.codec import CompiledSQL, compile_for_sqlite
from asyncstore.models import Trade
from asyncstore.types import DECIMAL_CONTEXT, quantum

__all__ = ["trade_summary", "trade_summary_query"]

TRADES = Trade.__table__
MONEY_SCALE = 8


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


@lru_cache(maxsize=4)
def trade_summary_query(*, by_bot: bool, postgresql: bool = False) -> CompiledSQL:
    """One pass over the trades (of one bot: bind `bot_id`) for every figure of the summary.

    PostgreSQL sums NUMERIC exactly itself: there the whole sum is one column and the
    fraction column is 0."""
    status = TRADES.c.status
    closed = status == "closed"
    if postgresql:
        return _postgres_summary_query(by_bot)
    pnl_sign = cast(TRADES.c.net_pnl, Float)  # the sign of a decimal survives a float cast
    pnl_text = type_coerce(TRADES.c.net_pnl, String())  # the stored '-12.34000000', undecoded
    point = func.instr(pnl_text, ".")
    whole_part = cast(func.substr(pnl_text, 1, point - 1), Integer)
    fraction_digits = cast(func.substr(pnl_text, point + 1), Integer)
    signed_fraction = case((pnl_text.like("-%"), -fraction_digits), else_=fraction_digits)
    query = select(
        func.count(),
        _count(status == "open"),
        _count(closed),
        _count(status == "cancelled"),
        _count(closed & (pnl_sign > 0)),
        _count(closed & (pnl_sign < 0)),
        func.coalesce(func.sum(case((closed, whole_part), else_=0)), 0),
        func.coalesce(func.sum(case((closed, signed_fraction), else_=0)), 0),
    )
    if by_bot:
        query = query.where(TRADES.c.bot_id == bindparam("bot_id"))
    return compile_for_sqlite(query)


def _postgres_summary_query(by_bot: bool) -> CompiledSQL:
    closed = "status = 'closed'"
    sql = (
        "SELECT count(*), count(*) FILTER (WHERE status = 'open'), "
        f"count(*) FILTER (WHERE {closed}), count(*) FILTER (WHERE status = 'cancelled'), "
        f"count(*) FILTER (WHERE {closed} AND net_pnl > 0), "
        f"count(*) FILTER (WHERE {closed} AND net_pnl < 0), "
        f"coalesce(sum(net_pnl) FILTER (WHERE {closed}), 0), 0 FROM trades"
    )
    if by_bot:
        return CompiledSQL(sql + " WHERE bot_id = ?", ("bot_id",), {})
    return CompiledSQL(sql, (), {})


def trade_summary(row: tuple[Any, ...]) -> dict[str, Any]:
    """The summary dict from the row of `trade_summary_query`."""
    total, opened, closed_count, cancelled, winners, losers, whole_sum, fraction_sum = row
    fraction = Decimal(fraction_sum).scaleb(-MONEY_SCALE, context=DECIMAL_CONTEXT)
    total_net_pnl = DECIMAL_CONTEXT.add(Decimal(whole_sum), fraction).quantize(
        quantum(MONEY_SCALE), context=DECIMAL_CONTEXT
    )
    return {
        "total_trades": int(total),
        "open_trades": int(opened),
        "closed_trades": int(closed_count),
        "cancelled_trades": int(cancelled),
        "winning_trades": int(winners),
        "losing_trades": int(losers),
        "total_net_pnl": total_net_pnl,
    }
