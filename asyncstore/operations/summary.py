"""Summaries: the spec's trade summary (exact PnL), and an operator's view of a database.

Both are aggregates computed by the database in one query each, never by pulling rows onto the
event loop. The money sum is exact on every backend (`money_sum_parts`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Select, bindparam, case, func, select

from asyncstore.schema.expressions import MONEY_SCALE, money_sign_value, money_sum_parts
from asyncstore.schema.tables import BOTS, METRICS, TRADES
from asyncstore.store import Store
from asyncstore.types import DECIMAL_CONTEXT, UTCDateTime, quantum

__all__ = [
    "BotSummary",
    "DatabaseSummary",
    "database_summary",
    "trade_summary",
    "trade_summary_query",
]


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def trade_summary_query(by_bot: bool) -> Select[Any]:
    """One pass over the trades (of one bot: bind `bot_id`) for every figure of the summary."""
    status = TRADES.c.status
    closed = status == "closed"
    sign = money_sign_value(TRADES.c.net_pnl)
    whole, fraction = money_sum_parts(TRADES.c.net_pnl, where=closed)
    query = select(
        func.count(),
        _count(status == "open"),
        _count(closed),
        _count(status == "cancelled"),
        _count(closed & (sign > 0)),
        _count(closed & (sign < 0)),
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


@dataclass(frozen=True, slots=True)
class BotSummary:
    id: str
    type: str
    status: str
    last_heartbeat: datetime | None
    trades: int
    open_trades: int


@dataclass(frozen=True, slots=True)
class DatabaseSummary:
    path: Path | None  # the file; None for a server
    location: str  # the file, or the server's URL without password
    revision: str | None
    file_bytes: int  # the file, or the server's database
    wal_bytes: int | None  # the SQLite WAL; None on a server
    rows: dict[str, int]
    open_trades: int
    bots: list[BotSummary] = field(default_factory=list)


_TABLE_COUNTS = select(
    *(
        select(func.count()).select_from(table).scalar_subquery()
        for table in (BOTS, TRADES, METRICS)
    ),
    select(func.count()).select_from(TRADES).where(TRADES.c.status == "open").scalar_subquery(),
)
_PER_BOT = (
    select(
        BOTS.c.id,
        BOTS.c.type,
        BOTS.c.status,
        BOTS.c.last_heartbeat,
        func.count(TRADES.c.id),
        _count(TRADES.c.status == "open"),
    )
    .select_from(BOTS.outerjoin(TRADES, TRADES.c.bot_id == BOTS.c.id))
    .group_by(BOTS.c.id)
    .order_by(BOTS.c.id)
)


async def database_summary(store: Store) -> DatabaseSummary:
    """Counts per table and per bot, open trades, last heartbeats, database and WAL size."""
    ((bots, trades, metrics, open_trades),) = await store.fetch_all(_TABLE_COUNTS, {})
    per_bot = [
        BotSummary(bot_id, kind, status, UTCDateTime.from_db(beat), int(total), int(opened))
        for bot_id, kind, status, beat, total, opened in await store.fetch_all(_PER_BOT, {})
    ]
    storage = await store.storage()
    return DatabaseSummary(
        path=store.path,
        location=storage.location,
        revision=store.schema.current if store.schema else None,
        file_bytes=storage.database_bytes,
        wal_bytes=storage.log_bytes,
        rows={
            "bot_instances": int(bots),
            "trades": int(trades),
            "performance_metrics": int(metrics),
        },
        open_trades=int(open_trades),
        bots=per_bot,
    )
