"""Retention: delete old trades and metrics in chunks, optionally archiving them first.

Which rows are old is DESIGN.md §2: closed or cancelled trades by `exit_time` (else `created_at`),
metrics by `calculated_at` (else `created_at`); open trades and bot instances are never deleted.
Bot activity follows, never archived: its minute buckets rolled up into hours, its buckets older
than the trades' retention deleted (asyncstore.operations.activity_retention).

Each chunk is its own short transaction in the writer's bulk lane, so bots keep writing during a
million-row cleanup, and each chunk finds its rows through the retention indexes (revision 0002).

On PostgreSQL a cleanup then vacuums the tables it deleted from (`vacuum_after_cleanup`,
Store.reclaim_deleted; best effort, never waiting for another VACUUM's lock): without it, a
server whose autovacuum is off or behind keeps every deleted row's version, which every later
write, index lookup and cleanup chunk wades through.

With an archive, a batch of rows is read and staged durably beside the archive
(`<archive>.pending`, with where the archive ended), then deleted chunk by chunk, each row only
if it is still old and unchanged (same `updated_at`), then exactly the deleted rows are appended
to the archive and the staged copy dropped. A row edited after it was read stays in the
database and out of the archive. A run that dies after a delete but before dropping the staged
copy leaves it; the next run with the same archive cuts the archive back to where it ended at
staging (dropping whatever of the batch the dead run appended, whole or torn), then archives
whichever of its rows are gone. So every deleted row reaches the archive exactly once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Delete, Select, Table, and_, bindparam, case, delete, func, select, text
from sqlalchemy.sql.expression import BindParameter, ColumnElement, Executable

from asyncstore.errors import AsyncStoreError
from asyncstore.operations.activity_retention import (
    ACTIVITY_TABLE,
    ActivityCleanup,
    clean_activity,
    count_activity,
)
from asyncstore.operations.archive import ArchiveFile, open_archive
from asyncstore.schema.expressions import RowAddress
from asyncstore.schema.tables import (
    METRICS,
    METRICS_RETENTION_AGE,
    TRADE_RETENTION_AGE,
    TRADES,
)
from asyncstore.store import Store
from asyncstore.types import UTCDateTime
from asyncstore.writes import AtomicStatements

__all__ = [
    "CleanupPreview",
    "CleanupProgress",
    "CleanupReport",
    "ProgressCallback",
    "count_old_rows",
    "metrics_archive_path",
    "run_cleanup",
]


_log = logging.getLogger("asyncstore.retention")

# An archived cleanup reads and fsyncs this many delete-chunks at once (fewer fsyncs and hops);
# the deletes still go one chunk per transaction, so the write lock is never held longer.
ARCHIVE_CHUNKS_PER_WRITE = 10


@dataclass(frozen=True, eq=False)
class RetentionRule:
    """The statements that find and delete old rows of one table (spelled to match its index).

    Built once as SQLAlchemy objects; each backend compiles them for its dialect (the physical
    row address, for instance, is SQLite's rowid and PostgreSQL's ctid)."""

    table: Table
    old: ColumnElement[bool]  # the age test, binding `cutoff`
    # A column every update changes: an archived row is deleted only if it still has the
    # archived value, so a row edited after it was archived is kept (and not archived).
    version_column: str | None = None

    @property
    def name(self) -> str:
        return self.table.name

    @cached_property
    def count(self) -> Select[Any]:
        return select(func.count()).select_from(self.table).where(self.old)

    @cached_property
    def delete_chunk(self) -> Delete:
        """Delete up to `limit` old rows (found through the age index, deleted by address)."""
        chunk = select(RowAddress(self.table)).where(self.old).limit(bindparam("limit"))
        return delete(self.table).where(RowAddress(self.table).in_(chunk.scalar_subquery()))

    @cached_property
    def select_chunk(self) -> Select[Any]:
        return select(*self.table.c).where(self.old).limit(bindparam("limit"))

    @functools.lru_cache(maxsize=8)  # noqa: B019 (a few rules, alive for the process)
    def delete_rows(self, count: int) -> Delete:
        """Delete these `count` rows (bind `id_<n>`, and `version_<n>`) if still old and, with a
        version column, unchanged since they were read."""
        ids: list[BindParameter[Any]] = [bindparam(f"id_{n}") for n in range(count)]
        statement = delete(self.table).where(self.table.c.id.in_(ids), self.old)
        if self.version_column is None:
            return statement
        version = self.table.c[self.version_column]
        versions = [bindparam(f"version_{n}", type_=version.type) for n in range(count)]
        # `id IN (…)` finds the rows by primary key; each must still hold its archived version.
        pairs = zip(ids, versions, strict=True)
        archived = case(*[(self.table.c.id == row, value) for row, value in pairs])
        return statement.where(version == archived)

    def delete_rows_params(self, rows: Sequence[Sequence[Any]], cutoff: str) -> dict[str, Any]:
        params: dict[str, Any] = {"cutoff": cutoff}
        for n, row in enumerate(rows):
            key = self.row_key(row)
            params[f"id_{n}"] = key[0]
            if self.version_column is not None:
                params[f"version_{n}"] = key[1]
        return params

    def row_key(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """The id (and version) of one stored row, as `delete_rows` binds them."""
        columns = [column.name for column in self.table.columns]
        key = [row[columns.index("id")]]
        if self.version_column is not None:
            key.append(row[columns.index(self.version_column)])
        return tuple(key)

    @functools.lru_cache(maxsize=8)  # noqa: B019
    def existing_ids(self, count: int) -> Select[Any]:
        ids: list[BindParameter[Any]] = [bindparam(f"id_{n}") for n in range(count)]
        return select(self.table.c.id).where(self.table.c.id.in_(ids))


def _older_than_cutoff(age: ColumnElement[Any]) -> ColumnElement[bool]:
    return age < bindparam("cutoff", type_=UTCDateTime())


TRADES_RULE = RetentionRule(
    TRADES,
    # The partial index's own condition, as literals, so SQLite sees the index applies.
    and_(text("trades.status IN ('closed', 'cancelled')"), _older_than_cutoff(TRADE_RETENTION_AGE)),
    version_column="updated_at",
)
METRICS_RULE = RetentionRule(METRICS, _older_than_cutoff(METRICS_RETENTION_AGE))


@dataclass(frozen=True, slots=True)
class CleanupProgress:
    table: str
    deleted: int
    expected: int  # old rows counted when this table's cleanup began


@dataclass(slots=True)
class CleanupReport:
    deleted: dict[str, int] = field(default_factory=dict)  # trades and metrics, per table
    archives: list[Path] = field(default_factory=list)
    activity: ActivityCleanup = field(default_factory=ActivityCleanup)  # bot_activity
    # The tables vacuumed afterwards (Store.reclaim_deleted): on PostgreSQL with
    # vacuum_after_cleanup, those rows were deleted from; SQLite needs none. A table another
    # VACUUM was busy with is left out (skipped, not waited for).
    vacuumed: list[str] = field(default_factory=list)
    # Why that VACUUM failed (the rows are deleted all the same); None when it did not.
    vacuum_error: str | None = None

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


@dataclass(frozen=True, slots=True)
class CleanupPreview:
    """What a cleanup would delete now (a dry run: nothing was written)."""

    would_delete: dict[str, int]
    cutoffs: dict[str, datetime]  # per table: rows older than this are old
    activity: ActivityCleanup = ActivityCleanup()  # what bot_activity's retention would do

    @property
    def total(self) -> int:
        return sum(self.would_delete.values())


ProgressCallback = Callable[[CleanupProgress], None]


def metrics_archive_path(archive: Path) -> Path:
    """Where metrics go when trades are archived to `archive`: `old.csv` → `old.metrics.csv`."""
    return archive.with_name(f"{archive.stem}.metrics{archive.suffix}")


async def run_cleanup(
    store: Store,
    *,
    trade_cutoff: datetime,
    metrics_cutoff: datetime,
    archive: Path | None = None,
    on_progress: ProgressCallback | None = None,
) -> CleanupReport:
    report = CleanupReport()
    plan = [(TRADES_RULE, trade_cutoff, archive)]
    plan.append((METRICS_RULE, metrics_cutoff, archive and metrics_archive_path(archive)))
    # Open (and so check) every archive before the first row is deleted.
    archives = {}
    for rule, _, path in plan:
        if path is not None:
            archives[rule.name] = await asyncio.to_thread(open_archive, path, rule.table)
    cleaners: list[_TableCleaner] = []
    try:
        for rule, cutoff, _ in plan:
            sink = archives.get(rule.name)
            cleaner = _TableCleaner(store, rule, str(UTCDateTime.to_db(cutoff)), on_progress)
            cleaners.append(cleaner)
            deleting = cleaner.archive_and_delete(sink) if sink else cleaner.delete()
            report.deleted[rule.name] = await deleting
        report.activity = await clean_activity(store, trade_cutoff, _activity_progress(on_progress))
        for sink in archives.values():
            finished = await asyncio.to_thread(_finish, sink)
            if finished is not None:
                report.archives.append(finished)
    except Exception:
        # The rows deleted before the failure leave their room too; the error goes on as it was.
        await _vacuum(store, report, cleaners)
        raise
    await _vacuum(store, report, cleaners)
    return report


async def _vacuum(store: Store, report: CleanupReport, cleaners: list[_TableCleaner]) -> None:
    """Vacuum the tables this run deleted rows from (or found deleted by a stopped run, its
    staged batch): best effort, as the cleanup itself is done. A VACUUM that fails (the Store
    closing, no connection to spare) is logged and reported in `vacuum_error`."""
    if not store.settings.vacuum_after_cleanup:
        return
    tables = [cleaner.rule.name for cleaner in cleaners if cleaner.deleted or cleaner.recovered]
    if report.activity.minutes_rolled_up or report.activity.buckets_deleted:
        tables.append(ACTIVITY_TABLE)
    try:
        report.vacuumed = await store.reclaim_deleted(tables)
    except AsyncStoreError as exc:
        report.vacuum_error = str(exc)
        _log.warning("cleanup: the VACUUM of %s after it failed: %s", ", ".join(tables), exc)


def _activity_progress(on_progress: ProgressCallback | None) -> Callable[[int, int], None] | None:
    if on_progress is None:
        return None
    return lambda done, expected: on_progress(CleanupProgress(ACTIVITY_TABLE, done, expected))


async def count_old_rows(
    store: Store, *, trade_cutoff: datetime, metrics_cutoff: datetime
) -> CleanupPreview:
    """The dry run: how many rows `run_cleanup` with these cutoffs would delete now, per
    table. Each count is its rule's own `old` predicate (the one every delete chunk uses), read
    on the primary; nothing is written. Bot activity's are counted apart (`activity`)."""
    counts: dict[str, int] = {}
    cutoffs = {TRADES_RULE.name: trade_cutoff, METRICS_RULE.name: metrics_cutoff}
    for rule in (TRADES_RULE, METRICS_RULE):
        cutoff = str(UTCDateTime.to_db(cutoffs[rule.name]))
        ((count,),) = await store.fetch_all(rule.count, {"cutoff": cutoff}, primary=True)
        counts[rule.name] = int(count)
    return CleanupPreview(counts, cutoffs, await count_activity(store, trade_cutoff))


