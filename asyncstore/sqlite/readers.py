"""ReadPool: read-only aiosqlite connections, one thread hop per read.

Each read is one `execute_fetchall` on an idle connection (SQL compiled once per statement),
so a read costs one hop to a reader thread and back, never queues behind the writer (WAL
readers see the last commit without waiting), and starts a fresh snapshot: a read that starts
after a write's await returned sees that write.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any, cast

import aiosqlite

from asyncstore.config import StoreSettings
from asyncstore.errors import StoreClosedError
from asyncstore.sql_log import echo_enabled, log_statement
from asyncstore.sqlite.connections import OwnFileOnly, read_only_uri
from asyncstore.sqlite.errors import translate_sqlite_error

__all__ = ["ReadPool"]


class ReadPool:
    def __init__(self, path: Path, settings: StoreSettings) -> None:
        self._uri = read_only_uri(path)
        self._size = settings.read_pool_size
        self._busy_timeout_ms = settings.busy_timeout_ms
        self._echo = echo_enabled(settings.echo)
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all: list[aiosqlite.Connection] = []
        self._open = False

    async def start(self) -> None:
        try:
            for _ in range(self._size):
                conn = await _read_only_connection(self._uri, self._busy_timeout_ms)
                self._all.append(conn)
                if self._echo:
                    await conn.set_trace_callback(log_statement)
                self._idle.put_nowait(conn)
        except BaseException:
            await self.close()
            raise
        self._open = True

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of one query, as plain tuples (decode with a TableCodec)."""
        conn = await self._idle_connection()
        try:
            self._check_still_open()
            rows = await conn.execute_fetchall(sql, params)
        except (sqlite3.Error, UnicodeError) as exc:
            raise translate_sqlite_error(exc, "read") from exc
        finally:
            # A cancelled read may still be running on the connection's thread; aiosqlite runs
            # the next caller's query after it, so handing the connection back is safe.
            self._idle.put_nowait(conn)
        # Plain tuples already (these connections set no row factory): no copy on the loop.
        return cast(list[tuple[Any, ...]], rows)

    async def fetch_chunks(
        self, sql: str, params: Sequence[Any], rows_per_chunk: int
    ) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        """The rows of one query, `rows_per_chunk` at a time (one hop each), all from the
        snapshot its first step saw; the connection is this iterator's until it ends."""
        conn = await self._idle_connection()
        try:
            self._check_still_open()
            cursor = await conn.execute(sql, params)
            try:
                while rows := await cursor.fetchmany(rows_per_chunk):
                    yield cast(list[tuple[Any, ...]], rows)
            finally:
                await cursor.close()
        except (sqlite3.Error, UnicodeError) as exc:
            raise translate_sqlite_error(exc, "read") from exc
        except ValueError as exc:  # aiosqlite: "no active connection"
            if self._open:
                raise
            raise StoreClosedError("the Store closed during this chunked read") from exc
        finally:
            self._idle.put_nowait(conn)

    async def _idle_connection(self) -> aiosqlite.Connection:
        if not self._open:
            raise StoreClosedError("the Store is not open for reads")
        return await self._idle.get()

    def _check_still_open(self) -> None:
        if not self._open:  # the pool closed while this read waited for a connection
            raise StoreClosedError("the Store closed while this read waited")

    async def close(self) -> None:
        self._open = False
        connections, self._all = self._all, []
        for conn in connections:
            await conn.close()


async def _read_only_connection(uri: str, busy_timeout_ms: int) -> aiosqlite.Connection:
    """One read-only reader connection whose thread never keeps the process alive.

    `mode=ro` (in the URI): SQLite refuses every write on this connection, whatever SQL a caller
    passes to Store.fetch_all, and no statement can switch it off (unlike the query_only pragma,
    which `PRAGMA query_only = OFF` undoes).

    aiosqlite >= 0.22 runs each connection on a non-daemon thread that only `close()` ends, so a
    bot that crashes without closing its Store would hang at exit forever. A reader's
    connection is read-only: stopping it mid-read loses nothing, so its thread is a daemon. The
    writer's thread is not, and is never made one.
    """
    conn = aiosqlite.connect(uri, uri=True, timeout=busy_timeout_ms / 1000, factory=OwnFileOnly)
    conn._thread.daemon = True  # aiosqlite has no public option (omnilib/aiosqlite#299)
    return await conn
