"""The PostgreSQL side of the writer: one connection of its own, a group commit per batch.

A lost connection fails its batch (DatabaseUnavailableError, saying whether COMMIT was on its
way) and is dropped; the next batch connects afresh. While the server cannot be reached, each
attempt waits a little longer than the one before (up to MAX_BACKOFF_S), so a restarting server
is not hammered, and the batches meanwhile fail with DatabaseUnavailableError rather than hang.
The Store never needs reopening: writes resume as soon as the server answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from asyncstore.batch_plan import BatchResult
from asyncstore.config import redacted
from asyncstore.errors import ConfigurationError, StoreClosedError
from asyncstore.postgres.batch import StaleConnection, run_batch
from asyncstore.postgres.connection import connect_writer
from asyncstore.postgres.errors import translate_postgres_error
from asyncstore.postgres.feed import Announcer
from asyncstore.postgres.writes import StatementLog
from asyncstore.writes import AtomicStatements, TransactionScript, WriteOp

__all__ = ["PostgresBatchRunner"]

FIRST_BACKOFF_S = 0.05
MAX_BACKOFF_S = 2.0
# A server that does not answer a connection attempt within this is counted as unreachable.
RECONNECT_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 10.0


class PostgresBatchRunner:
    """Runs the WriteQueue's batches on the writer's own connection, reconnecting as needed."""

    def __init__(
        self,
        dsn: str,
        log: StatementLog,
        announcer: Announcer,
        *,
        session_reset: str | None = None,
    ) -> None:
        self._dsn = dsn
        self._log = log
        self._announcer = announcer  # this writer's NOTIFY (asyncstore.postgres.feed)
        # Run after a batch that ran SQL a caller gave (a tenant's writer: whatever that SQL
        # SET, the next batch runs as the tenant again; asyncstore.postgres.tenants).
        self._session_reset = session_reset
        self._conn: Any = None
        self._closed = False
        self._backoff_s = 0.0
        self._next_attempt = 0.0  # time.monotonic() before which no connection is tried
        self.reconnects = 0  # connections made after a lost one (counted as they are made)

    async def open(self) -> None:
        import asyncpg

        try:
            self._conn = await connect_writer(self._dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            raise ConfigurationError(
                f"cannot connect to PostgreSQL at {redacted(self._dsn)}: {exc}"
            ) from exc

    async def close(self) -> None:
        """Close the connection (after the queue's last batch)."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), CLOSE_TIMEOUT_S)
            except Exception:  # the server is gone or stuck: just drop the socket
                conn.terminate()

    def abort(self) -> None:
        """End the connection now, even mid-batch (a close that ran out of patience)."""
        self._closed = True
        self._drop(self._conn)

    async def run(self, ops: list[WriteOp[Any]]) -> BatchResult:
        try:
            return await self._run_on_connection(ops)
        except StaleConnection:
            # The server ended the connection while it idled, found out only at BEGIN:
            # nothing was sent yet, so the batch runs again, once, on a fresh connection.
            pass
        try:
            return await self._run_on_connection(ops)
        except StaleConnection as stale:
            return BatchResult([(False, stale.__cause__ or stale)] * len(ops))

    async def _run_on_connection(self, ops: list[WriteOp[Any]]) -> BatchResult:
        try:
            conn = await self._connection()
        except Exception as exc:  # refused, timed out, server starting up: nothing sent
            return BatchResult([(False, exc)] * len(ops))  # the queue translates it
        try:
            result = await run_batch(conn, ops, self._log, self._announcer)
        except StaleConnection:
            self._drop(conn)
            raise
        if result.connection_lost:
            self._drop(conn)
        elif self._session_reset is not None and any(_runs_caller_sql(op) for op in ops):
            try:
                await conn.execute(self._session_reset)
            except Exception:  # the batch's outcome stands; a fresh connection starts clean
                self._drop(conn)
        return result

    def error_for(self, exc: BaseException, op: WriteOp[Any]) -> BaseException:
        return translate_postgres_error(exc, op.subject)

    async def _connection(self) -> Any:
        if self._closed:
            raise StoreClosedError("the writer connection is closed")
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        self._drop(self._conn)
        wait = self._next_attempt - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            conn = await connect_writer(self._dsn, timeout_s=RECONNECT_TIMEOUT_S)
        except BaseException:
            self._backoff_s = min(max(2 * self._backoff_s, FIRST_BACKOFF_S), MAX_BACKOFF_S)
            self._next_attempt = time.monotonic() + self._backoff_s
            raise
        self._backoff_s = 0.0
        self.reconnects += 1
        self._conn = conn
        return conn

    def _drop(self, conn: Any) -> None:
        if conn is None:
            return
        if conn is self._conn:
            self._conn = None
        with contextlib.suppress(Exception):
            conn.terminate()


def _runs_caller_sql(op: WriteOp[Any]) -> bool:
    """Statements a caller may have written itself (Store.submit), not asyncstore's own."""
    return isinstance(op, AtomicStatements | TransactionScript)
