"""The one place the PostgreSQL backend executes a write operation, on a connection inside the
caller's transaction. Each function returns the operation's result and how many statements of
each kind it ran (heartbeat UPDATEs are counted as they are sent)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

from asyncstore.postgres.statements import HEARTBEAT, MAX_PARAMETERS, compiled, insert_sql
from asyncstore.writes import AtomicStatements, InsertRows, StampHeartbeat, UpdateRow, WriteOp

__all__ = ["StatementLog", "run_write"]

# Called with each statement and its values before it is sent (SQL logging).
StatementLog = Callable[[str, Sequence[Any]], None]


def _rowcount(status: str) -> int:
    """asyncpg's command status ('DELETE 12', 'INSERT 0 3') → the number of rows."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


async def _insert(conn: Any, op: InsertRows, log: StatementLog) -> int:
    """Multi-row INSERTs (one round trip per ~1000 rows); the count is what was inserted."""
    if not op.rows:
        return 0
    per_statement = max(1, MAX_PARAMETERS // len(op.table.columns))
    inserted = 0
    for start in range(0, len(op.rows), per_statement):
        rows = op.rows[start : start + per_statement]
        sql = insert_sql(op.table, op.ignore_duplicates, len(rows))
        params = tuple(chain.from_iterable(rows))
        log(sql, params)
        inserted += _rowcount(await conn.execute(sql, *params))
    return inserted


async def run_write(conn: Any, op: WriteOp[Any], log: StatementLog) -> tuple[Any, int]:
    """Run `op` on `conn`; returns (its result, heartbeat UPDATEs sent)."""
    if isinstance(op, InsertRows):
        return await _insert(conn, op, log), 0
    if isinstance(op, UpdateRow):
        statement = compiled(op.statement)
        params = statement.params(op.bind_values)
        log(statement.sql, params)
        row = await conn.fetchrow(statement.sql, *params)
        return (None if row is None else tuple(row)), 0
    if isinstance(op, StampHeartbeat):
        statement = compiled(HEARTBEAT)
        params = statement.params({"bot_id": op.bot_id, "at": op.at})
        log(statement.sql, params)
        return await conn.fetchval(statement.sql, *params) is not None, 1
    if isinstance(op, AtomicStatements):
        counts = []
        for each, values in op.statements:
            statement = compiled(each)
            params = statement.params(values)
            log(statement.sql, params)
            counts.append(_rowcount(await conn.execute(statement.sql, *params)))
        return counts, 0
    raise TypeError(f"not a write operation: {op!r}")
