"""Trade summaries: the spec's (counts by status, winners and losers, exact net PnL), and the
same figures per strategy (entry_logic_name, exit_logic_name).

Each is one aggregate query computed by the database (never every trade pulled onto the loop);
the money sum is exact on every backend (`money_sum_parts`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, bindparam, func, select

from asyncstore.schema.expressions import (
    MONEY_SCALE,
    count_where,
    money_sign_value,
    money_sum_parts,
)
from asyncstore.schema.tables import TRADES
from asyncstore.store import Store
from asyncstore.threads import per_rows_off_loop
from asyncstore.types import DECIMAL_CONTEXT, UTCDateTime, quantum

__all__ = [
    "StrategySummary",
    "TradeSummary",
    "strategy_summary",
    "strategy_summary_query",
    "trade_summary",
    "trade_summary_query",
]


class TradeSummary(BaseModel):
    """The spec's summary. Also read as the spec writes it, like a dict:
    `summary["total_trades"]`, `summary.keys()`, `dict(summary)`."""

    model_config = ConfigDict(frozen=True)

    total_trades: int
    open_trades: int
    closed_trades: int
    cancelled_trades: int
    winning_trades: int  # closed trades with net_pnl > 0
    losing_trades: int  # closed trades with net_pnl < 0
    total_net_pnl: Decimal  # of closed trades, exact; a closed trade without net_pnl counts 0

    def __getitem__(self, key: str) -> Any:
        # The spec (and code written against the dict this used to be) indexes by name.
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> Iterator[str]:
        # With keys() and [], dict(summary) is the plain dict of the figures.
        return iter(type(self).model_fields)


class StrategySummary(BaseModel):
    """The trades of one strategy: one (entry_logic_name, exit_logic_name) pair."""

    model_config = ConfigDict(frozen=True)

    entry_logic_name: str
    exit_logic_name: str
    total_trades: int  # every status
    closed_trades: int
    winning_trades: int  # closed trades with net_pnl > 0
    losing_trades: int  # closed trades with net_pnl < 0
    total_net_pnl: Decimal  # of closed trades, exact; a closed trade without net_pnl counts 0
    # 100 x winning / closed, rounded half-even to 2 places (as metrics' win_rate is); None
    # without closed trades.
    win_rate: Decimal | None


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


def _exact_sum(whole_sum: Any, fraction_sum: Any) -> Decimal:
    """The money sum of `money_sum_parts`' two integers, at the money scale."""
    fraction = Decimal(fraction_sum).scaleb(-MONEY_SCALE, context=DECIMAL_CONTEXT)
    return DECIMAL_CONTEXT.add(Decimal(whole_sum), fraction).quantize(
        quantum(MONEY_SCALE), context=DECIMAL_CONTEXT
    )


async def trade_summary(store: Store, bot_id: str | None) -> TradeSummary:
    """The spec's summary: counts by status, winners and losers, total_net_pnl (exact)."""
    (row,) = await store.fetch_all(_SUMMARY[bot_id is not None], {"bot_id": bot_id})
    total, opened, closed_count, cancelled, winners, losers, whole_sum, fraction_sum = row
    return TradeSummary(
        total_trades=int(total),
        open_trades=int(opened),
        closed_trades=int(closed_count),
        cancelled_trades=int(cancelled),
        winning_trades=int(winners),
        losing_trades=int(losers),
        total_net_pnl=_exact_sum(whole_sum, fraction_sum),
    )


@lru_cache(maxsize=8)
def strategy_summary_query(*, by_bot: bool, since: bool, until: bool) -> Select[Any]:
    """One pass per strategy, in (entry_logic_name, exit_logic_name) order: the columns of
    idx_strategy, which gives the groups in that order. Binds `bot_id`, `since`, `until` when
    used (the range is on entry_time, as get_trades': since inclusive, until exclusive)."""
    closed = TRADES.c.status == "closed"
    sign = money_sign_value(TRADES.c.net_pnl)
    whole, fraction = money_sum_parts(TRADES.c.net_pnl, where=closed)
    entry, exit_ = TRADES.c.entry_logic_name, TRADES.c.exit_logic_name
    query = select(
        entry,
        exit_,
        func.count(),
        count_where(closed),
        count_where(closed & (sign > 0)),
        count_where(closed & (sign < 0)),
        whole,
        fraction,
    )
    if by_bot:
        query = query.where(TRADES.c.bot_id == bindparam("bot_id"))
    if since:
        query = query.where(TRADES.c.entry_time >= bindparam("since", type_=UTCDateTime()))
    if until:
        query = query.where(TRADES.c.entry_time < bindparam("until", type_=UTCDateTime()))
    return query.group_by(entry, exit_).order_by(entry, exit_)


_HUNDRED = Decimal(100)
_WIN_RATE_QUANTUM = quantum(2)


async def strategy_summary(
    store: Store, bot_id: str | None, since: datetime | None, until: datetime | None
) -> list[StrategySummary]:
    """Per strategy: trades, closed, winners, losers, exact net PnL and win rate (arguments
    already validated; times in UTC)."""
    query = strategy_summary_query(
        by_bot=bot_id is not None, since=since is not None, until=until is not None
    )
    values = {
        "bot_id": bot_id,
        "since": UTCDateTime.to_db(since),
        "until": UTCDateTime.to_db(until),
    }
    rows = await store.fetch_all(query, values)
    # One record per strategy: usually a handful, but an optimizer may try thousands.
    return await per_rows_off_loop(_strategy_records, rows)


def _strategy_records(rows: Sequence[Sequence[Any]]) -> list[StrategySummary]:
    summaries = []
    for entry, exit_, total, closed, winners, losers, whole_sum, fraction_sum in rows:
        win_rate = None
        if closed:
            win_rate = DECIMAL_CONTEXT.divide(_HUNDRED * int(winners), Decimal(int(closed)))
            win_rate = win_rate.quantize(_WIN_RATE_QUANTUM, context=DECIMAL_CONTEXT)
        summaries.append(
            StrategySummary(
                entry_logic_name=entry,
                exit_logic_name=exit_,
                total_trades=int(total),
                closed_trades=int(closed),
                winning_trades=int(winners),
                losing_trades=int(losers),
                total_net_pnl=_exact_sum(whole_sum, fraction_sum),
                win_rate=win_rate,
            )
        )
    return summaries
