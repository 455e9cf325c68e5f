"""The repository's read statements, built once as SQLAlchemy objects (each backend compiles
them for its dialect). Creation order is `created_at`, which asyncstore stamps strictly
increasing (asyncstore.clock); `id` only breaks ties between processes."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Select, bindparam, select

from asyncstore.schema.tables import BOTS, TRADES

__all__ = [
    "ALL_BOTS",
    "BOTS",
    "TRADES",
    "BOTS_WITH_STATUS",
    "BOT_BY_ID",
    "TRADE_BY_ID",
    "bots_existing",
    "trades_with_status",
]


TRADE_BY_ID = select(TRADES).where(TRADES.c.id == bindparam("id"))
BOT_BY_ID = select(BOTS).where(BOTS.c.id == bindparam("id"))
ALL_BOTS = select(BOTS).order_by(BOTS.c.id)
BOTS_WITH_STATUS = select(BOTS).where(BOTS.c.status == bindparam("status")).order_by(BOTS.c.id)


@lru_cache(maxsize=16)
def trades_with_status(
    *, by_bot: bool, by_symbol: bool, newest_first: bool
) -> Select[tuple[object, ...]]:
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
    return query


@lru_cache(maxsize=64)
def bots_existing(count: int) -> Select[tuple[object, ...]]:
    """Which of `count` bot ids (bind `id_0` … `id_<count-1>`) exist."""
    return select(BOTS.c.id).where(BOTS.c.id.in_([bindparam(f"id_{n}") for n in range(count)]))
