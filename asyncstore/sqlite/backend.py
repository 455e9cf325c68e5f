"""The SQLite backend: one file, one writer with group commit, a pool of read-only readers.

While open it holds a shared lock on `<database>.lock` (see file_lock.py), so `asyncstore
restore` or an upgrade in another process refuses to rewrite the file under it.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.sql.expression import Executable

from asyncstore.config import StoreSettings, sqlite_file
from asyncstore.errors import ConfigurationError, StoreClosedError
from asyncstore.feed.hub import ChangeHub, ChangeStream, Publish
from asyncstore.reports import CompactReport, HealthReport, StorageReport, WriteStats
from asyncstore.schema.compiled import named_params, positional_params
from asyncstore.schema.revisions import SchemaState, head_schema_ddl
from asyncstore.sqlite.compaction import compact_online
from asyncstore.sqlite.errors import translate_sqlite_error
from asyncstore.sqlite.feed import SQLiteChangeWatcher
from asyncstore.sqlite.file_lock import DatabaseLock
from asyncstore.sqlite.readers import ReadPool
from asyncstore.sqlite.schema import check_schema_read_only, prepare_schema
from asyncstore.sqlite.statements import compiled
from asyncstore.sqlite.writer import SQLiteBatchRunner
from asyncstore.threads import in_thread_to_the_end
from asyncstore.write_queue import WriteQueue
from asyncstore.writes import AtomicStatements, WriteOp

__all__ = ["SQLiteBackend"]

ResultT = TypeVar("ResultT")


class SQLiteBackend:
    name = "sqlite"

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.path = sqlite_file(settings)
        self.shown_url = str(self.path)
        self.stats = WriteStats()
        self._lock = DatabaseLock(self.path)
        self._writer: WriteQueue | None = None
        self._runner: SQLiteBatchRunner | None = None
        self._reader: ReadPool | None = None
        self._origin = uuid.uuid4().hex  # this Store's writer, in the change log
        self._feed = ChangeHub(self._watcher)

    def _watcher(self, publish: Publish) -> SQLiteChangeWatcher:
        return SQLiteChangeWatcher(
            self.path, self._origin, publish, busy_timeout_ms=self.settings.busy_timeout_ms
        )

    def changes(self) -> ChangeStream:
        return self._feed.subscribe()

    @property
    def queue_depth(self) -> int:
        return self._writer.depth if self._writer is not None else 0

    async def start(self) -> SchemaState:
        if self.settings.read_only:
            return await self._start_read_only()
        path = self.path
        try:
            self._lock.acquire_shared()
            # The check (and an upgrade, if asked) runs on a worker thread; a cancelled start
            # waits for it before giving up the lock (nothing may open a half-upgraded file).
            schema = await in_thread_to_the_end(prepare_schema, path, self.settings, self._lock)
            runner = SQLiteBatchRunner(path, self.settings, self._origin)
            await runner.open()  # switches the file to WAL
            writer = WriteQueue(runner, self.settings, self.stats, self._feed)
            writer.start()
        except BaseException as exc:
            self._lock.release()
            _raise_as_open_failure(exc, path)
            raise
        reader = ReadPool(path, self.settings)
        try:
            await reader.start()
        except BaseException as exc:
            try:
                await writer.close()
                await runner.close()
            finally:
                self._lock.release()
            _raise_as_open_failure(exc, path)
            raise
        self._writer, self._runner, self._reader = writer, runner, reader
        return schema

    async def _start_read_only(self) -> SchemaState:
        """Readers (and the change feed) only: no writer connection, so nothing writes the
        file, not even the checkpoint a writer's close makes. The shared file lock is held as
        by any Store, so a restore does not rewrite the file under these readers."""
        path = self.path
        try:
            self._lock.acquire_shared()
            schema = await in_thread_to_the_end(check_schema_read_only, path, self.settings)
            reader = ReadPool(path, self.settings)
            await reader.start()
        except BaseException as exc:
            self._lock.release()
            _raise_as_open_failure(exc, path)
            raise
        self._reader = reader
        return schema

    async def close(self) -> None:
        writer, runner, reader = self._writer, self._runner, self._reader
        self._writer, self._runner, self._reader = None, None, None
        # Readers (the feed's watcher among them) go first so that the writer's connection is
        # the file's last one: closing it checkpoints the WAL into the database and removes it
        # (read-only ones cannot). The feed's streams end after the writer's last commit.
        try:
            await self._feed.stop_watching(for_good=True)
            if reader is not None:
                await reader.close()
        finally:
            try:
                if writer is not None:
                    await writer.close()
            finally:
                try:
                    if runner is not None:
                        await runner.close()
                finally:
                    self._lock.release()
                    await self._feed.close()

    async def submit(self, op: WriteOp[ResultT]) -> ResultT:
        if self._writer is None:
            if self.settings.read_only:
                raise StoreClosedError(f"this Store is read-only (read_only=True): {op.subject}")
            raise StoreClosedError("the Store is not open for writes")
        return await self._writer.submit(op)

    async def fetch(
        self,
        statement: Executable | str,
        params: Mapping[str, Any] | Sequence[Any] = (),
        *,
        primary: bool = False,  # one file: every read sees the last commit
    ) -> list[tuple[Any, ...]]:
        return await self._open_reader().fetch_all(*_sql_and_values(statement, params))

    def fetch_chunks(
        self,
        statement: Executable | str,
        params: Mapping[str, Any] | Sequence[Any] = (),
        *,
        rows_per_chunk: int,
        primary: bool = False,
    ) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        sql, values = _sql_and_values(statement, params)
        return self._open_reader().fetch_chunks(sql, values, rows_per_chunk)

    def _open_reader(self) -> ReadPool:
        if self._reader is None:
            raise StoreClosedError("the Store is not open for reads")
        return self._reader

    async def create_tables(self) -> None:
        await self.submit(
            AtomicStatements([(ddl, {}) for ddl in head_schema_ddl()], "create_tables")
        )

    async def health(self) -> HealthReport:
        started = time.perf_counter()
        ((journal_mode,),) = await self.fetch("PRAGMA journal_mode")
        read_done = time.perf_counter()
        if not self.settings.read_only:  # a read-only Store's health is its reads
            await self.submit(AtomicStatements([], subject="health check"))
        return HealthReport(
            ok=str(journal_mode).lower() == "wal",
            database=self.shown_url,
            journal_mode=str(journal_mode),
            read_ms=(read_done - started) * 1000,
            write_ms=(time.perf_counter() - read_done) * 1000,
            write_queue_depth=self.queue_depth,
        )

    async def storage(self) -> StorageReport:
        wal = self.path.with_name(self.path.name + "-wal")
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        return StorageReport(self.shown_url, self.path.stat().st_size, wal_bytes)

    async def compact(self, *, step_pages: int) -> CompactReport:
        if self._runner is None:
            raise StoreClosedError("the Store is not open for compaction")
        checkpoint = self._runner.checkpoint
        return await compact_online(self.path, self.settings, self.submit, checkpoint, step_pages)

    async def reclaim_deleted(self, tables: Sequence[str]) -> list[str]:
        return []  # a deleted row's page goes on SQLite's freelist, which the next write reuses

    def translate_error(self, exc: BaseException, subject: str) -> BaseException:
        return translate_sqlite_error(exc, subject, busy_timeout_ms=self.settings.busy_timeout_ms)


def _raise_as_open_failure(exc: BaseException, path: Path) -> None:
    """A file that cannot be opened as a database (not one, a folder, no access) is a
    ConfigurationError, as an unreachable server is: every error stays in the AsyncStoreError
    tree. Anything else (cancellation, our own errors) is left to propagate as it is."""
    if isinstance(exc, sqlite3.Error | OSError):
        raise ConfigurationError(f"cannot open the SQLite database {path}: {exc}") from exc


def _sql_and_values(
    statement: Executable | str, params: Mapping[str, Any] | Sequence[Any]
) -> tuple[str, Sequence[Any]]:
    """A SQL string binds by position (`?`); a SQLAlchemy statement by name, compiled once."""
    if isinstance(statement, str):
        return statement, positional_params(params)
    text = compiled(statement)
    return text.sql, text.params(named_params(params))
