"""The spec's trade summary: counts by status, winners and losers, and the exact net PnL.

One aggregate query computed by the database (never every trade pulled onto the loop); the money
sum is exact on every backend (`money_sum_parts`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Select, bindparam, func, select

from asyncstore.schema.expressions import (
    MONEY_SCALE,
    count_where,
    money_sign_value,
    money_sum_parts,
)
from asyncstore.schema.tables import TRADES
from asyncstore.store import Store
from asyncstore.types import DECIMAL_CONTEXT, quantum

__all__ = ["trade_summary", "trade_summary_query"]


def trade_summary_query(by_bot: bool) -> Select[Any]:
    """One pass over the trades (of one bot: bind `bot_id`) for every figure of the summary."""
    status = TRADES.c.status
    closed = status == "closed"
    sign = money_sign_value(TRADES.c.net_pnl)
    whole, fraction = money_sum_parts(TRADES.c.net_pnl, where=closed)
    query = select(
        func.count(),
        count_where(status == "open"),
        count_where(closed),
        count_where(status == "cancelled"),
        count_where(closed & (sign > 0)),
        count_where(closed & (sign < 0)),
        whole,
        fraction,
    )
    if by_bot:
        query = query.where(TRADES.c.bot_id == bindparam("bot_id"))
    return query


_SUMMARY = {by_bot: trade_summary_query(by_bot) for by_bot in (False, True)}


async def trade_summary(store: Store, bot_id: str | None) -> dict[str, Any]:
    """The spec's summary: counts by status, winners and losers, total_net_pnl (exact)."""
    (row,) = await store.fetch_all(_SUMMARY[bot_id is not None], {"bot_id": bot_id})
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
