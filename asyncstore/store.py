"""Store: the async session manager. It owns one backend and its lifecycle.

Lifecycle (as httpx's clients): UNOPENED → OPENED → CLOSED. Re-opening raises, closing twice is a
no-op, and a Store dropped while open warns with ResourceWarning. Everything that differs between
databases is the backend's (`asyncstore.backend`), chosen once from the URL; the public methods
here only check the state and their arguments' types, and hand over (as aiosqlite's core does).
Whatever fails comes back as an AsyncStoreError (`_ErrorsInTheTree`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import warnings
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy.sql.expression import Executable

from asyncstore.backend import COMPACT_STEP_PAGES, Backend, backend_for
from asyncstore.config import StoreSettings, load_settings, redacted
from asyncstore.errors import AsyncStoreError, FieldError, InvalidDataError, StoreClosedError
from asyncstore.feed.hub import ChangeStream
from asyncstore.reports import CompactReport, HealthReport, StorageReport, WriteStats
from asyncstore.schema.input_columns import InputRules
from asyncstore.schema.revisions import SchemaState
from asyncstore.schema.tables import DATA_TABLES
from asyncstore.schema.validation import require_type, validate_chunk_size
from asyncstore.writes import WRITE_OPERATIONS, WriteOp

__all__ = ["HealthReport", "Store", "StoreState"]

ResultT = TypeVar("ResultT")


class StoreState(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


class Store:
    """Async access to one trading database.

    ```python
    async with Store("sqlite+aiosqlite:///db/trading.db") as store:
        await store.create_tables()
    ```
    `url` defaults to the environment variable ASYNCSTORE_DATABASE_URL, else
    `sqlite+aiosqlite:///db/trading.db`; other options are `StoreSettings` fields.
    `tenant="alice"`: only that tenant's data, kept apart by the database (SQLite: a file of
    its own; PostgreSQL: a schema and a role of its own; see `asyncstore.tenants`).

    Opening checks the schema revision: an empty database is created at the current schema; an
    older one is refused unless `upgrade_schema=True` (then it is backed up and upgraded); one
    written by a newer asyncstore is refused. While open, a SQLite Store holds a shared lock on
    `<database>.lock`, so `asyncstore restore` refuses to rewrite the file under it.
    """

    def __init__(self, url: str | None = None, **options: Any) -> None:
        self.settings: StoreSettings = load_settings(url, options)
        # The URL for messages and reports, which get printed and logged: never the password.
        self.shown_url = redacted(self.settings.database_url)
        # What every write's input is checked against beyond its column types.
        self.input_rules = InputRules(
            round_decimals=self.settings.round_decimals,
            max_metadata_bytes=self.settings.max_metadata_bytes,
        )
        self._backend: Backend = backend_for(self.settings)
        self._state = StoreState.UNOPENED
        self._closing: asyncio.Future[None] | None = None
        self.schema: SchemaState | None = None  # what start() found (and made) of the schema

    @property
    def state(self) -> StoreState:
        return self._state

    @property
    def url(self) -> str:
        return self.settings.database_url

    @property
    def tenant(self) -> str | None:
        """Whose data this Store holds (`asyncstore.tenants`); None: the database's own."""
        return self.settings.tenant

    @property
    def backend(self) -> str:
        """Which database this is: "sqlite" or "postgresql"."""
        return self._backend.name

    @property
    def path(self) -> Path | None:
        """The database file (SQLite); None for a server."""
        return self._backend.path

    @property
    def write_stats(self) -> WriteStats:
        """Write counters (group commits, heartbeat statements, retries), counted as they happen."""
        return self._backend.stats

    @property
    def writer_stats(self) -> WriteStats:
        """`write_stats` under its asyncstore 0.1 name."""
        return self.write_stats

    @property
    def write_queue_depth(self) -> int:
        """Writes accepted and not yet taken into a transaction."""
        return self._backend.queue_depth

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> Self:
        if self._state is not StoreState.UNOPENED:
            raise StoreClosedError(f"a Store can be started once; this one is {self._state.value}")
        self.schema = await self._backend.start()
        self._state = StoreState.OPENED
        return self

    async def close(self) -> None:
        """Commit every accepted write, then release every connection.

        Idempotent: a second call waits for the first one's shutdown to finish.
        """
        if self._closing is None:
            if self._state is not StoreState.OPENED:
                self._state = StoreState.CLOSED
                return
            self._state = StoreState.CLOSED
            self._closing = asyncio.ensure_future(self._backend.close())
        # Shielded: if the caller is cancelled (wait_for, task shutdown), the drain and the
        # release of the connections still finish in the background instead of leaking.
        await asyncio.shield(self._closing)

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

    async def submit(self, op: WriteOp[ResultT]) -> ResultT:
        """Run one write operation (`asyncstore.writes`) and return its result once committed."""
        require_type("op", op, WRITE_OPERATIONS, "a write operation of asyncstore.writes")
        backend = self._open_backend("writes")
        with _ErrorsInTheTree(backend, op.subject):
            return await backend.submit(op)

    async def fetch_all(
        self,
        sql: str | Executable,
        params: Sequence[Any] | Mapping[str, Any] = (),
        *,
        primary: bool = False,
    ) -> list[tuple[Any, ...]]:
        """Run one read-only query; every row as a tuple of stored values.

        `sql` is a SQL string with `?` placeholders and a sequence of values (on PostgreSQL too;
        there `??` is a literal `?`, e.g. jsonb's operator), or a SQLAlchemy statement
        (`select(...)`, `text("... :name")`) with a mapping of values, compiled for the
        database's own dialect. Reads run on read-only connections: a write here is refused.
        `primary=True` never reads a PostgreSQL replica: for reads that decide what to write
        (a replica may lag behind writes just made)."""
        require_type("sql", sql, (str, Executable), "SQL text or a SQLAlchemy statement")
        require_type("primary", primary, bool, "True or False")
        backend = self._open_backend("reads")
        with _ErrorsInTheTree(backend, "read"):
            return await backend.fetch(sql, params, primary=primary)

    def fetch_chunks(
        self,
        sql: str | Executable,
        params: Sequence[Any] | Mapping[str, Any] = (),
        *,
        rows_per_chunk: int = 5000,
        primary: bool = False,
    ) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        """`fetch_all`'s rows a list of up to `rows_per_chunk` at a time, all from one snapshot:
        for results too big to hold at once. The iterator holds a read connection until it is
        exhausted or closed (Store.close waits for it on PostgreSQL, and ends it with
        StoreClosedError on SQLite): stop early inside
        `contextlib.aclosing(store.fetch_chunks(...))`, and read nothing else inside the loop
        when the pool has a single connection. Arguments are checked at the call."""
        require_type("sql", sql, (str, Executable), "SQL text or a SQLAlchemy statement")
        require_type("primary", primary, bool, "True or False")
        validate_chunk_size(rows_per_chunk)
        return self._chunks(self._open_backend("reads"), sql, params, rows_per_chunk, primary)

    @staticmethod
    async def _chunks(
        backend: Backend,
        sql: str | Executable,
        params: Sequence[Any] | Mapping[str, Any],
        rows_per_chunk: int,
        primary: bool,
    ) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        with _ErrorsInTheTree(backend, "read"):
            chunks = backend.fetch_chunks(
                sql, params, rows_per_chunk=rows_per_chunk, primary=primary
            )
            async with contextlib.aclosing(chunks):
                async for rows in chunks:
                    yield rows

    def changes(self) -> ChangeStream:
        """Every committed change, as it commits: an async iterator of `asyncstore.Change`.

        ```python
        async with store.changes() as feed:  # ready: other processes' commits are watched
            async for change in feed:
                print(change.table, change.operation, change.row_id, change.bot_id)
        ```
        A change is delivered only after its COMMIT. This Store's own writes come straight
        from its writer; other processes' from the database (SQLite: `PRAGMA data_version`
        and the change log, polled every 50 ms; PostgreSQL: LISTEN/NOTIFY sent in the writing
        transaction). Writes made by tools other than asyncstore are not seen. A bulk chunk or
        a cleanup chunk is one change per bot (`row_id` None, `count` rows). A subscriber that
        falls far behind gets one `resync` change instead of its backlog. The stream ends when
        the Store closes; `aclose()` (or leaving `async with`) ends it earlier."""
        return self._open_backend("the change feed").changes()

    async def create_tables(self) -> None:
        """Create the spec's tables and indexes if they do not exist.

        Opening the Store already did this for an empty database (and recorded the schema
        revision); the call stays for the spec's setup code and is a cheap no-op then.
        """
        backend = self._open_backend("writes")
        with _ErrorsInTheTree(backend, "create_tables"):
            await backend.create_tables()

    async def health(self) -> HealthReport:
        """Run a read and a no-op write through the real paths and time them."""
        backend = self._open_backend("health checks")
        with _ErrorsInTheTree(backend, "health"):
            return await backend.health()

    async def storage(self) -> StorageReport:
        """How much room the database takes (file and WAL, or the server's database)."""
        backend = self._open_backend("reads")
        with _ErrorsInTheTree(backend, "storage"):
            return await backend.storage()

    async def compact(self, *, step_pages: int = COMPACT_STEP_PAGES) -> CompactReport:
        """Give the space of deleted rows back while bots keep writing; the report is measured.

        SQLite: free pages are released `step_pages` at a time, each step a short write
        transaction through this Store's writer (bots' writes go in between), then a WAL
        checkpoint shrinks the file. A database created with auto_vacuum NONE needs a one-time
        full VACUUM with no Store open: refused here with DatabaseInUseError (`asyncstore
        compact` does it when the bots are stopped). PostgreSQL: plain VACUUM (ANALYZE) of the
        tables, which never blocks readers or writers. See asyncstore.sqlite.compaction.
        """
        if isinstance(step_pages, bool) or not isinstance(step_pages, int) or step_pages < 1:
            problem = f"must be a whole number of pages >= 1, got {step_pages!r:.60}"
            raise InvalidDataError("compact", [FieldError("step_pages", problem)])
        backend = self._open_backend("compaction")
        with _ErrorsInTheTree(backend, "compact"):
            return await backend.compact(step_pages=step_pages)

    async def reclaim_deleted(self, tables: Sequence[str]) -> list[str]:
        """Make the room of rows just deleted from `tables` (names of asyncstore's tables)
        reusable now; returns the tables worked on. A cleanup does this itself
        (`vacuum_after_cleanup`); call it after deleting many rows with SQL of your own.

        PostgreSQL: a plain VACUUM (ANALYZE) of each, which never blocks readers or writers.
        Without it, a server whose autovacuum is off or behind keeps every deleted row's
        version, and writes and reads slow down as they pile up. SQLite: nothing to do (the
        next writes reuse freed pages); returns []."""
        known = [table.name for table in DATA_TABLES]
        if isinstance(tables, str | bytes) or not isinstance(tables, Sequence):
            problem = f"must be a list of table names, got {tables!r:.60}"
            raise InvalidDataError("reclaim_deleted", [FieldError("tables", problem)])
        unknown = [table for table in tables if table not in known]
        if unknown:
            problem = f"{unknown!r:.80} not among asyncstore's tables {known}"
            raise InvalidDataError("reclaim_deleted", [FieldError("tables", problem)])
        if self.settings.read_only:
            raise StoreClosedError("this Store is read-only (read_only=True): reclaim_deleted")
        backend = self._open_backend("writes")
        with _ErrorsInTheTree(backend, "reclaim_deleted"):
            return await backend.reclaim_deleted(list(dict.fromkeys(tables)))

    # --- internals ------------------------------------------------------------------------

    def _open_backend(self, what: str) -> Backend:
        if self._state is StoreState.OPENED:
            return self._backend
        if self._state is StoreState.UNOPENED:
            raise StoreClosedError(
                f"the Store is not open yet; {what} need an open Store: use "
                "'async with Store(...) as store:' or 'await store.start()'"
            )
        raise StoreClosedError(f"the Store is {self._state.value}; {what} need an open Store")


class _ErrorsInTheTree:
    """`with _ErrorsInTheTree(backend, subject):` any error of the block as an AsyncStoreError.

    Each backend translates the driver errors it knows; this is the last line for one it does
    not (asyncpg's "the server expects 0 arguments for this query" carries no SQLSTATE), so a
    caller's `except AsyncStoreError` holds. The cause stays chained; cancellation (a
    BaseException) passes untouched. A plain object, not a wrapping coroutine: no extra await
    on every read and write."""

    __slots__ = ("_backend", "_subject")

    def __init__(self, backend: Backend, subject: str) -> None:
        self._backend = backend
        self._subject = subject

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, AsyncStoreError) or not isinstance(exc, Exception):
            return
        translated = self._backend.translate_error(exc, self._subject)
        if not isinstance(translated, AsyncStoreError):
            translated = AsyncStoreError(f"{self._subject}: {type(exc).__name__}: {exc}")
        raise translated from exc
