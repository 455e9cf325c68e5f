"""The statements behind the fleet's figures, each reading only what an index bounds.

With 100 bots and a million trades (measured, SQLite and PostgreSQL):
- open positions: the partial index of open trades (ix_trades_open_by_bot), < 1 ms;
- realized PnL since a cutoff (today, or the day the daily history was summed to): a range of
  the retention index (ix_trades_retention), so it reads the trades that finished since then;
- the latest trade of each bot: a range of idx_entry_time over the last minutes, and for a bot
  with no trade in it, that bot's trades (idx_bot_trade_type), whose answer is kept until the
  bot's trades change (asyncstore.dashboard.fleet);
- the fleet's daily PnL before the cutoff: one pass over every closed trade (~0.6 s at 1M
  trades on either database; no index holds net_pnl), summed in the background now and then
  (asyncstore.dashboard.history), never on a page's request path once summed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Select, String, bindparam, func, select

from asyncstore.schema.expressions import UtcDay, money_sum_parts
from asyncstore.schema.tables import BOTS, TRADES
from asyncstore.types import UTCDateTime

from .sql import CLOSED, OPEN, finished_since, unindexed, wins

__all__ = [
    "BOT_ROWS",
    "CLOSED_SINCE",
    "LATEST_ENTRIES",
    "OPEN_COUNTS",
    "closed_by_day",
    "latest_entry_of",
]

_BOT_COLUMNS = (
    BOTS.c.id,
    BOTS.c.type,
    BOTS.c.status,
    BOTS.c.config_file,
    BOTS.c.started_at,
    BOTS.c.last_heartbeat,
    BOTS.c.current_balance,
    BOTS.c.total_pnl,
)
BOT_COLUMN_NAMES = tuple(column.name for column in _BOT_COLUMNS)


# Bot instances by id.
BOT_ROWS = select(*_BOT_COLUMNS).order_by(BOTS.c.id)

# (bot_id, open trades) per bot with any.
OPEN_COUNTS = select(TRADES.c.bot_id, func.count()).where(OPEN).group_by(TRADES.c.bot_id)


def _closed_since() -> Select[Any]:
    """(bot_id, UTC day, closed trades, wins, whole, fraction) per bot and day of exit, for
    the trades closed at or after `cutoff` (bind)."""
    cutoff = bindparam("cutoff", type_=UTCDateTime())
    bot = unindexed(TRADES.c.bot_id)
    day = UtcDay(TRADES.c.exit_time)
    whole, fraction = money_sum_parts(TRADES.c.net_pnl)
    return (
        select(bot, day, func.count(), wins(TRADES.c.net_pnl), whole, fraction)
        .where(*finished_since(cutoff), CLOSED, TRADES.c.exit_time >= cutoff)
        .group_by(bot, day)
    )


CLOSED_SINCE = _closed_since()


@lru_cache(maxsize=1)
def closed_by_day() -> Select[Any]:
    """(UTC day, closed trades, whole, fraction) per day of exit before `cutoff` (bind), by
    day: the whole closed history, one pass. A closed trade without an exit_time has no day
    and is left out (it still counts in its bot's total_pnl)."""
    day = UtcDay(TRADES.c.exit_time)
    whole, fraction = money_sum_parts(TRADES.c.net_pnl)
    cutoff = bindparam("cutoff", type_=UTCDateTime())
    return (
        select(day, func.count(), whole, fraction)
        .where(CLOSED, TRADES.c.exit_time < cutoff)
        .group_by(day)
        .order_by(day)
    )


def _latest_entries() -> Select[Any]:
    """(bot_id, latest entry_time) per bot among the trades entered at or after `since`
    (bind): a range of idx_entry_time, whatever the number of bots."""
    bot = unindexed(TRADES.c.bot_id)
    return (
        select(bot, func.max(TRADES.c.entry_time))
        .where(TRADES.c.entry_time >= bindparam("since", type_=UTCDateTime()))
        .group_by(bot)
    )


LATEST_ENTRIES = _latest_entries()


@lru_cache(maxsize=16)
def latest_entry_of(count: int) -> Select[Any]:
    """(bot_id, latest entry_time) of `count` bots (bind `id_0` … `id_<count-1>`): each bot's
    own trades through idx_bot_trade_type. Grouped on purpose: without GROUP BY, both planners
    turn max() into a backward walk of idx_entry_time, which for a bot idle for months reads
    every trade entered since. (Callers pad `count` to a power of two: few shapes to compile.)"""
    ids = [bindparam(f"id_{n}", type_=String()) for n in range(count)]
    return (
        select(TRADES.c.bot_id, func.max(TRADES.c.entry_time))
        .where(TRADES.c.bot_id.in_(ids))
        .group_by(TRADES.c.bot_id)
    )
