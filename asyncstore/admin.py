"""The admin functions under their asyncstore 0.1 names, blocking as they were.

New code uses `asyncstore.operations` (async, for either backend). These wrappers keep scripts
written for 0.1 working: each runs the operation to its end on a fresh event loop, so call them
from synchronous code (or a worker thread), never from inside a running event loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from asyncstore import operations
from asyncstore.backend import admin_for
from asyncstore.config import StoreSettings, sqlite_file
from asyncstore.operations import BotSummary, DatabaseSummary, database_summary, export_trades
from asyncstore.reports import BackupInfo, CheckReport, RestoreReport
from asyncstore.schema.revisions import SchemaState

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


def require_database(settings: StoreSettings) -> Path:
    """The database file of `settings`, which must exist (admin commands never create one)."""
    admin_for(settings).require_database()
    return sqlite_file(settings)


def schema_state(settings: StoreSettings) -> SchemaState:
    return asyncio.run(operations.schema_state(settings))


def check_database(settings: StoreSettings) -> CheckReport:
    return asyncio.run(operations.check_database(settings))


def take_backup(settings: StoreSettings, destination: Path | None = None) -> BackupInfo:
    return asyncio.run(operations.take_backup(settings, destination))


def restore_backup(settings: StoreSettings, backup: Path) -> RestoreReport:
    return asyncio.run(operations.restore_backup(settings, backup))
