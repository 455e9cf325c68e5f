"""The one place the PostgreSQL backend executes a write operation, on a connection inside the
caller's transaction. Each function returns the operation's result and how many statements of
each kind it ran (heartbeat UPDATEs are counted as they are sent)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from typing import Any

from sqlalchemy.sql.expression import Executable

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


def _bound(
    statement: Executable, values: Mapping[str, Any], log: StatementLog
) -> tuple[str, tuple[Any, ...]]:
    """The statement's SQL for asyncpg and its values in order, logged."""
    text = compiled(statement)
    params = text.params(values)
    log(text.sql, params)
    return text.sql, params


async def run_write(conn: Any, op: WriteOp[Any], log: StatementLog) -> tuple[Any, int]:
    """Run `op` on `conn`; returns (its result, heartbeat UPDATEs sent)."""
    if isinstance(op, InsertRows):
        return await _insert(conn, op, log), 0
    if isinstance(op, UpdateRow):
        sql, params = _bound(op.statement, op.bind_values, log)
        row = await conn.fetchrow(sql, *params)
        return (None if row is None else tuple(row)), 0
    if isinstance(op, StampHeartbeat):
        sql, params = _bound(HEARTBEAT, {"bot_id": op.bot_id, "at": op.at}, log)
        return await conn.fetchval(sql, *params) is not None, 1
    if isinstance(op, AtomicStatements):
        counts = []
        for statement, values in op.statements:
            sql, params = _bound(statement, values, log)
            counts.append(_rowcount(await conn.execute(sql, *params)))
        return counts, 0
    raise TypeError(f"not a write operation: {op!r}")
