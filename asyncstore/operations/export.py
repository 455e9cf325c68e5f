"""Exporting trades to an archive file (CSV or Parquet), a page at a time."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, select

from asyncstore.operations.archive import ArchiveFile
from asyncstore.schema.tables import TRADES
from asyncstore.store import Store

__all__ = ["TRADES", "export_trades"]


@lru_cache(maxsize=2)
def _page(by_bot: bool) -> Select[Any]:
    query = select(*TRADES.c).where(TRADES.c.id > bindparam("after"))
    if by_bot:
        query = query.where(TRADES.c.bot_id == bindparam("bot_id"))
    return query.order_by(TRADES.c.id).limit(bindparam("limit"))


async def export_trades(
    store: Store, sink: ArchiveFile, *, bot_id: str | None = None, page_rows: int = 5_000
) -> int:
    """Write a bot's trades (all bots' when `bot_id` is None) to `sink`, oldest first (ids are
    time-ordered), a page at a time so memory stays flat. Returns the number of rows written."""
    query = _page(bot_id is not None)
    after = ""
    written = 0
    while True:
        rows = await store.fetch_all(query, {"after": after, "bot_id": bot_id, "limit": page_rows})
        if not rows:
            break
        await asyncio.to_thread(sink.append, rows)
        written += len(rows)
        after = rows[-1][0]  # id is the first column
    await asyncio.to_thread(sink.finish)
    return written
