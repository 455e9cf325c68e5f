"""Operator commands on a SQLite file: check, back up, restore, upgrade, schema revision, and
the compaction that needs the file to itself (asyncstore.sqlite.compaction).

`SQLiteAdmin` is the SQLite side of `asyncstore.backend.BackendAdmin`, for the `asyncstore`
command and for scripts. The work is blocking file work (integrity checks, the backup API,
fsync), so every method runs it on a worker thread: nothing here blocks the event loop.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

from asyncstore.config import StoreSettings, backup_folder, sqlite_file, sqlite_path
from asyncstore.errors import AsyncStoreError, BackupError, ConfigurationError, SchemaVersionError
from asyncstore.reports import BackupInfo, CheckReport, CompactReport, RestoreReport, UpgradeReport
from asyncstore.schema.revisions import SchemaState
from asyncstore.sqlite.backup import (
    backup_database,
    integrity_problems,
    prune_backups,
    restore_database,
    timestamped_backup_path,
)
from asyncstore.sqlite.compaction import compact_offline_if_needed
from asyncstore.sqlite.connections import read_only_connection
from asyncstore.sqlite.errors import translate_sqlite_error
from asyncstore.sqlite.file_lock import DatabaseLock
from asyncstore.sqlite.schema import read_schema_state, upgrade_database
from asyncstore.tenants import sqlite_tenant_files
from asyncstore.threads import in_thread_to_the_end

T = TypeVar("T")

__all__ = [
    "SQLiteAdmin",
    "check_database",
    "require_database",
    "restore_backup",
    "schema_state",
    "take_backup",
]


class SQLiteAdmin:
    """The admin commands on the SQLite file of `settings`."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.path = sqlite_file(settings)
        self.location = str(self.path)

    def require_database(self) -> None:
        require_database(self.settings)

    async def schema_state(self) -> SchemaState:
        return await self._on_a_thread(schema_state, self.settings)

    async def upgrade(self) -> UpgradeReport:
        path = require_database(self.settings)
        return await self._on_a_thread(upgrade_database, path, self.settings)

    async def check(self) -> CheckReport:
        return await self._on_a_thread(check_database, self.settings)

    async def backup(self, destination: Path | None = None) -> BackupInfo:
        return await self._on_a_thread(take_backup, self.settings, destination)

    async def restore(self, backup: Path) -> RestoreReport:
        return await self._on_a_thread(restore_backup, self.settings, backup)

    async def tenants(self) -> dict[str, int]:
        return await self._on_a_thread(_tenant_sizes, sqlite_path(self.settings.database_url))

    async def compact_offline_if_needed(self) -> CompactReport | None:
        path = require_database(self.settings)
        return await self._on_a_thread(compact_offline_if_needed, path, self.settings)

    async def _on_a_thread(self, work: Callable[..., T], *args: Any) -> T:
        """Blocking file work on a worker thread (a cancelled caller waits for it: it may hold
        the exclusive lock); sqlite3's errors come back in the asyncstore tree."""
        try:
            return await in_thread_to_the_end(work, *args)
        except sqlite3.Error as exc:
            raise _admin_error(exc, self.path) from exc


def _tenant_sizes(database_file: Path) -> dict[str, int]:
    sizes = {}
    for tenant, path in sqlite_tenant_files(database_file).items():
        wal = path.with_name(path.name + "-wal")
        sizes[tenant] = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return sizes


def _admin_error(exc: sqlite3.Error, path: Path) -> BaseException:
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return AsyncStoreError(
            f"{path}: {exc} (is it a sound asyncstore database? `asyncstore check` tells)"
        )
    return translate_sqlite_error(exc, str(path))


def require_database(settings: StoreSettings) -> Path:
    """The database file of `settings`, which must exist (admin commands never create one)."""
    path = sqlite_file(settings)
    if not path.is_file():
        tenant = f" --tenant {settings.tenant}" if settings.tenant else ""
        raise ConfigurationError(
            f"no database at {path}; create it with "
            f"`asyncstore init --url {settings.database_url}{tenant}`"
        )
    return path


def _read_only(path: Path, settings: StoreSettings) -> sqlite3.Connection:
    return read_only_connection(path, settings.busy_timeout_ms)


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
        problems = integrity or [str(exc)]
        return CheckReport(path, problems, [], None, "unknown", _check_notes(problems, [], "?"))
    notes = _check_notes(integrity, violations, str(journal_mode))
    return CheckReport(path, integrity, violations, schema, str(journal_mode), notes)


def _check_notes(integrity: list[str], violations: list[str], journal_mode: str) -> list[str]:
    return [
        f"integrity_check: {'ok' if not integrity else 'FAILED'}",
        f"foreign keys: {len(violations)} violations",
        f"journal mode: {journal_mode}",
    ]


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
    path = sqlite_file(settings)
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
