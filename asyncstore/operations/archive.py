"""Archive files: rows of one table written durably to CSV, or to Parquet when pyarrow is there.

Used by `cleanup_old_data(archive=...)`, which appends a chunk here *before* deleting it, and by
`asyncstore export`. Every `append` is flushed and fsynced before it returns, so a row is never
deleted before its archived copy is on disk. A run stopped half-way leaves a valid archive of what
it deleted; running it again with the same path continues the same archive.

- CSV: one header line, then one line per row; money as exact decimal text, times as ISO 8601
  UTC, JSON as JSON text; an empty field is NULL.
- Parquet: typed columns (decimal128(20,8) money, UTC timestamps). Each chunk is first written as
  its own complete file in `<path>.parts/`, so a crash never leaves the only copy of deleted rows
  in a Parquet file without its footer; `finish()` joins the parts into `<path>`.
"""

from __future__ import annotations

import abc
import contextlib
import csv
import io
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, Table

from asyncstore.durable_files import fsync_path
from asyncstore.errors import ConfigurationError
from asyncstore.schema.codec import TableCodec
from asyncstore.types import ExactDecimal, JSONDocument, UTCDateTime

__all__ = ["ARCHIVE_FORMATS", "ArchiveFile", "open_archive"]

ARCHIVE_FORMATS = ("csv", "parquet")
_PART_DIGITS = 8


