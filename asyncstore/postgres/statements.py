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

__all__ = ["HEARTBEAT", "MAX_PARAMETERS", "POSTGRES", "compiled", "insert_sql"]

POSTGRES = PGDialect_asyncpg()  # type: ignore[no-untyped-call]

# PostgreSQL takes at most 32767 parameters in one statement.
MAX_PARAMETERS = 32_000

HEARTBEAT = (
    update(BOTS)
    .where(BOTS.c.id == bindparam("bot_id"))
    .values(last_heartbeat=bindparam("at"), updated_at=bindparam("at"))
    .returning(BOTS.c.id)
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
