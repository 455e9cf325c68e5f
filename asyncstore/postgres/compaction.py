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

__all__ = ["TABLES", "vacuum", "vacuum_tables"]

TABLES = tuple(table.name for table in DATA_TABLES)
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
    longest = await vacuum(conn, TABLES)
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


async def vacuum(conn: Any, tables: Sequence[str]) -> float:
    """VACUUM (ANALYZE) each of `tables` (asyncstore's own: Store.reclaim_deleted checked the
    names) on `conn`; the longest one's seconds."""
    longest = 0.0
    for table in tables:
        started = time.perf_counter()
        await conn.execute(f"VACUUM (ANALYZE) {table}")
        longest = max(longest, time.perf_counter() - started)
    return longest
