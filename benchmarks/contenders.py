"""The two peers asyncstore is measured against, on the same schema and durability.

- RawSqlite: stdlib sqlite3 with pre-encoded tuples, called straight from the loop (it blocks it):
  the physical limit of the file.
- NaiveSqlAlchemy: what bot authors write today: an AsyncSession per call over aiosqlite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from asyncstore import new_id
from asyncstore.schema.tables import TRADES, BotInstance, Trade
from asyncstore.sqlite.statements import insert_sql

# The plain single-row INSERT every raw contender runs (the same text asyncstore compiles).
INSERT_TRADE_SQL = insert_sql(TRADES, False)


class RawSqlite:
    def __init__(self, path: Path, durability: str = "normal") -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={durability.upper()}")
        self.conn.execute("PRAGMA foreign_keys=ON")

    def insert_each(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """One transaction (and one commit) per row."""
        for row in rows:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(INSERT_TRADE_SQL, row)
            self.conn.execute("COMMIT")

    def insert_many(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """One executemany in one transaction."""
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(INSERT_TRADE_SQL, rows)
        self.conn.execute("COMMIT")

    def update_each(
        self, ids: Sequence[str], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """One transaction per UPDATE of `columns` (pre-encoded values, one tuple per id)."""
        sql = f"UPDATE trades SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?"
        for row_id, row in zip(ids, rows, strict=True):
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(sql, (*row, row_id))
            self.conn.execute("COMMIT")

    def heartbeat(self, bot_id: str, at: str) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(
            "UPDATE bot_instances SET last_heartbeat = ?, updated_at = ? WHERE id = ?",
            (at, at, bot_id),
        )
        self.conn.execute("COMMIT")

    def open_trades(self, bot_id: str) -> list[Any]:
        return self.conn.execute(
            "SELECT * FROM trades WHERE status = 'open' AND bot_id = ? ORDER BY created_at, id",
            (bot_id,),
        ).fetchall()

    def close(self) -> None:
        self.conn.close()


class NaiveSqlAlchemy:
    """Session per call, default pool, ORM objects: the code in most bots' repositories."""

    def __init__(self, path: Path, durability: str = "normal") -> None:
        # A generous busy timeout and pool wait, or it fails with "database is locked" and pool
        # timeouts under this load instead of just being slow.
        self.engine: AsyncEngine = create_async_engine(
            f"sqlite+aiosqlite:///{path}",
            connect_args={"timeout": 120},
            pool_size=20,
            max_overflow=0,
            pool_timeout=300,
        )

        @event.listens_for(self.engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA synchronous={durability.upper()}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def create_trade(self, data: dict[str, Any]) -> str:
        now = datetime.now(UTC)
        trade = Trade(id=new_id(), **data, created_at=now, updated_at=now)
        async with self.sessions.begin() as session:
            session.add(trade)
        return trade.id

    async def update_trade(self, trade_id: str, changes: dict[str, Any]) -> None:
        async with self.sessions.begin() as session:
            trade = await session.get(Trade, trade_id)
            assert trade is not None
            for name, value in {**changes, "updated_at": datetime.now(UTC)}.items():
                setattr(trade, name, value)

    async def heartbeat(self, bot_id: str) -> None:
        now = datetime.now(UTC)
        async with self.sessions.begin() as session:
            await session.execute(
                update(BotInstance)
                .where(BotInstance.id == bot_id)
                .values(last_heartbeat=now, updated_at=now)
            )

    async def bulk_insert(self, rows: Sequence[dict[str, Any]], chunk: int = 1_000) -> None:
        now = datetime.now(UTC)
        for start in range(0, len(rows), chunk):
            values = [
                {**row, "id": new_id(), "created_at": now, "updated_at": now}
                for row in rows[start : start + chunk]
            ]
            async with self.sessions.begin() as session:
                await session.execute(insert(TRADES), values)

    async def open_trades(self, bot_id: str) -> list[Any]:
        async with self.sessions() as session:
            result = await session.scalars(
                select(Trade)
                .where(Trade.status == "open", Trade.bot_id == bot_id)
                .order_by(Trade.created_at, Trade.id)
            )
            return list(result)

    async def close(self) -> None:
        await self.engine.dispose()
