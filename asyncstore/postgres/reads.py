"""Reads on a pool: one query's rows, or a server-side cursor's chunks; the SQL they run.

A read whose rows came stands even if handing its connection back fails afterwards (the
server ended the session just after): the pool drops that connection, the caller has its rows.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from sqlalchemy.sql.expression import Executable

from asyncstore.postgres.raw_sql import numbered_placeholders
from asyncstore.postgres.statements import compiled
from asyncstore.schema.compiled import named_params, positional_params

__all__ = ["as_tuples", "cursor_chunks", "fetch_rows", "sql_and_values"]


def as_tuples(rows: Sequence[Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in rows]


async def fetch_rows(pool: Any, statement: str, params: Sequence[Any]) -> list[Any]:
    rows: list[Any] | None = None
    try:
        async with pool.acquire() as conn:
            rows = list(await conn.fetch(statement, *params))
    except Exception:
        if rows is None:
            raise
        # The rows came; only handing the connection back failed (the server ended the session
        # just after), and the pool has dropped that connection: the read stands.
    return rows


async def cursor_chunks(
    pool: Any, statement: str, params: Sequence[Any], rows_per_chunk: int
) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    ended = False  # every row was read, or the caller stopped early
    try:
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            cursor = await conn.cursor(statement, *params)
            try:
                while records := await cursor.fetch(rows_per_chunk):
                    yield [tuple(record) for record in records]
            except GeneratorExit:
                ended = True
                raise
            ended = True
    except Exception:
        if not ended:
            raise
        # The rows came (or were no longer wanted); only ending the read-only transaction or
        # handing the connection back failed, and the pool drops that connection: as `fetch_rows`.


def sql_and_values(
    statement: Executable | str, params: Mapping[str, Any] | Sequence[Any]
) -> tuple[str, Sequence[Any]]:
    """A SQL string binds by position (`?`, numbered here); a SQLAlchemy statement by name."""
    if isinstance(statement, str):
        return numbered_placeholders(statement), tuple(positional_params(params))
    text = compiled(statement)
    return text.sql, text.params(named_params(params))
