"""The read queries, compiled once from the models into SQLite SQL with `?` placeholders."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Select, bindparam, select

from asyncstore.codec import CompiledSQL, compile_for_sqlite
from asyncstore.models import BotInstance, Trade

__all__ = [
    "ALL_BOTS",
    "BOTS_WITH_STATUS",
    "BOT_BY_ID",
    "TRADE_BY_ID",
    "bots_existing",
    "trades_with_status",
]

TRADES = Trade.__table__
BOTS = BotInstance.__table__

TRADE_BY_ID = compile_for_sqlite(select(TRADES).where(TRADES.c.id == bindparam("id")))
BOT_BY_ID = compile_for_sqlite(select(BOTS).where(BOTS.c.id == bindparam("id")))
ALL_BOTS = compile_for_sqlite(select(BOTS).order_by(BOTS.c.id))
BOTS_WITH_STATUS = compile_for_sqlite(
    select(BOTS).where(BOTS.c.status == bindparam("status")).order_by(BOTS.c.id)
)


@lru_cache(maxsize=16)
def trades_with_status(*, by_bot: bool, by_symbol: bool, newest_first: bool) -> CompiledSQL:
    """Trades of one status (bind `status`, and `bot_id`, `symbol`, `limit` when used)."""
    query: Select[tuple[object, ...]] = select(TRADES).where(TRADES.c.status == bindparam("status"))
    if by_bot:
        query = query.where(TRADES.c.bot_id == bindparam("bot_id"))
    if by_symbol:
        query = query.where(TRADES.c.symbol == bindparam("symbol"))
    if newest_first:
        query = query.order_by(TRADES.c.created_at.desc(), TRADES.c.id.desc()).limit(
            bindparam("limit")
        )
    else:
        query = query.order_by(TRADES.c.created_at, TRADES.c.id)
    return compile_for_sqlite(query)


def bots_existing(count: int) -> str:
    """Which of `count` bot ids exist: SELECT id … WHERE id IN (?, …)."""
    return f"SELECT id FROM bot_instances WHERE id IN ({', '.join(['?'] * count)})"
