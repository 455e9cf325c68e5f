"""Compaction: give the space of deleted rows back, on either backend, while bots run.

`await store.compact()` compacts online, through an open Store (what a bot or a scheduler
task calls). `compact_database(settings)` is what `asyncstore compact` runs: a database that can
only be compacted with the database to itself (a SQLite file created with auto_vacuum NONE) is
converted first, refused with DatabaseInUseError while any Store has it open; otherwise it
opens a Store and compacts online. The lock story is in asyncstore.sqlite.compaction and
asyncstore.postgres.compaction.
"""

from __future__ import annotations

from asyncstore.backend import COMPACT_STEP_PAGES, admin_for
from asyncstore.config import StoreSettings
from asyncstore.reports import CompactReport
from asyncstore.store import Store

__all__ = ["compact_database"]


async def compact_database(
    settings: StoreSettings, *, step_pages: int = COMPACT_STEP_PAGES
) -> CompactReport:
    """Compact the database `settings` names (it must exist) and report it, measured."""
    admin = admin_for(settings)
    admin.require_database()  # never create a database just to compact it
    converted = await admin.compact_offline_if_needed()
    if converted is not None:
        return converted
    async with Store(**settings.model_dump()) as store:
        return await store.compact(step_pages=step_pages)