def _fsync_file(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _csv_time(stored: str | None) -> str:
    """Stored UTC text → ISO 8601 with its offset ('2026-01-02T03:04:05.000006+00:00')."""
    if stored is None:
        return ""
    # asyncstore's own fixed-width format, 'YYYY-MM-DD HH:MM:SS.ffffff' (six digits, no offset):
    # PostgreSQL's text for TIMESTAMPTZ can be as long ('… 02:54:47.038+00') and is not it.
    if len(stored) == 26 and stored[10] == " " and stored[20:].isdigit():
        return f"{stored[:10]}T{stored[11:]}+00:00"
    parsed = UTCDateTime.from_db(stored)  # rows written by other tools
    return parsed.isoformat() if parsed is not None else ""


def _csv_plain(stored: Any) -> Any:
    # Money is stored as exact fixed-scale text and JSON as JSON text: both go out as they are.
    return "" if stored is None else stored


def _stored_to_csv(column_type: Any) -> Callable[[Any], Any]:
    return _csv_time if isinstance(column_type, UTCDateTime) else _csv_plain


class ArchiveFile(abc.ABC):
    """Appends rows of `table` to one archive file.

    For a cleanup, a batch is first `stage`d (kept durably in `<path>.pending`), then deleted,
    then `commit`ted with exactly the rows that were deleted. A run that dies between the delete
    and the commit leaves the pending file; the next run `recover`s it (see retention.py).
    """

    def __init__(self, path: Path, table: Table) -> None:
        self.path = path
        self.table = table
        self.codec = TableCodec(table)
        self.columns = [column.name for column in table.columns]
        self.pending = path.with_name(path.name + ".pending")
        self.rows_written = 0
        self.created_empty = True  # this run created the file (so may remove it if unused)
        self.staged_end: int | None = None  # where the archive ended when the batch was staged

    def append(self, rows: Sequence[Sequence[Any]]) -> None:
        """Write `rows` (as stored, in column order) durably.

        Runs on a worker thread (conversion and fsync stay off the event loop)."""
        if rows:
            self._write(rows)
            self.rows_written += len(rows)

    def stage(self, rows: Sequence[Sequence[Any]]) -> None:
        """Keep `rows` durably aside before they are deleted, with where the archive ended."""
        self.staged_end = self._end()
        partial = self.pending.with_name(self.pending.name + ".partial")
        with partial.open("w", encoding="utf-8") as handle:
            handle.write(json.dumps({"archive_end": self.staged_end}) + "\n")
            for row in rows:
                handle.write(json.dumps(list(row), ensure_ascii=False) + "\n")
            _fsync_file(handle)
        os.replace(partial, self.pending)
        fsync_path(self.pending.parent)

    def commit(self, deleted: Sequence[Sequence[Any]]) -> None:
        """Archive the rows of the staged batch that were deleted; drop the staged copy.

        The archive is first cut back to where it ended when the batch was staged: whatever a
        stopped run appended of this batch since (a torn line, or all of it with the staged
        copy still there) goes, and the batch is appended once, whole."""
        if self.staged_end is not None:
            self._cut_to(self.staged_end)
        self.append(deleted)
        self.pending.unlink(missing_ok=True)
        self.staged_end = None

    def staged_rows(self) -> list[list[Any]]:
        """The batch a stopped run staged and may have deleted without archiving."""
        if not self.pending.exists():
            return []
        with self.pending.open(encoding="utf-8") as handle:
            lines = [json.loads(line) for line in handle if line.strip()]
        # Its first line says where the archive ended (a batch staged by an older version: no).
        if lines and isinstance(lines[0], dict):
            self.staged_end = lines.pop(0).get("archive_end")
        return lines

    @abc.abstractmethod
    def _end(self) -> int | None:
        """Where the archive ends now (CSV: its bytes; Parquet: its parts), for `commit` to cut
        back to."""

    @abc.abstractmethod
    def _cut_to(self, end: int) -> None:
        """Make the archive end at `end` again."""

    @abc.abstractmethod
    def _write(self, rows: Sequence[Sequence[Any]]) -> None: ...

    def finish(self) -> Path:
        return self.path


class CsvArchive(ArchiveFile):
    def __init__(self, path: Path, table: Table) -> None:
        super().__init__(path, table)
        self._converters = [_stored_to_csv(column.type) for column in table.columns]
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > 0:
            with path.open(newline="", encoding="utf-8") as existing:
                header = next(csv.reader(existing), [])
            if header != self.columns:
                raise ConfigurationError(
                    f"archive {path} exists and does not hold {table.name} rows (its header "
                    "differs); choose another file"
                )
            self.created_empty = False  # continuing an earlier archive: never remove it
        else:
            with path.open("w", newline="", encoding="utf-8") as new:
                csv.writer(new).writerow(self.columns)
                _fsync_file(new)

    def _end(self) -> int | None:
        return self.path.stat().st_size

    def _cut_to(self, end: int) -> None:
        if self.path.stat().st_size > end:
            with self.path.open("r+b") as handle:
                handle.truncate(end)
                os.fsync(handle.fileno())

    def _write(self, rows: Sequence[Sequence[Any]]) -> None:
        converters = self._converters
        text = io.StringIO()
        csv.writer(text).writerows(
            [convert(value) for convert, value in zip(converters, row, strict=True)] for row in rows
        )
        _append_whole(self.path, text.getvalue().encode("utf-8"))


def _append_whole(path: Path, data: bytes) -> None:
    """Append `data` to `path` durably, or not at all: if a write or the fsync fails (EIO,
    ENOSPC), the file is cut back to its old end before the error goes on. Otherwise the rows
    written before the failure would stay, a torn line among them, and the run that retries
    the batch would append them a second time."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            with contextlib.suppress(OSError):  # the disk's own error is the one to report
                os.ftruncate(fd, end)
                os.fsync(fd)
            raise
    finally:
        os.close(fd)


def _arrow_schema(table: Table) -> Any:
    import pyarrow as pa

    fields = []
    for column in table.columns:
        type_ = column.type
        if isinstance(type_, ExactDecimal):
            arrow_type = pa.decimal128(type_.precision, type_.scale)
        elif isinstance(type_, UTCDateTime):
            arrow_type = pa.timestamp("us", tz="UTC")
        elif isinstance(type_, Integer):
            arrow_type = pa.int64()
        else:
            arrow_type = pa.string()
        fields.append(pa.field(column.name, arrow_type, nullable=bool(column.nullable)))
    return pa.schema(fields)


class ParquetArchive(ArchiveFile):
    def __init__(self, path: Path, table: Table) -> None:
        super().__init__(path, table)
        if path.exists():
            raise ConfigurationError(
                f"archive {path} already exists; a Parquet file cannot be appended to: choose "
                "a new path"
            )
        self._schema = _arrow_schema(table)
        self._json_columns = [c.name for c in table.columns if isinstance(c.type, JSONDocument)]
        # Parts left by a run that stopped half-way are kept: they hold rows already deleted.
        self.parts = path.with_name(path.name + ".parts")
        self.created_empty = not self._part_paths()

    def _part_paths(self) -> list[Path]:
        return sorted(self.parts.glob("*.parquet")) if self.parts.exists() else []

    def _end(self) -> int | None:
        return len(self._part_paths())  # a Parquet archive ends with its last whole part

    def _cut_to(self, end: int) -> None:
        for part in self._part_paths()[end:]:
            part.unlink()
        if self.parts.exists():
            fsync_path(self.parts)

    def _write(self, rows: Sequence[Sequence[Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        records = [self.codec.decode(row) for row in rows]
        existing = self._part_paths()
        number = int(existing[-1].stem) + 1 if existing else 0
        self.parts.mkdir(parents=True, exist_ok=True)
        # JSON documents go in as their JSON text (a Parquet string column).
        records = [
            {**record, **{name: _json_text(record[name]) for name in self._json_columns}}
            for record in records
        ]
        part = self.parts / f"{number:0{_PART_DIGITS}d}.parquet"
        partial = part.with_suffix(".partial")
        pq.write_table(pa.Table.from_pylist(records, schema=self._schema), partial)
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, part)
        fsync_path(self.parts)

    def finish(self) -> Path:
        import pyarrow.parquet as pq

        partial = self.path.with_name(self.path.name + ".partial")
        with pq.ParquetWriter(partial, self._schema) as writer:
            for part in self._part_paths():
                writer.write_table(pq.read_table(part, schema=self._schema))
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, self.path)
        fsync_path(self.path.parent)
        shutil.rmtree(self.parts, ignore_errors=True)
        return self.path


def open_archive(path: Path, table: Table, archive_format: str | None = None) -> ArchiveFile:
    """An archive for `table` rows; the format comes from `archive_format`, else the suffix."""
    chosen = archive_format or path.suffix.lstrip(".").lower()
    if chosen not in ARCHIVE_FORMATS:
        raise ConfigurationError(
            f"archive {path}: unknown format {chosen!r}; use a .csv or .parquet file"
        )
    if chosen == "csv":
        return CsvArchive(path, table)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "Parquet archives need pyarrow (pip install 'asyncstore[parquet]'); or use a .csv file"
        ) from None
    return ParquetArchive(path, table)
