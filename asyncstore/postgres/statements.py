"""The SQL the PostgreSQL backend runs: shared statements compiled for asyncpg, and its INSERTs.

SQLAlchemy's asyncpg dialect numbers placeholders `$1, $2, …` and casts each to its column type
(`$3::NUMERIC(20, 8)`), so the server parses the text values exactly as their columns' types.
Multi-row INSERTs repeat the compiled single-row VALUES group, renumbered, up to PostgreSQL's
limit of parameters per statement.
"""

from __future__ import annotations

import functools

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.sql.expression import Executable

from asyncstore.schema.compiled import CompiledSQL, compile_statement
from asyncstore.schema.tables import BOTS

__all__ = [
    "HEARTBEAT",
    "HEARTBEATS_SQL",
    "MAX_PARAMETERS",
    "POSTGRES",
    "compiled",
    "insert_sql",
    "staging_sql",
]

POSTGRES = PGDialect_asyncpg()  # type: ignore[no-untyped-call]

# PostgreSQL takes at most 32767 parameters in one statement.
MAX_PARAMETERS = 32_000

HEARTBEAT = (
    update(BOTS)
    .where(BOTS.c.id == bindparam("bot_id"))
    .values(last_heartbeat=bindparam("at"), updated_at=bindparam("at"))
    .returning(BOTS.c.id)
)

# Every heartbeat of a group commit in ONE statement: the bots' ids and times as two arrays.
HEARTBEATS_SQL = (
    f"UPDATE {BOTS.name} SET last_heartbeat = beat.at::timestamptz, "
    "updated_at = beat.at::timestamptz "
    "FROM unnest($1::text[], $2::text[]) AS beat(id, at) "
    f"WHERE {BOTS.name}.id = beat.id RETURNING {BOTS.name}.id"
)


def compiled(statement: Executable) -> CompiledSQL:
    return compile_statement(statement, POSTGRES)


@functools.lru_cache(maxsize=16)
def _bind_casts(table: Table) -> tuple[str, ...]:
    """Each column's bind cast as the dialect renders it ('::NUMERIC(20, 8)')."""
    return tuple(
        str(bindparam("value", type_=column.type).compile(dialect=POSTGRES)).removeprefix("$1")
        for column in table.columns
    )


@functools.lru_cache(maxsize=128)
def insert_sql(table: Table, ignore_duplicates: bool, rows: int) -> str:
    """INSERT of `rows` rows of every column of `table` (skipping taken ids, if asked)."""
    statement = (
        postgresql.insert(table).on_conflict_do_nothing(index_elements=["id"])
        if ignore_duplicates
        else insert(table)
    )
    single = compiled(statement).sql
    casts = _bind_casts(table)

    def group(row: int) -> str:
        first = row * len(casts)
        return "(" + ", ".join(f"${first + n + 1}{cast}" for n, cast in enumerate(casts)) + ")"

    head, values, after = single.partition(" VALUES ")
    if not values or not after.startswith(group(0)):
        raise ValueError(f"not a single-row INSERT as compiled for asyncpg: {single!r}")
    tail = after.removeprefix(group(0))
    return f"{head} VALUES {', '.join(group(row) for row in range(rows))}{tail}"


@functools.lru_cache(maxsize=16)
def staging_sql(table: Table) -> tuple[str, str, str]:
    """A bulk load that skips taken ids: COPY goes into a temporary table shaped like `table`
    (emptied at every commit), then INSERT … SELECT … ON CONFLICT DO NOTHING moves the rows.
    Returns (the staging table's name, its CREATE, the INSERT that moves its rows)."""
    staging = f"asyncstore_staging_{table.name}"
    columns = ", ".join(POSTGRES.identifier_preparer.quote(column.name) for column in table.columns)
    return (
        staging,
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} (LIKE {table.name}) ON COMMIT DELETE ROWS",
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {staging} "
        "ON CONFLICT (id) DO NOTHING",
    )
