"""The SQL the SQLite backend runs: shared statements compiled for SQLite, and its own.

Shared statements (SQLAlchemy objects from the repository and operations) compile through
`compiled()`; the write path's INSERTs are compiled here per table, and repeated into
multi-row INSERTs (one sqlite3 step per ROWS_PER_STATEMENT rows instead of one per row).
"""

from __future__ import annotations

import functools
import sqlite3
from contextlib import closing

from sqlalchemy import Table, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.expression import Executable

from asyncstore.schema.compiled import CompiledSQL, compile_statement

__all__ = [
    "HEARTBEATS_SQL",
    "MAX_PARAMETERS",
    "ROWS_PER_STATEMENT",
    "SQLITE",
    "compiled",
    "insert_sql",
    "multi_row_sql",
    "rows_per_statement",
]

SQLITE = sqlite.dialect()

# Rows per multi-row INSERT of merged single-row writes: one sqlite3 step (one GIL release and
# re-acquire) per 32 rows instead of per row; measured +25% rows/s single-threaded, and the loop
# thread gets the GIL back sooner. A failed one re-runs just its 32 rows (see batch.py).
ROWS_PER_STATEMENT = 32

# Parameters SQLite takes in one statement (32766 since 3.32): an operation of many rows (a bulk
# chunk) goes in as few statements as that allows, ideally one, which is atomic by itself and so
# needs no savepoint (a savepoint cost bulk inserts 3-4%: its sub-journal copies every page the
# chunk touches).
with closing(sqlite3.connect(":memory:")) as _probe:
    MAX_PARAMETERS = _probe.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


def rows_per_statement(table: Table) -> int:
    """The most rows of `table` one INSERT of an operation may carry."""
    return max(1, MAX_PARAMETERS // len(table.columns))


# Every heartbeat of a batch in ONE statement, each bot keeping its own time (UPDATE … FROM,
# SQLite >= 3.33); RETURNING tells which bots exist. SQLite's own syntax (VALUES columns are
# column1, column2), so it is written here rather than built by SQLAlchemy.
HEARTBEATS_SQL = (
    "UPDATE bot_instances SET last_heartbeat = beat.column2, updated_at = beat.column2 "
    "FROM (VALUES {rows}) AS beat WHERE bot_instances.id = beat.column1 "
    "RETURNING bot_instances.id"
)


def compiled(statement: Executable) -> CompiledSQL:
    return compile_statement(statement, SQLITE)


@functools.lru_cache(maxsize=32)
def insert_sql(table: Table, ignore_duplicates: bool) -> str:
    """The single-row INSERT of every column of `table` (skipping a taken id, if asked)."""
    if ignore_duplicates:
        return compiled(sqlite.insert(table).on_conflict_do_nothing(index_elements=["id"])).sql
    return compiled(insert(table)).sql


@functools.lru_cache(maxsize=128)
def multi_row_sql(single_row_sql: str, rows: int) -> str:
    """'INSERT … VALUES (?, ?) [tail]' for one row → the same with `rows` value groups."""
    head, values, tail = single_row_sql.partition(" VALUES (")
    group, close, rest = tail.partition(")")
    if not values or not close or set(group) - set("?, "):
        raise ValueError(f"not a single-row INSERT compiled by asyncstore: {single_row_sql!r}")
    groups = ", ".join([f"({group})"] * rows)
    return f"{head} VALUES {groups}{rest}"
