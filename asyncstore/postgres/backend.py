"""The PostgreSQL backend: the same write operations and reads as SQLite, on asyncpg.

Writes go through the same WriteQueue as on SQLite: one writer connection takes every waiting
operation and runs them as ONE transaction (group commit, asyncstore.postgres.batch): fewer
commits and round trips than a transaction per call, which is what limits a pool of
connections each committing one row. Reads run on pools whose connections are read-only
(`default_transaction_read_only`), many at once.

Read replicas (`read_replica_urls`): reads go to the replicas in turn, writes to the primary.
Read-your-writes: for `replica_read_after_write_s` seconds after a caller's write commits, that
caller's reads go to the primary ("caller": the asyncio task, and tasks it starts afterwards;
a bot's loop is one). Other callers may read a replica that has not caught up yet. A replica
that cannot answer hands the read to the primary, with a warning on the `asyncstore.postgres`
logger, and rests a while (replicas.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.sql.expression import Executable

from asyncstore.config import StoreSettings, redacted
from asyncstore.errors import StoreClosedError
from asyncstore.feed.hub import ChangeHub, ChangeStream, Publish
from asyncstore.postgres.compaction import CLEANUP_VACUUM, vacuum, vacuum_tables
from asyncstore.postgres.connection import (
    asyncpg_dsn,
    connect_once,
    create_pool,
    require_asyncpg,
)
from asyncstore.postgres.errors import Phase, translate_postgres_error
from asyncstore.postgres.feed import Announcer, PostgresChangeWatcher
from asyncstore.postgres.reads import as_tuples, cursor_chunks, fetch_rows, sql_and_values
from asyncstore.postgres.replicas import (
    REPLICA_CONNECT_TIMEOUT_S,
    REPLICA_REST_S,
    ReplicaSet,
    maybe_the_querys_own_fault,
    replica_cannot_answer,
)
from asyncstore.postgres.schema import check_schema
from asyncstore.postgres.tenants import (
    WRITER_SESSION_RESET,
    TenantSpace,
    schema_size_sql,
    tenant_connection_class,
)
from asyncstore.postgres.writer import PostgresBatchRunner
from asyncstore.reports import CompactReport, HealthReport, StorageReport, WriteStats
from asyncstore.schema.revisions import SchemaState
from asyncstore.sql_log import SQL_LOGGER, echo_enabled
from asyncstore.threads import per_rows_off_loop
from asyncstore.write_queue import WriteQueue
from asyncstore.writes import AtomicStatements, WriteOp

_log = logging.getLogger("asyncstore.postgres")

__all__ = ["PostgresBackend"]

ResultT = TypeVar("ResultT")

_DATABASE_SIZE = "SELECT pg_database_size(current_database())"
# How long close() waits for operations still running before it drops their connections.
CLOSE_GRACE_S = 60.0


class PostgresBackend:
    """Write operations and reads of one Store on a PostgreSQL server."""

    name = "postgresql"

    def __init__(self, settings: StoreSettings) -> None:
        require_asyncpg()
        self.settings = settings
        self.path: Path | None = None
        self.shown_url = redacted(settings.database_url)
        # A tenant's Store: every session runs as its role in its schema (asyncstore.postgres
        # .tenants); schema work runs as the URL's own user in that schema.
        self.space = TenantSpace.of(settings.tenant) if settings.tenant else None
        base = asyncpg_dsn(settings.database_url)
        self.dsn = self.space.session_dsn(base) if self.space else base
        self._schema_dsn = self.space.schema_dsn(base) if self.space else base
        if self.space is not None:
            self.shown_url += f" (tenant {self.space.tenant})"
        self._read_pool: Any = None  # the primary, read-only connections
        self._runner: PostgresBatchRunner | None = None
        self._writer: WriteQueue | None = None
        self._closing = False
        self._idle = asyncio.Event()
        self._maintenance: set[asyncio.Future[Any]] = set()  # VACUUMs under way
        self._idle.set()
        self._replicas = ReplicaSet([])
        # When this caller (task, and the tasks it starts) last committed a write through this
        # Store, in a one-item list the caller's tasks share: for a while after, its reads go
        # to the primary, so it sees what it wrote.
        self._last_write: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
            f"asyncstore_last_write_{id(self)}", default=None
        )
        self._echo = echo_enabled(settings.echo)
        self.in_flight = 0
        self.stats = WriteStats()
        self.replica_fallbacks = 0  # replica reads the primary answered instead
        # This Store's writer, in its NOTIFY payloads, and the channel they go to (a tenant's
        # own, read at start).
        self._announcer = Announcer(uuid.uuid4().hex)
        self._feed = ChangeHub(self._watcher)

    def _watcher(self, publish: Publish) -> PostgresChangeWatcher:
        return PostgresChangeWatcher(self.dsn, self._announcer, publish)

    def changes(self) -> ChangeStream:
        return self._feed.subscribe()

    @property
    def queue_depth(self) -> int:
        return self._writer.depth if self._writer is not None else 0

    async def start(self) -> SchemaState:
        size = self.settings.pg_pool_size
        # A start that failed closed what it had opened; a new attempt starts afresh.
        self._closing = False
        read_only = self.settings.read_only
        try:
            # First the schema (a tenant's role and schema too: its sessions need them), on a
            # connection of the URL's own user.
            schema, channel = await check_schema(
                self._schema_dsn, self.settings, self.space, self.shown_url
            )
            self._announcer = dataclasses.replace(self._announcer, channel=channel)
            pool = functools.partial(
                create_pool,
                size=size,
                read_only=True,
                connection_class=tenant_connection_class() if self.space else None,
            )
            # One connection at once: a URL (or a tenant's role) that cannot connect fails here.
            # A read-only Store is an observer (a dashboard): its queries run without parallel
            # workers, so they never take the server cores the bots' writes need.
            self._read_pool = await pool(self.dsn, min_size=1, parallel=not read_only)
            # Replica pools connect on first use: a replica that is down must not stop a bot
            # from starting (its reads go to the primary until the replica answers again).
            replicas = [
                await pool(self._on_replica(url), connect_timeout_s=REPLICA_CONNECT_TIMEOUT_S)
                for url in self.settings.read_replica_urls
            ]
            self._replicas = ReplicaSet(replicas)
            if read_only:  # no writer; never creates or upgrades the schema
                return schema
            reset = WRITER_SESSION_RESET if self.space else None
            self._runner = PostgresBatchRunner(
                self.dsn, self._log, self._announcer, session_reset=reset
            )
            await self._runner.open()
            self._writer = WriteQueue(self._runner, self.settings, self.stats, self._feed)
            self._writer.start()
            return schema
        except BaseException:
            await self.close()
            raise

    def _on_replica(self, url: str) -> str:
        """A replica's DSN, for a tenant with its role and schema (standbys replay both)."""
        dsn = asyncpg_dsn(url)
        return self.space.session_dsn(dsn) if self.space else dsn

    async def close(self) -> None:
        self._closing = True
        for running in self._maintenance:  # a VACUUM would hold close() for minutes
            running.cancel()
        # Writes already accepted commit first, and reads under way finish; only then do the
        # connections close.
        writer, runner = self._writer, self._runner
        self._writer = self._runner = None
        try:
            await self._feed.stop_watching(for_good=True)
            if writer is not None:
                closing = asyncio.ensure_future(writer.close())
                try:
                    await asyncio.wait_for(asyncio.shield(closing), CLOSE_GRACE_S)
                except TimeoutError:
                    # A batch stuck (a lock held elsewhere, a silent network): end the writer's
                    # connection, so that batch fails as lost and the rest as closed.
                    if runner is not None:
                        runner.abort()
                    await closing
        finally:
            if runner is not None:
                await runner.close()
            await self._feed.close()  # after the writer's last commit was published
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), CLOSE_GRACE_S)
        pools = [self._read_pool, *self._replicas.pools]
        self._read_pool = None
        self._replicas = ReplicaSet([])
        for pool in pools:
            if pool is None:
                continue
            try:
                await asyncio.wait_for(asyncio.shield(pool.close()), CLOSE_GRACE_S)
            except TimeoutError:
                # A connection still held after the grace period (a caller stuck elsewhere):
                # close must finish; its uncommitted transaction is rolled back by the server.
                pool.terminate()

    # --- the two paths --------------------------------------------------------------------

    async def submit(self, op: WriteOp[ResultT]) -> ResultT:
        last_write = self._writes_of_this_caller()
        if self._closing or self._writer is None:
            if self.settings.read_only and not self._closing:
                raise StoreClosedError(f"this Store is read-only (read_only=True): {op.subject}")
            raise StoreClosedError("the Store is closed")
        result = await self._writer.submit(op)
        last_write[0] = time.monotonic()
        return result

    async def fetch(
        self,
        statement: Executable | str,
        params: Mapping[str, Any] | Sequence[Any] = (),
        *,
        primary: bool = False,
    ) -> list[tuple[Any, ...]]:
        sql, values = sql_and_values(statement, params)
        self._log(sql, values)
        self._enter()
        try:
            pool = self._read_pool if primary else self._pool_for_reads()
            try:
                rows = await fetch_rows(pool, sql, values)
            except Exception as exc:
                if pool is self._read_pool or not replica_cannot_answer(exc):
                    raise
                rows = await self._read_instead_of(pool, exc, sql, values)
        except Exception as exc:
            raise self._error(exc, "read", write=False) from exc
        finally:
            self._leave()
        return await per_rows_off_loop(as_tuples, rows)

    async def fetch_chunks(
        self,
        statement: Executable | str,
        params: Mapping[str, Any] | Sequence[Any] = (),
        *,
        rows_per_chunk: int,
        primary: bool = False,
    ) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        # A server-side cursor: asyncpg builds its row objects on the loop, so a big result
        # arrives a chunk at a time (a few ms each) and never holds the loop, or the memory,
        # for all of its rows at once. A replica that fails before the first chunk hands the
        # read to the primary, as for `fetch`; after that the rows seen so far stand.
        sql, values = sql_and_values(statement, params)
        self._log(sql, values)
        self._enter()
        try:
            pool = self._read_pool if primary else self._pool_for_reads()
            chunks = cursor_chunks(pool, sql, values, rows_per_chunk)
            try:
                first = await anext(chunks, None)
            except Exception as exc:
                if pool is self._read_pool or not replica_cannot_answer(exc):
                    raise
                with self._primary_instead_of(pool, exc):
                    chunks = cursor_chunks(self._read_pool, sql, values, rows_per_chunk)
                    first = await anext(chunks, None)
            async with contextlib.aclosing(chunks):
                if first is not None:
                    yield first
                    async for rows in chunks:
                        yield rows
        except Exception as exc:
            raise self._error(exc, "read", write=False) from exc
        finally:
            self._leave()

    async def create_tables(self) -> None:
        self._enter()  # start() brought the schema to head: nothing to create
        self._leave()

    async def health(self) -> HealthReport:
        started = time.perf_counter()
        await self.fetch("SELECT 1")
        read_done = time.perf_counter()
        if not self.settings.read_only:  # a read-only Store's health is its reads
            await self.submit(AtomicStatements([], subject="health check"))
        return HealthReport(
            ok=True,
            database=self.shown_url,
            journal_mode="postgresql",
            read_ms=(read_done - started) * 1000,
            write_ms=(time.perf_counter() - read_done) * 1000,
            write_queue_depth=self.queue_depth,
        )

    async def storage(self) -> StorageReport:
        # A tenant's room is its schema's tables; the database holds every tenant's.
        query = schema_size_sql("current_schema()") if self.space else _DATABASE_SIZE
        ((size,),) = await self.fetch(query)
        return StorageReport(self.shown_url, int(size), None)

    async def compact(self, *, step_pages: int) -> CompactReport:
        # step_pages is SQLite's: a VACUUM has no steps to size
        return await self._as_owner(lambda conn: vacuum_tables(conn, self.shown_url), "compact")

    async def reclaim_deleted(self, tables: Sequence[str]) -> list[str]:
        if not tables:
            return []  # no connection opened for nothing
        vacuuming = lambda conn: vacuum(conn, tables, CLEANUP_VACUUM)  # noqa: E731
        vacuumed, _ = await self._as_owner(vacuuming, "reclaim_deleted")
        return vacuumed

    def translate_error(self, exc: BaseException, subject: str) -> BaseException:
        return translate_postgres_error(exc, subject)

    # --- internals ------------------------------------------------------------------------

    async def _as_owner(self, work: Callable[[Any], Awaitable[ResultT]], subject: str) -> ResultT:
        """Maintenance (VACUUM): `work` on a connection of its own as the URL's user, the
        tables' owner (a tenant's role may not VACUUM), in the Store's schema. close() cancels
        it rather than wait (PostgreSQL stops a cancelled VACUUM cleanly)."""
        if self.settings.read_only:
            raise StoreClosedError(f"this Store is read-only (read_only=True): {subject}")
        self._enter()
        try:
            conn = await connect_once(self._schema_dsn)
            running = asyncio.ensure_future(work(conn))
            self._maintenance.add(running)
            try:
                return await running
            except asyncio.CancelledError:
                this = asyncio.current_task()
                if running.cancelled() and this is not None and not this.cancelling():
                    raise StoreClosedError(f"the Store closed during {subject}") from None
                raise  # the caller itself was cancelled
            finally:
                self._maintenance.discard(running)
                try:
                    # asyncpg first makes sure a cancelled VACUUM's cancel reached the server.
                    await conn.close(timeout=CLOSE_GRACE_S)
                except Exception:  # the server is gone, or took too long: just drop it
                    conn.terminate()
        finally:
            self._leave()

    def _enter(self) -> None:
        # Refused once close() began; counted, so close() can wait for calls under way.
        if self._closing or self._read_pool is None:
            raise StoreClosedError("the Store is closed")
        self.in_flight += 1
        self._idle.clear()

    def _leave(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self._idle.set()

    def _writes_of_this_caller(self) -> list[float]:
        """The caller's last-write cell, shared with the tasks it starts (they copy the context
        and so hold the same list): a write made in a child task counts for the caller too."""
        last_write = self._last_write.get()
        if last_write is None:
            last_write = [float("-inf")]
            self._last_write.set(last_write)
        return last_write

    def _error(
        self, exc: Exception, subject: str, *, phase: Phase = "before_commit", write: bool = True
    ) -> BaseException:
        if self._closing and phase != "commit" and not hasattr(exc, "sqlstate"):
            # "pool is closing" and the like. (A loss while committing, even in a close that
            # ran out of patience, still says the write may have committed.)
            return StoreClosedError(f"{subject}: the Store closed while this call waited")
        return translate_postgres_error(exc, subject, phase=phase, write=write)

    def _pool_for_reads(self) -> Any:
        """A replica in turn, unless this caller wrote within `replica_read_after_write_s`:
        then the primary, so a bot reads its own writes whatever the replicas' lag."""
        if not self._replicas:
            return self._read_pool
        wrote_at = self._writes_of_this_caller()[0]
        if time.monotonic() - wrote_at < self.settings.replica_read_after_write_s:
            return self._read_pool
        replica = self._replicas.next()
        return self._read_pool if replica is None else replica  # None: every one failed just now

    async def _read_instead_of(
        self, replica: Any, exc: Exception, statement: str, params: Sequence[Any]
    ) -> list[Any]:
        with self._primary_instead_of(replica, exc):
            return await fetch_rows(self._read_pool, statement, params)

    @contextlib.contextmanager
    def _primary_instead_of(self, replica: Any, exc: Exception) -> Iterator[None]:
        """A replica is there to spare the primary, never to fail a bot's read: one that
        cannot answer hands the read to the primary (the block reads there)."""
        blame_now = not maybe_the_querys_own_fault(exc)
        if blame_now:  # rest it at once, so reads meanwhile do not wait on it too
            self._replicas.rest(replica)
        yield  # a wrong query fails on the primary too: then the replica was not at fault
        if not blame_now:
            self._replicas.rest(replica)
        self.replica_fallbacks += 1
        _log.warning(
            "a read replica could not answer (%s: %s); the primary answered, and reads go to "
            "the replica again in %.0f s",
            type(exc).__name__,
            exc,
            REPLICA_REST_S,
        )

    def _log(self, sql: str, params: Sequence[Any]) -> None:
        if not self._echo:
            return
        if params:
            SQL_LOGGER.info("%s %r", sql, tuple(params))
        else:
            SQL_LOGGER.info("%s", sql)
