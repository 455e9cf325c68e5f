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
import csv
import json
import os
import shutil
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, Table

from asyncstore.errors import ConfigurationError
from asyncstore.types import ExactDecimal, JSONDocument, UTCDateTime

__all__ = ["ARCHIVE_FORMATS", "ArchiveFile", "open_archive"]

ARCHIVE_FORMATS = ("csv", "parquet")
_PART_DIGITS = 8


def _fsync_file(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _csv_text(value: Any, column_type: Any) -> str:
    if value is None:
        return ""
    if isinstance(column_type, JSONDocument):
        return _json_text(value) or ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


class ArchiveFile(abc.ABC):
    """Appends rows (dicts of decoded values) of `table` to one archive file."""

    def __init__(self, path: Path, table: Table) -> None:
        self.path = path
        self.table = table
        self.columns = [column.name for column in table.columns]
        self.rows_written = 0
        self.created_empty = True  # this run created the file (so may remove it if unused)
        self._last_count = 0

    @abc.abstractmethod
    def append(self, rows: Sequence[dict[str, Any]]) -> int:
        """Write `rows` durably; returns a mark to pass to `rewind` to take them back."""

    @abc.abstractmethod
    def rewind(self, mark: int, rows: Sequence[dict[str, Any]]) -> None:
        """Forget what was appended since `mark`, then append `rows` instead."""

    def finish(self) -> Path:
        return self.path

    def _counted(self, rows: int) -> None:
        self.rows_written += rows
        self._last_count = rows

    def _uncount_last(self) -> None:
        # `rewind` only ever takes back the latest append.
        self.rows_written -= self._last_count
        self._last_count = 0


class CsvArchive(ArchiveFile):
    def __init__(self, path: Path, table: Table) -> None:
        super().__init__(path, table)
        self._types = [column.type for column in table.columns]
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

    def append(self, rows: Sequence[dict[str, Any]]) -> int:
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            mark = handle.tell()
            writer = csv.writer(handle)
            for row in rows:
                writer.writerow(
                    [
                        _csv_text(row[name], type_)
                        for name, type_ in zip(self.columns, self._types, strict=True)
                    ]
                )
            _fsync_file(handle)
        self._counted(len(rows))
        return mark

    def rewind(self, mark: int, rows: Sequence[dict[str, Any]]) -> None:
        self._uncount_last()
        with self.path.open("r+b") as handle:
            handle.truncate(mark)
            _fsync_file(handle)
        self.append(rows)


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
        self.parts.mkdir(parents=True, exist_ok=True)
        self.created_empty = not self._part_paths()

    def _part_paths(self) -> list[Path]:
        return sorted(self.parts.glob("*.parquet"))

    def append(self, rows: Sequence[dict[str, Any]]) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        existing = self._part_paths()
        mark = int(existing[-1].stem) + 1 if existing else 0
        # JSON documents go in as their JSON text (a Parquet string column).
        records = [
            {**row, **{name: _json_text(row[name]) for name in self._json_columns}} for row in rows
        ]
        part = self.parts / f"{mark:0{_PART_DIGITS}d}.parquet"
        partial = part.with_suffix(".partial")
        pq.write_table(pa.Table.from_pylist(records, schema=self._schema), partial)
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, part)
        _fsync_dir(self.parts)
        self._counted(len(rows))
        return mark

    def rewind(self, mark: int, rows: Sequence[dict[str, Any]]) -> None:
        self._uncount_last()
        for part in self._part_paths():
            if int(part.stem) >= mark:
                part.unlink()
        self.append(rows)

    def finish(self) -> Path:
        import pyarrow.parquet as pq

        partial = self.path.with_name(self.path.name + ".partial")
        with pq.ParquetWriter(partial, self._schema) as writer:
            for part in self._part_paths():
                writer.write_table(pq.read_table(part, schema=self._schema))
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, self.path)
        _fsync_dir(self.path.parent)
        shutil.rmtree(self.parts)
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
