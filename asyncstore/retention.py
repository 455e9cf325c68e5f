"""Retention: delete old trades and metrics in chunks, optionally archiving them first.

Which rows are old is DESIGN.md §2: closed or cancelled trades by `exit_time` (else `created_at`),
metrics by `calculated_at` (else `created_at`); open trades and bot instances are never deleted.

Each chunk is its own short transaction in the writer's bulk lane, so bots keep writing during a
million-row cleanup, and each chunk finds its rows through the retention indexes (revision 0002).

With an archive, a batch of rows is read and staged durably beside the archive
(`<archive>.pending`), then deleted chunk by chunk, each row only if it is still old and
unchanged (same `updated_at`), then exactly the deleted rows are appended to the archive and
the staged copy dropped. A row edited after it was read stays in the database and out of the
archive. A run that dies after a delete but before archiving leaves the staged batch; the next
run with the same archive archives whichever of its rows are gone. So every deleted row reaches
the archive; only a crash between the archive write and dropping the staged copy can make a
batch appear twice (same ids).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import Table

from asyncstore.archive import ArchiveFile, open_archive
from asyncstore.models import PerformanceMetrics, Trade
from asyncstore.operations import Statements
from asyncstore.store import Store
from asyncstore.types import UTCDateTime

__all__ = [
    "CleanupProgress",
    "CleanupReport",
    "ProgressCallback",
    "metrics_archive_path",
    "run_cleanup",
]


# An archived cleanup reads and fsyncs this many delete-chunks at once (fewer fsyncs and hops);
# the deletes still go one chunk per transaction, so the write lock is never held longer.
ARCHIVE_CHUNKS_PER_WRITE = 10


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """The SQL that finds and deletes old rows of one table (spelled to match its index)."""

    table: Table
    condition: str  # the age test, with one `?` for the cutoff
    # A column every update changes: an archived row is deleted only if it still has the
    # archived value, so a row edited after it was archived is kept (and not archived).
    version_column: str | None = None

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def count_sql(self) -> str:
        return f"SELECT count(*) FROM {self.name} WHERE {self.condition}"

    def delete_chunk_sql(self, postgresql: bool = False) -> str:
        row = "ctid" if postgresql else "rowid"  # each backend's physical row address
        return (
            f"DELETE FROM {self.name} WHERE {row} IN "
            f"(SELECT {row} FROM {self.name} WHERE {self.condition} LIMIT ?)"
        )

    @property
    def select_chunk_sql(self) -> str:
        columns = ", ".join(column.name for column in self.table.columns)
        return f"SELECT {columns} FROM {self.name} WHERE {self.condition} LIMIT ?"

    def delete_rows_sql(self, count: int, postgresql: bool = False) -> str:
        """Delete given rows (bind their ids, then id and version column value per row)."""
        ids = ", ".join("?" * count)
        if self.version_column is None:
            return f"DELETE FROM {self.name} WHERE id IN ({ids}) AND {self.condition}"
        # `id IN (…)` lets SQLite find the rows by primary key; the row-value test alone
        # would scan the table. PostgreSQL needs the version's type spelled out in VALUES.
        version = "CAST(? AS TIMESTAMP WITH TIME ZONE)" if postgresql else "?"
        versions = ", ".join([f"(?, {version})"] * count)
        return (
            f"DELETE FROM {self.name} WHERE id IN ({ids}) "
            f"AND (id, {self.version_column}) IN (VALUES {versions}) AND {self.condition}"
        )

    def delete_rows_params(self, rows: Sequence[Sequence[Any]], cutoff: str) -> tuple[Any, ...]:
        keys = [self.row_key(row) for row in rows]
        ids = [key[0] for key in keys]
        versions = chain.from_iterable(keys) if self.version_column is not None else ()
        return (*ids, *versions, cutoff)

    def row_key(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """The values `delete_rows_sql` binds for one stored row."""
        columns = [column.name for column in self.table.columns]
        key = [row[columns.index("id")]]
        if self.version_column is not None:
            key.append(row[columns.index(self.version_column)])
        return tuple(key)

    def existing_ids_sql(self, count: int) -> str:
        return f"SELECT id FROM {self.name} WHERE id IN ({', '.join('?' * count)})"


TRADES_RULE = RetentionRule(
    Trade.__table__,  # type: ignore[arg-type]
    "status IN ('closed', 'cancelled') AND coalesce(exit_time, created_at) < ?",
    version_column="updated_at",
)
METRICS_RULE = RetentionRule(
    PerformanceMetrics.__table__,  # type: ignore[arg-type]
    "coalesce(calculated_at, created_at) < ?",
)


@dataclass(frozen=True, slots=True)
class CleanupProgress:
    table: str
    deleted: int
    expected: int  # old rows counted when this table's cleanup began


@dataclass(slots=True)
class CleanupReport:
    deleted: dict[str, int] = field(default_factory=dict)
    archives: list[Path] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


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
    for rule, cutoff, _ in plan:
        sink = archives.get(rule.name)
        cleaner = _TableCleaner(store, rule, str(UTCDateTime.to_db(cutoff)), on_progress)
        deleting = cleaner.archive_and_delete(sink) if sink else cleaner.delete()
        report.deleted[rule.name] = await deleting
    for sink in archives.values():
        finished = await asyncio.to_thread(_finish, sink)
        if finished is not None:
            report.archives.append(finished)
    return report


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
        self.postgresql = store.backend == "postgresql"
        self.on_progress = on_progress
        self.deleted = 0
        self.expected = 0

    async def _count(self) -> None:
        if self.on_progress is not None:
            ((self.expected,),) = await self.store.fetch_all(
                self.rule.count_sql, (self.cutoff,), primary=True
            )
            self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(CleanupProgress(self.rule.name, self.deleted, self.expected))

    async def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        op = Statements([(sql, params)], subject=f"cleanup of {self.rule.name}", bulk=True)
        (rowcount,) = await self.store.submit(op)
        return int(rowcount)

    async def delete(self) -> int:
        await self._count()
        while True:
            sql = self.rule.delete_chunk_sql(self.postgresql)
            count = await self._write(sql, (self.cutoff, self.chunk))
            self.deleted += count
            self._report()
            if count < self.chunk:
                return self.deleted

    async def archive_and_delete(self, sink: ArchiveFile) -> int:
        await self._count()
        staged = await asyncio.to_thread(sink.staged_rows)
        if staged:  # a stopped run's batch: archive what of it was deleted
            await asyncio.to_thread(sink.commit, await self._gone(staged))
        while True:
            batch = self.chunk * ARCHIVE_CHUNKS_PER_WRITE
            rows = await self.store.fetch_all(
                self.rule.select_chunk_sql, (self.cutoff, batch), primary=True
            )
            if not rows:
                return self.deleted
            await asyncio.to_thread(sink.stage, rows)  # durable before any delete
            deleted = 0
            for start in range(0, len(rows), self.chunk):
                chunk = rows[start : start + self.chunk]
                sql = self.rule.delete_rows_sql(len(chunk), self.postgresql)
                count = await self._write(sql, self.rule.delete_rows_params(chunk, self.cutoff))
                deleted += count
                self.deleted += count
                self._report()
            # Rows edited since they were read were kept: archive exactly the deleted ones.
            gone = rows if deleted == len(rows) else await self._gone(rows)
            await asyncio.to_thread(sink.commit, gone)

    async def _gone(self, rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
        """The rows of `rows` no longer in the table."""
        ids = [self.rule.row_key(row)[0] for row in rows]
        still = await self.store.fetch_all(self.rule.existing_ids_sql(len(ids)), ids, primary=True)
        present = {row[0] for row in still}
        return [row for row in rows if self.rule.row_key(row)[0] not in present]
