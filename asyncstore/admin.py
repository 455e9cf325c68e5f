"""The admin functions under their asyncstore 0.1 names, blocking as they were.

New code uses `asyncstore.operations` (async, for either backend). These wrappers keep scripts
written for 0.1 working: each runs the operation to its end on a fresh event loop, so call them
from synchronous code (or a worker thread), never from inside a running event loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from asyncstore.backend import admin_for
from asyncstore.config import StoreSettings, sqlite_path
from asyncstore.operations.export import export_trades
from asyncstore.operations.summary import BotSummary, DatabaseSummary, database_summary
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
    return sqlite_path(settings.database_url)


def schema_state(settings: StoreSettings) -> SchemaState:
    return asyncio.run(admin_for(settings).schema_state())


def check_database(settings: StoreSettings) -> CheckReport:
    return asyncio.run(admin_for(settings).check())


def take_backup(settings: StoreSettings, destination: Path | None = None) -> BackupInfo:
    return asyncio.run(admin_for(settings).backup(destination))


def restore_backup(settings: StoreSettings, backup: Path) -> RestoreReport:
    return asyncio.run(admin_for(settings).restore(backup))
