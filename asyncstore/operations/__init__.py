"""What an operator does with a database, from Python or the `asyncstore` command.

- `retention`: chunked cleanup of old trades and metrics, with `archive` (CSV/Parquet files);
  `preview_cleanup` is its dry run;
- `summary`: the spec's trade summary, and `database_summary` (rows per table and bot, sizes);
- `export`: trades to an archive file, a page at a time;
- `compact_database`: give deleted rows' space back, while bots run (`compaction`);
- `check_database`, `take_backup`, `restore_backup`, `upgrade_database`, `schema_state`: the
  admin commands of whichever database the settings name (`asyncstore.backend.admin_for`).
Everything here works on both backends and never asks which one it runs on.
"""

from __future__ import annotations

from pathlib import Path

from asyncstore.backend import admin_for
from asyncstore.clock import utc_ago
from asyncstore.config import StoreSettings
from asyncstore.operations.compaction import compact_database
from asyncstore.operations.export import export_trades
from asyncstore.operations.retention import CleanupPreview, count_old_rows
from asyncstore.operations.summary import BotSummary, DatabaseSummary, database_summary
from asyncstore.reports import BackupInfo, CheckReport, RestoreReport, UpgradeReport
from asyncstore.schema.revisions import SchemaState
from asyncstore.schema.validation import require_days
from asyncstore.store import Store

__all__ = [
    "BotSummary",
    "CleanupPreview",
    "DatabaseSummary",
    "check_database",
    "compact_database",
    "database_summary",
    "export_trades",
    "preview_cleanup",
    "restore_backup",
    "schema_state",
    "take_backup",
    "upgrade_database",
]


async def preview_cleanup(
    store: Store, days_to_keep: int = 90, *, metrics_days_to_keep: int = 365
) -> CleanupPreview:
    """The dry run of `repo.cleanup(days_to_keep, metrics_days_to_keep=…)`: how many rows it
    would delete now, per table, by the same rules; nothing is written."""
    trade_cutoff = utc_ago(days=require_days("days_to_keep", days_to_keep))
    metrics_cutoff = utc_ago(days=require_days("metrics_days_to_keep", metrics_days_to_keep))
    return await count_old_rows(store, trade_cutoff=trade_cutoff, metrics_cutoff=metrics_cutoff)


async def check_database(settings: StoreSettings) -> CheckReport:
    """Integrity, foreign keys and schema revision, read-only."""
    return await admin_for(settings).check()


async def take_backup(settings: StoreSettings, destination: Path | None = None) -> BackupInfo:
    """An online, verified backup (SQLite); on PostgreSQL a ConfigurationError naming pg_dump."""
    return await admin_for(settings).backup(destination)


async def restore_backup(settings: StoreSettings, backup: Path) -> RestoreReport:
    """Replace the database with a verified backup; refused while a Store has it open."""
    return await admin_for(settings).restore(backup)


async def upgrade_database(settings: StoreSettings) -> UpgradeReport:
    """Bring the schema to this version's head (SQLite: after a verified backup)."""
    return await admin_for(settings).upgrade()


async def schema_state(settings: StoreSettings) -> SchemaState:
    """The database's schema revision against this version's head, read-only."""
    return await admin_for(settings).schema_state()