def _finish(sink: ArchiveFile) -> Path | None:
    """Close the archive; one that received no row and was created by this run is removed."""
    path = sink.finish()
    if sink.rows_written == 0 and sink.created_empty:
        path.unlink(missing_ok=True)
        return None
    return path


class _TableCleaner:
    def __init__(
        self, store: Store, rule: RetentionRule, cutoff: str, on_progress: ProgressCallback | None
    ) -> None:
        self.store = store
        self.rule = rule
        self.cutoff = cutoff
        self.chunk = store.settings.bulk_chunk_rows
        self.on_progress = on_progress
        self.deleted = 0
        self.recovered = 0  # rows of a stopped run's staged batch found deleted, and archived
        self.expected = 0

    async def _count(self) -> None:
        if self.on_progress is not None:
            ((self.expected,),) = await self.store.fetch_all(
                self.rule.count, {"cutoff": self.cutoff}, primary=True
            )
            self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(CleanupProgress(self.rule.name, self.deleted, self.expected))

    async def _write(self, statement: Executable, params: dict[str, Any]) -> int:
        subject = f"cleanup of {self.rule.name}"
        (rowcount,) = await self.store.submit(
            AtomicStatements([(statement, params)], subject, bulk=True)
        )
        return int(rowcount)

    async def delete(self) -> int:
        await self._count()
        while True:
            params = {"cutoff": self.cutoff, "limit": self.chunk}
            count = await self._write(self.rule.delete_chunk, params)
            self.deleted += count
            self._report()
            if count < self.chunk:
                return self.deleted

    async def archive_and_delete(self, sink: ArchiveFile) -> int:
        await self._count()
        staged = await asyncio.to_thread(sink.staged_rows)
        if staged:  # a stopped run's batch: archive what of it was deleted
            recovered = await self._gone(staged)
            await asyncio.to_thread(sink.commit, recovered)
            self.recovered = len(recovered)
        while True:
            batch = self.chunk * ARCHIVE_CHUNKS_PER_WRITE
            rows = await self.store.fetch_all(
                self.rule.select_chunk, {"cutoff": self.cutoff, "limit": batch}, primary=True
            )
            if not rows:
                return self.deleted
            await asyncio.to_thread(sink.stage, rows)  # durable before any delete
            deleted = 0
            for start in range(0, len(rows), self.chunk):
                chunk = rows[start : start + self.chunk]
                params = self.rule.delete_rows_params(chunk, self.cutoff)
                count = await self._write(self.rule.delete_rows(len(chunk)), params)
                deleted += count
                self.deleted += count
                self._report()
            # Rows edited since they were read were kept: archive exactly the deleted ones.
            gone = rows if deleted == len(rows) else await self._gone(rows)
            await asyncio.to_thread(sink.commit, gone)

    async def _gone(self, rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
        """The rows of `rows` no longer in the table (asked a chunk of ids at a time)."""
        ids = [self.rule.row_key(row)[0] for row in rows]
        present: set[Any] = set()
        for start in range(0, len(ids), self.chunk):
            part = ids[start : start + self.chunk]
            params = {f"id_{n}": row_id for n, row_id in enumerate(part)}
            still = await self.store.fetch_all(
                self.rule.existing_ids(len(part)), params, primary=True
            )
            present.update(row[0] for row in still)
        return [row for row in rows if self.rule.row_key(row)[0] not in present]
