"""The SQLite side of the writer: one connection on one thread, a batch per hop to it.

The connection is opened, used and closed on its own thread (sqlite3 connections belong to the
thread that made them); each batch goes to that thread in ONE hop (asyncstore.sqlite.batch).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from asyncstore.batch_plan import BatchResult
from asyncstore.config import StoreSettings
from asyncstore.errors import StoreClosedError
from asyncstore.sql_log import echo_enabled
from asyncstore.sqlite.batch import run_batch
from asyncstore.sqlite.connections import StatementTrace, close_connection, open_writer_connection
from asyncstore.sqlite.errors import translate_sqlite_error
from asyncstore.writes import WriteOp

__all__ = ["SQLiteBatchRunner"]


class SQLiteBatchRunner:
    """Runs the WriteQueue's batches on the writer connection's own thread."""

    def __init__(self, path: Path, settings: StoreSettings, origin: str) -> None:
        self._path = path
        self._settings = settings
        self._origin = origin  # this writer, in the change log (asyncstore.sqlite.feed)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asyncstore-writer")
        # The writer's connection, inside its statement trace (opened on the writer thread).
        self._trace: StatementTrace | None = None

    async def open(self) -> None:
        settings = self._settings
        echo = echo_enabled(settings.echo)

        def open_on_writer_thread() -> StatementTrace:
            conn = open_writer_connection(
                self._path,
                busy_timeout_ms=settings.busy_timeout_ms,
                durability=settings.durability,
                journal_size_limit=settings.journal_size_limit_bytes,
            )
            return StatementTrace(conn, echo=echo)  # set up on the connection's own thread

        try:
            loop = asyncio.get_running_loop()
            self._trace = await loop.run_in_executor(self._executor, open_on_writer_thread)
        except BaseException:
            self._executor.shutdown(wait=False)
            raise

    async def close(self) -> None:
        """Close the connection (after the queue's last batch): that checkpoints the WAL."""
        try:
            if self._trace is not None:
                trace, self._trace = self._trace, None
                await asyncio.get_running_loop().run_in_executor(
                    self._executor, close_connection, trace.conn
                )
        finally:
            self._executor.shutdown(wait=False)

    async def run(self, ops: list[WriteOp[Any]]) -> BatchResult:
        if self._trace is None:
            raise StoreClosedError("the writer connection is closed")
        trace = self._trace
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, run_batch, trace.conn, ops, trace, self._origin
        )

    async def checkpoint(self, mode: str, wait_ms: int) -> tuple[int, int, int]:
        """`PRAGMA wal_checkpoint(mode)` on the writer's connection, between two batches: no
        write of this Store commits meanwhile, so a complete checkpoint reaches the WAL's end,
        which is what truncates the database file (compaction). Busy waits at most `wait_ms`.
        Result: (busy, frames in the WAL, frames copied)."""
        if self._trace is None:
            raise StoreClosedError("the writer connection is closed")
        conn, usual_ms = self._trace.conn, self._settings.busy_timeout_ms

        def checkpoint_on_writer_thread() -> tuple[int, int, int]:
            conn.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
            try:
                busy, frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(usual_ms)}")
            return int(busy), int(frames), int(copied)

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, checkpoint_on_writer_thread)

    def error_for(self, exc: BaseException, op: WriteOp[Any]) -> BaseException:
        return translate_sqlite_error(
            exc, op.subject, busy_timeout_ms=self._settings.busy_timeout_ms
        )
