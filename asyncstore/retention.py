"""Retention: delete old trades and metrics in chunks, optionally archiving them first.

Which rows are old is DESIGN.md §2: closed or cancelled trades by `exit_time` (else `created_at`),
metrics by `calculated_at` (else `created_at`); open trades and bot instances are never deleted.

Each chunk is its own short transaction in the writer's bulk lane, so bots keep writing during a
million-row cleanup, and each chunk finds its rows through the retention indexes (revision 0002).
With an archive, a chunk is read, appended to the archive and fsynced, and only then deleted,
by id and only if still old; if a row changed in between (and so was not deleted), the archive's
chunk is rewritten without it. So the archive holds exactly the deleted rows. (After a crash
between the archive write and the delete's commit, a re-run archives those rows again: an
archive may repeat a row, it never misses one.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
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

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def count_sql(self) -> str:
        return f"SELECT count(*) FROM {self.name} WHERE {self.condition}"

    @property
    def delete_chunk_sql(self) -> str:
        return (
            f"DELETE FROM {self.name} WHERE rowid IN "
            f"(SELECT rowid FROM {self.name} WHERE {self.condition} LIMIT ?)"
        )

    @property
    def select_chunk_sql(self) -> str:
        columns = ", ".join(column.name for column in self.table.columns)
        return f"SELECT {columns} FROM {self.name} WHERE {self.condition} LIMIT ?"

    def delete_ids_sql(self, count: int) -> str:
        marks = ", ".join("?" * count)
        return f"DELETE FROM {self.name} WHERE id IN ({marks}) AND {self.condition}"

    def existing_ids_sql(self, count: int) -> str:
        return f"SELECT id FROM {self.name} WHERE id IN ({', '.join('?' * count)})"


TRADES_RULE = RetentionRule(
    Trade.__table__,  # type: ignore[arg-type]
    "status IN ('closed', 'cancelled') AND coalesce(exit_time, created_at) < ?",
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
        self.on_progress = on_progress
        self.deleted = 0
        self.expected = 0

    async def _count(self) -> None:
        if self.on_progress is not None:
            ((self.expected,),) = await self.store.fetch_all(self.rule.count_sql, (self.cutoff,))
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
            count = await self._write(self.rule.delete_chunk_sql, (self.cutoff, self.chunk))
            self.deleted += count
            self._report()
            if count < self.chunk:
                return self.deleted

    async def archive_and_delete(self, sink: ArchiveFile) -> int:
        await self._count()
        id_column = [column.name for column in self.rule.table.columns].index("id")
        while True:
            batch = self.chunk * ARCHIVE_CHUNKS_PER_WRITE
            rows = await self.store.fetch_all(self.rule.select_chunk_sql, (self.cutoff, batch))
            if not rows:
                return self.deleted
            mark = await asyncio.to_thread(sink.append, rows)  # durable before any delete
            ids = [row[id_column] for row in rows]
            deleted = 0
            for start in range(0, len(ids), self.chunk):
                chunk_ids = ids[start : start + self.chunk]
                sql = self.rule.delete_ids_sql(len(chunk_ids))
                count = await self._write(sql, (*chunk_ids, self.cutoff))
                deleted += count
                self.deleted += count
                self._report()
            if deleted != len(ids):
                # Some rows changed between the read and the delete and were kept: take them
                # back out of the archive, so it holds exactly what was deleted.
                kept_rows = await self.store.fetch_all(self.rule.existing_ids_sql(len(ids)), ids)
                kept = {row[0] for row in kept_rows}
                gone = [row for row in rows if row[id_column] not in kept]
                await asyncio.to_thread(sink.rewind, mark, gone)
