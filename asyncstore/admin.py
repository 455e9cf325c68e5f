"""What an operator asks of a database: its summary, a health check, an export, a backup.

The `asyncstore` command (cli.py) prints these; they are plain functions so scripts and
dashboards can call them too. File-level work (integrity checks, backups, restores) is blocking
and runs on a worker thread; nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Table

from asyncstore.archive import ArchiveFile
from asyncstore.backup import (
    BackupInfo,
    backup_database,
    integrity_problems,
    prune_backups,
    restore_database,
    timestamped_backup_path,
)
from asyncstore.config import StoreSettings, backup_folder, sqlite_path
from asyncstore.errors import BackupError, ConfigurationError, SchemaVersionError
from asyncstore.file_lock import DatabaseLock
from asyncstore.models import BotInstance, PerformanceMetrics, Trade
from asyncstore.schema_migrations import SchemaState, read_schema_state
from asyncstore.store import Store
from asyncstore.types import UTCDateTime

__all__ = [
    "BotSummary",
    "CheckReport",
    "DatabaseSummary",
    "RestoreReport",
    "check_database",
    "database_summary",
    "export_trades",
    "require_database",
    "restore_backup",
    "schema_state",
    "take_backup",
]

TRADES: Table = Trade.__table__  # type: ignore[assignment]
TABLES = (BotInstance.__tablename__, Trade.__tablename__, PerformanceMetrics.__tablename__)
PER_BOT_SQL = (
    "SELECT b.id, b.type, b.status, b.last_heartbeat, count(t.id), "
    "coalesce(sum(CASE WHEN t.status = 'open' THEN 1 ELSE 0 END), 0) "
    "FROM bot_instances AS b LEFT JOIN trades AS t ON t.bot_id = b.id "
    "GROUP BY b.id ORDER BY b.id"
)


def require_database(settings: StoreSettings) -> Path:
    """The database file of `settings`, which must exist (admin commands never create one)."""
    path = sqlite_path(settings.database_url)
    if not path.is_file():
        raise ConfigurationError(
            f"no database at {path}; create it with `asyncstore init --url {settings.database_url}`"
        )
    return path


def _wal_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


@dataclass(frozen=True, slots=True)
class BotSummary:
    id: str
    type: str
    status: str
    last_heartbeat: datetime | None
    trades: int
    open_trades: int


@dataclass(frozen=True, slots=True)
class DatabaseSummary:
    path: Path | None  # None on PostgreSQL
    revision: str | None
    file_bytes: int
    wal_bytes: int
    rows: dict[str, int]
    open_trades: int
    bots: list[BotSummary] = field(default_factory=list)


async def database_summary(store: Store) -> DatabaseSummary:
    """Counts per table and per bot, open trades, last heartbeats, file and WAL size."""
    rows = {}
    for table in TABLES:
        ((rows[table],),) = await store.fetch_all(f"SELECT count(*) FROM {table}")
    ((open_trades,),) = await store.fetch_all("SELECT count(*) FROM trades WHERE status = 'open'")
    bots = [
        BotSummary(bot_id, kind, status, UTCDateTime.from_db(beat), int(total), int(opened))
        for bot_id, kind, status, beat, total, opened in await store.fetch_all(PER_BOT_SQL)
    ]
    path = store.path
    if path is None:  # PostgreSQL: the database's size on the server
        ((file_bytes,),) = await store.fetch_all("SELECT pg_database_size(current_database())")
        wal_bytes = 0
    else:
        file_bytes, wal_bytes = path.stat().st_size, _wal_bytes(path)
    return DatabaseSummary(
        path=path,
        revision=store.schema.current if store.schema else None,
        file_bytes=int(file_bytes),
        wal_bytes=wal_bytes,
        rows=rows,
        open_trades=int(open_trades),
        bots=bots,
    )


@dataclass(frozen=True, slots=True)
class CheckReport:
    path: Path | str  # the file, or a PostgreSQL URL
    integrity: list[str]  # empty: PRAGMA integrity_check said ok
    foreign_key_violations: list[str]
    schema: SchemaState | None  # None: the file could not be read far enough to tell
    journal_mode: str

    @property
    def ok(self) -> bool:
        return (
            not self.integrity
            and not self.foreign_key_violations
            and self.schema is not None
            and self.schema.status == "current"
        )

    @property
    def problems(self) -> list[str]:
        found = [f"integrity: {message}" for message in self.integrity]
        found += [f"foreign key: {message}" for message in self.foreign_key_violations]
        if self.schema is None:
            found.append("schema: the revision could not be read")
        elif self.schema.status != "current":
            found.append(f"schema: {self.schema.describe()} ({self.schema.status})")
        return found


def _read_only(path: Path, settings: StoreSettings) -> sqlite3.Connection:
    uri = f"file:{quote(str(path))}?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=settings.busy_timeout_ms / 1000)


def schema_state(settings: StoreSettings) -> SchemaState:
    """The database's schema revision against this version's head, read-only. Blocking."""
    with closing(_read_only(require_database(settings), settings)) as conn:
        return read_schema_state(conn)


def check_database(settings: StoreSettings) -> CheckReport:
    """Integrity, foreign keys and schema revision of the file, read-only. Blocking.

    A file too damaged to answer is reported as a problem (not raised): that is what `check` is
    for."""
    path = require_database(settings)
    integrity = integrity_problems(path, busy_timeout_ms=settings.busy_timeout_ms)
    try:
        with closing(_read_only(path, settings)) as conn:
            violations = [
                f"{table} row {rowid} names a missing {parent} row"
                for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check")
            ]
            schema = read_schema_state(conn)
            ((journal_mode,),) = conn.execute("PRAGMA journal_mode").fetchall()
    except (sqlite3.DatabaseError, SchemaVersionError) as exc:
        return CheckReport(path, integrity or [str(exc)], [], None, "unknown")
    return CheckReport(path, integrity, violations, schema, str(journal_mode))


def take_backup(settings: StoreSettings, destination: Path | None = None) -> BackupInfo:
    """An online verified backup: to `destination`, else to the backups folder (kept to
    `backup_keep` files). Safe while bots write. Blocking."""
    path = require_database(settings)
    if destination is not None:
        return backup_database(path, destination, busy_timeout_ms=settings.busy_timeout_ms)
    folder = backup_folder(settings)
    info = backup_database(
        path,
        timestamped_backup_path(folder, path, "manual"),
        busy_timeout_ms=settings.busy_timeout_ms,
    )
    prune_backups(folder, path, settings.backup_keep, protect=[info.path])
    return info


@dataclass(frozen=True, slots=True)
class RestoreReport:
    restored_from: Path
    revision: SchemaState  # the restored database's schema revision
    previous_saved_to: Path | None  # the database as it was, in case the restore was a mistake
    damaged_moved_to: Path | None  # a database too damaged to back up, moved aside instead


def _backup_schema(backup: Path, settings: StoreSettings) -> SchemaState:
    problems = integrity_problems(backup, busy_timeout_ms=settings.busy_timeout_ms)
    if problems:
        raise BackupError(
            f"{backup} is not a sound database ({'; '.join(problems[:3])}); nothing was restored"
        )
    try:
        with closing(_read_only(backup, settings)) as conn:
            state = read_schema_state(conn)
    except SchemaVersionError as exc:
        raise BackupError(f"{backup}: {exc}; nothing was restored") from exc
    if state.status == "empty":
        raise BackupError(f"{backup} holds no asyncstore tables; nothing was restored")
    return state


def _move_aside(path: Path, folder: Path) -> Path:
    """Keep a database that cannot even be backed up (with its -wal and -shm) for inspection."""
    folder.mkdir(parents=True, exist_ok=True)
    named = timestamped_backup_path(folder, path, "moved-aside")
    aside = named.with_name(named.name.removesuffix(".db") + ".damaged")  # never pruned
    for suffix in ("-wal", "-shm", ""):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.replace(companion, aside.with_name(aside.name + suffix))
    return aside


def restore_backup(settings: StoreSettings, backup: Path) -> RestoreReport:
    """Replace the database with `backup`; refused while any Store has it open. Blocking.

    The backup is checked first (sound, holds asyncstore tables); nothing is written before.
    The current database is backed up first, so a restore can be undone; one too damaged to
    back up is moved aside instead; a missing one is simply recreated from the backup.
    """
    path = sqlite_path(settings.database_url)
    if not backup.is_file():
        raise ConfigurationError(f"no backup file at {backup}")
    state = _backup_schema(backup, settings)
    lock = DatabaseLock(path)
    lock.acquire_exclusive("restore it")
    try:
        folder = backup_folder(settings)
        previous = damaged = None
        if path.exists():
            try:
                previous = backup_database(
                    path,
                    timestamped_backup_path(folder, path, "before-restore"),
                    busy_timeout_ms=settings.busy_timeout_ms,
                ).path
            except BackupError:
                damaged = _move_aside(path, folder)
        restore_database(backup, path, busy_timeout_ms=settings.busy_timeout_ms)
        protect = [backup] + ([previous] if previous else [])
        prune_backups(folder, path, settings.backup_keep, protect=protect)
    finally:
        lock.release()
    return RestoreReport(backup.absolute(), state, previous, damaged)


def _export_sql(by_bot: bool) -> str:
    columns = ", ".join(column.name for column in TRADES.columns)
    bot_filter = "bot_id = ? AND " if by_bot else ""
    return f"SELECT {columns} FROM trades WHERE {bot_filter}id > ? ORDER BY id LIMIT ?"


async def export_trades(
    store: Store, sink: ArchiveFile, *, bot_id: str | None = None, page_rows: int = 5_000
) -> int:
    """Write a bot's trades (all bots' when `bot_id` is None) to `sink`, oldest first (ids are
    time-ordered), a page at a time so memory stays flat. Returns the number of rows written."""
    sql = _export_sql(bot_id is not None)
    prefix: tuple[Any, ...] = (bot_id,) if bot_id is not None else ()
    last_id = ""
    written = 0
    while True:
        rows = await store.fetch_all(sql, (*prefix, last_id, page_rows))
        if not rows:
            break
        await asyncio.to_thread(sink.append, rows)
        written += len(rows)
        last_id = rows[-1][0]  # id is the first column
    await asyncio.to_thread(sink.finish)
    return written
