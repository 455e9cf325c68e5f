"""Store: the async session manager. It owns the single writer and the read-only connection pool.

Lifecycle (as httpx's clients): UNOPENED → OPENED → CLOSED. Re-opening raises, closing twice is a
no-op, and a Store dropped while open warns with ResourceWarning.
"""

from __future__ import annotations

import asyncio
import enum
import sqlite3
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from asyncstore.config import StoreSettings, is_postgresql, load_settings, sqlite_path
from asyncstore.errors import ConfigurationError, StoreClosedError
from asyncstore.file_lock import DatabaseLock
from asyncstore.operations import Statements, WriteOperation
from asyncstore.postgres import PostgresBackend, redacted
from asyncstore.readers import ReadPool
from asyncstore.schema_migrations import (
    SchemaState,
    head_schema_statements,
    in_thread_to_the_end,
    prepare_schema,
)
from asyncstore.writer import WriteQueue, WriterStats

__all__ = ["HealthReport", "Store", "StoreState"]


class StoreState(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What `Store.health()` found: both paths answered, and how quickly."""

    ok: bool
    database: str
    journal_mode: str
    read_ms: float
    write_ms: float
    write_queue_depth: int


class Store:
    """Async access to one trading database.

    ```python
    async with Store("sqlite+aiosqlite:///db/trading.db") as store:
        await store.create_tables()
    ```
    `url` defaults to the environment variable ASYNCSTORE_DATABASE_URL, else
    `sqlite+aiosqlite:///db/trading.db`; other options are `StoreSettings` fields.

    Opening checks the schema revision: an empty database is created at the current schema; an
    older one is refused unless `upgrade_schema=True` (then it is backed up and upgraded); one
    written by a newer asyncstore is refused. While open, the Store holds a shared lock on
    `<database>.lock`, so `asyncstore restore` refuses to rewrite the file under it.
    """

    def __init__(self, url: str | None = None, **options: Any) -> None:
        self.settings: StoreSettings = load_settings(url, options)
        self.backend = "postgresql" if is_postgresql(self.settings.database_url) else "sqlite"
        # The database file (SQLite); None on PostgreSQL.
        self.path: Path | None = (
            None if self.backend == "postgresql" else sqlite_path(self.settings.database_url)
        )
        self._state = StoreState.UNOPENED
        self._writer: WriteQueue | None = None
        self._reader: ReadPool | None = None
        self._postgres: PostgresBackend | None = None
        self._closing: asyncio.Future[None] | None = None
        self._lock = DatabaseLock(self.path) if self.path is not None else None
        self.schema: SchemaState | None = None  # what start() found (and made) of the schema
        # The URL for messages and reports, which get printed and logged: never the password.
        self.shown_url = redacted(self.settings.database_url)

    @property
    def state(self) -> StoreState:
        return self._state

    @property
    def url(self) -> str:
        return self.settings.database_url

    @property
    def writer_stats(self) -> WriterStats:
        """Group-commit counters (on PostgreSQL every operation is its own transaction)."""
        if self._postgres is not None:
            return self._postgres.stats
        return self._open_writer().stats

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> Self:
        if self._state is not StoreState.UNOPENED:
            raise StoreClosedError(f"a Store can be started once; this one is {self._state.value}")
        if self.path is None or self._lock is None:
            postgres = PostgresBackend(self.settings)
            self.schema = await postgres.start()
            self._postgres = postgres
            self._state = StoreState.OPENED
            return self
        try:
            self._lock.acquire_shared()
            self.schema = await self._prepare_schema(self.path, self._lock)
            writer = WriteQueue(self.path, self.settings)
            await writer.start()  # switches the file to WAL
        except BaseException as exc:
            self._lock.release()
            _raise_as_open_failure(exc, self.path)
            raise
        reader = ReadPool(self.path, self.settings)
        try:
            await reader.start()
        except BaseException as exc:
            try:
                await writer.close()
            finally:
                self._lock.release()
            _raise_as_open_failure(exc, self.path)
            raise
        self._reader = reader
        self._writer = writer
        self._state = StoreState.OPENED
        return self

    async def _prepare_schema(self, path: Path, lock: DatabaseLock) -> SchemaState:
        # The check (and an upgrade, if asked) runs on a worker thread; a cancelled start()
        # waits for it before giving up the lock (nothing else may open a half-upgraded file).
        return await in_thread_to_the_end(prepare_schema, path, self.settings, lock)

    async def close(self) -> None:
        """Commit every accepted write, then release the writer and the readers.

        Idempotent: a second call waits for the first one's shutdown to finish.
        """
        if self._closing is None:
            if self._state is not StoreState.OPENED:
                self._state = StoreState.CLOSED
                return
            self._state = StoreState.CLOSED
            writer, reader = self._writer, self._reader
            self._writer = self._reader = None
            postgres, self._postgres = self._postgres, None
            self._closing = asyncio.ensure_future(
                self._shutdown(writer, reader, self._lock, postgres)
            )
        # Shielded: if the caller is cancelled (wait_for, task shutdown), the drain and the
        # release of the connections still finish in the background instead of leaking.
        await asyncio.shield(self._closing)

    @staticmethod
    async def _shutdown(
        writer: WriteQueue | None,
        reader: ReadPool | None,
        lock: DatabaseLock | None,
        postgres: PostgresBackend | None,
    ) -> None:
        if postgres is not None:
            await postgres.close()
        # Readers go first so that the writer's connection is the file's last one: closing it
        # checkpoints the WAL into the database and removes it (read-only ones cannot).
        try:
            if reader is not None:
                await reader.close()
        finally:
            try:
                if writer is not None:
                    await writer.close()
            finally:
                if lock is not None:
                    lock.release()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Shielded so that cancelling the owner still drains and closes cleanly.
        await asyncio.shield(self.close())

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if getattr(self, "_state", None) is StoreState.OPENED:
            _warn(
                f"Store({self.shown_url!r}) was never closed; "
                "use 'async with Store(...)' or await close()",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )

    # --- the two paths --------------------------------------------------------------------

    async def submit(self, op: WriteOperation) -> Any:
        """Queue one write operation for the single writer and wait for its commit."""
        if self._postgres is not None:
            return await self._postgres.submit(op)
        return await self._open_writer().submit(op)

    async def fetch_all(
        self, sql: str, params: Sequence[Any] = (), *, primary: bool = False
    ) -> list[tuple[Any, ...]]:
        """Run one read-only query on the read pool; every row as a tuple of stored values.

        `primary=True` never reads a PostgreSQL replica: for reads that decide what to write
        (a replica may lag behind writes just made). Placeholders are `?` on both backends; on
        PostgreSQL a `?` in quotes or comments is left alone, but jsonb's `?` operator cannot be
        written (use `jsonb_exists()`), nor `E'…'` strings that escape a quote as `\\'`."""
        if self._postgres is not None:
            return await self._postgres.fetch_all(sql, params, primary=primary)
        if self._reader is None:
            raise StoreClosedError(self._not_open_message("reads"))
        return await self._reader.fetch_all(sql, params)

    async def create_tables(self) -> None:
        """Create the spec's tables and indexes if they do not exist (one transaction).

        Opening the Store already did this for an empty database (and recorded the schema
        revision); the call stays for the spec's setup code and is a cheap no-op then.
        """
        if self.backend == "postgresql":
            self._open_writer_or_postgres()
            return  # start() brought it to the newest revision
        await self.submit(Statements(head_schema_statements(), subject="create_tables"))

    async def health(self) -> HealthReport:
        """Run a read and a no-op write through the real paths and time them."""
        started = time.perf_counter()
        if self.backend == "postgresql":
            await self.fetch_all("SELECT 1")
            read_done = time.perf_counter()
            await self.submit(Statements([], subject="health check"))
            return HealthReport(
                ok=True,
                database=self.shown_url,
                journal_mode="postgresql",
                read_ms=(read_done - started) * 1000,
                write_ms=(time.perf_counter() - read_done) * 1000,
                write_queue_depth=0,
            )
        ((journal_mode,),) = await self.fetch_all("PRAGMA journal_mode")
        read_done = time.perf_counter()
        await self.submit(Statements([], subject="health check"))
        write_done = time.perf_counter()
        return HealthReport(
            ok=journal_mode.lower() == "wal",
            database=str(self.path),
            journal_mode=journal_mode,
            read_ms=(read_done - started) * 1000,
            write_ms=(write_done - read_done) * 1000,
            write_queue_depth=self._open_writer().depth,
        )

    # --- internals ------------------------------------------------------------------------

    def _not_open_message(self, what: str) -> str:
        if self._state is StoreState.UNOPENED:
            return (
                f"the Store is not open yet; {what} need an open Store: use "
                "'async with Store(...) as store:' or 'await store.start()'"
            )
        return f"the Store is {self._state.value}; {what} need an open Store"

    def _open_writer_or_postgres(self) -> None:
        if self._postgres is None:
            self._open_writer()

    def _open_writer(self) -> WriteQueue:
        if self._writer is None:
            raise StoreClosedError(self._not_open_message("writes"))
        return self._writer


def _raise_as_open_failure(exc: BaseException, path: Path) -> None:
    """A file that cannot be opened as a database (not one, a folder, no access) is a
    ConfigurationError, as an unreachable server is: every error stays in the AsyncStoreError
    tree. Anything else (cancellation, our own errors) is left to propagate as it is."""
    if isinstance(exc, sqlite3.Error | OSError):
        raise ConfigurationError(f"cannot open the SQLite database {path}: {exc}") from exc
