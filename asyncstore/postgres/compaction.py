"""Compaction on PostgreSQL: a plain `VACUUM (ANALYZE)` of asyncstore's tables.

Plain VACUUM takes a SHARE UPDATE EXCLUSIVE lock, which never blocks reads or writes (only
another VACUUM and schema changes): bots keep running. It makes the space of deleted rows
reusable inside each table and refreshes the planner's statistics, but gives pages back to the
operating system only from a table's end, so the size may barely move; the report measures it
honestly (pg_total_relation_size before and after). VACUUM FULL would rewrite the tables smaller
but locks each one against reads and writes for its whole run: asyncstore does not run it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from asyncstore.reports import CompactReport
from asyncstore.schema.tables import DATA_TABLES

__all__ = ["CLEANUP_VACUUM", "COMPACT_VACUUM", "TABLES", "vacuum", "vacuum_tables"]

TABLES = tuple(table.name for table in DATA_TABLES)
# Compaction is asked for to give room back: it waits its turn for each table's lock, and cuts
# empty pages off a table's end (a lock of a moment, which PostgreSQL gives up at once when a
# bot's read or write waits for it).
COMPACT_VACUUM = "VACUUM (ANALYZE)"
# A cleanup's VACUUM never waits for a lock: a table that autovacuum, a compaction or another
# cleanup is vacuuming is skipped (that is being done). Nor does it cut the table's end off,
# which hot standbys replay as a lock that can cancel their reads: the next inserts reuse those
# pages anyway.
CLEANUP_VACUUM = "VACUUM (ANALYZE, SKIP_LOCKED, TRUNCATE false)"
# Each table with its indexes and TOAST: the room it takes on disk.
_SIZE_SQL = (
    "SELECT sum(pg_total_relation_size(name::regclass))::bigint FROM unnest($1::text[]) name"
)

NOTES = [
    "plain VACUUM (ANALYZE): never blocks readers or writers; deleted rows' space is reusable "
    "inside the tables now, and statistics are fresh",
    "PostgreSQL gives space back to the operating system only from a table's end, so the size "
    "may barely change; VACUUM FULL would shrink more but locks each table against reads and "
    "writes while it runs (asyncstore does not run it)",
]


async def vacuum_tables(conn: Any, location: str) -> CompactReport:
    """VACUUM (ANALYZE) each table on `conn` (outside any transaction block: VACUUM cannot
    run inside one), as the tables' owner."""
    started = time.perf_counter()
    before = int(await conn.fetchval(_SIZE_SQL, list(TABLES)))
    _, longest = await vacuum(conn, TABLES, COMPACT_VACUUM)
    after = int(await conn.fetchval(_SIZE_SQL, list(TABLES)))
    return CompactReport(
        location=location,
        method="postgresql vacuum",
        bytes_before=before,
        bytes_after=after,
        log_bytes_before=None,
        log_bytes_after=None,
        free_pages_before=None,
        free_pages_after=None,
        page_size=None,
        steps=len(TABLES),
        seconds=time.perf_counter() - started,
        longest_step_ms=longest * 1000,
        notes=list(NOTES),
    )


async def vacuum(conn: Any, tables: Sequence[str], command: str) -> tuple[list[str], float]:
    """Run `command` (CLEANUP_VACUUM or COMPACT_VACUUM) on each of `tables` (asyncstore's own:
    Store.reclaim_deleted checked the names) on `conn`: the tables it vacuumed, and the longest
    one's seconds. PostgreSQL skips a table with a WARNING rather than an error (its lock is
    taken, under SKIP_LOCKED; the user does not own it): that table is left out."""
    skipped: list[str] = []

    def listener(_conn: Any, message: Any) -> None:
        # Called soon after the WARNING arrives, ahead of the statement's own result.
        skipped.append(str(message))

    conn.add_log_listener(listener)
    vacuumed: list[str] = []
    longest = 0.0
    try:
        for table in tables:
            started = time.perf_counter()
            skipped.clear()
            await conn.execute(f"{command} {table}")
            longest = max(longest, time.perf_counter() - started)
            if not any("skipping" in warning for warning in skipped):
                vacuumed.append(table)
    finally:
        conn.remove_log_listener(listener)
    return vacuumed, longest
