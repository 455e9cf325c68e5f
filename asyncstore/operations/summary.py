"""An operator's view of a database: rows per table and per bot, last heartbeats, sizes.

Aggregates computed by the database in one query each, never by pulling rows onto the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from asyncstore.schema.expressions import count_where
from asyncstore.schema.tables import BOTS, METRICS, TRADES
from asyncstore.store import Store
from asyncstore.types import UTCDateTime

__all__ = ["BotSummary", "DatabaseSummary", "database_summary"]


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
    wal_bytes: int  # the SQLite WAL file (0 on a server: its log is the server's business)
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
        count_where(TRADES.c.status == "open"),
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
        wal_bytes=storage.log_bytes or 0,
        rows={
            "bot_instances": int(bots),
            "trades": int(trades),
            "performance_metrics": int(metrics),
        },
        open_trades=int(open_trades),
        bots=per_bot,
    )
