"""The one place the PostgreSQL backend executes a write operation, on a connection inside the
writer's transaction. Each function returns the operation's result and how many statements of
each kind it ran (heartbeat UPDATEs are counted as they are sent).

Bulk chunks travel by COPY, in PostgreSQL's text format: the values are asyncstore's stored text
already (money '50000.10000000', naive UTC time, JSON), which the server parses exactly, as it
does for an INSERT's parameters; only tabs, newlines and backslashes in text need escaping.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from sqlalchemy.sql.expression import Executable

from asyncstore.feed.change import Note
from asyncstore.feed.notes import statement_notes
from asyncstore.postgres.errors import is_connection_loss, translate_postgres_error
from asyncstore.postgres.statements import (
    HEARTBEAT,
    MAX_PARAMETERS,
    compiled,
    insert_sql,
    staging_sql,
)
from asyncstore.writes import (
    AtomicStatements,
    InsertRows,
    ScriptStatement,
    StampHeartbeat,
    TransactionScript,
    UpdateRow,
    WriteOp,
)

__all__ = ["Refused", "StatementLog", "copy_text", "run_write"]

# Called with each statement and its values before it is sent (SQL logging).
StatementLog = Callable[[str, Sequence[Any]], None]


def _rowcount(status: str) -> int:
    """asyncpg's command status ('DELETE 12', 'INSERT 0 3') → the number of rows."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


# COPY's text format: these characters in a value are written as backslash escapes.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_NULL = "\\N"


def _copy_field(value: Any) -> str:
    if value is None:
        return _COPY_NULL
    return str(value).translate(_COPY_ESCAPES)


def copy_text(rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows of stored values in COPY's text format (tab-separated lines, \\N for NULL)."""
    separators = len(rows[0]) - 1 if rows else 0
    lines = []
    for row in rows:
        try:
            line = "\t".join([_COPY_NULL if value is None else value for value in row])
        except TypeError:  # a value that is not text (a number): the careful way
            line = None
        # Most rows need no escaping: their only tabs are the separators, their only
        # backslashes the NULL markers, and no value holds a line break (money, times, ids).
        # Others are escaped value by value.
        if (
            line is None
            or line.count("\t") != separators
            or line.count("\\") != row.count(None)
            or "\n" in line
            or "\r" in line
        ):
            line = "\t".join([_copy_field(value) for value in row])
        lines.append(line)
    lines.append("")
    return "\n".join(lines).encode()


async def _copy(conn: Any, op: InsertRows, log: StatementLog) -> int:
    """A bulk chunk by COPY; with ignore_duplicates through a staging table."""
    columns = [column.name for column in op.table.columns]
    data = io.BytesIO(copy_text(op.rows))  # a file to read (bytes would be taken for a path)
    if not op.ignore_duplicates:
        log(f"COPY {op.table.name} FROM STDIN", (f"{len(op.rows)} rows",))
        status = await conn.copy_to_table(op.table.name, source=data, columns=columns)
        return _rowcount(status)
    staging, create, move = staging_sql(op.table)
    prepare = f"{create}; TRUNCATE {staging}"  # empty, even if a chunk before used it
    log(prepare, ())
    await conn.execute(prepare)
    log(f"COPY {staging} FROM STDIN", (f"{len(op.rows)} rows",))
    await conn.copy_to_table(staging, source=data, columns=columns)
    log(move, ())
    return _rowcount(await conn.execute(move))


async def _insert(conn: Any, op: InsertRows, log: StatementLog) -> int:
    """Multi-row INSERTs (one round trip per ~1000 rows), or COPY for a bulk chunk; the count
    is what was inserted."""
    if not op.rows:
        return 0
    if op.bulk and len(op.rows) > 1:
        return await _copy(conn, op, log)
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


async def run_write(
    conn: Any, op: WriteOp[Any], log: StatementLog, notes: list[Note] | None = None
) -> tuple[Any, int]:
    """Run `op` on `conn`; returns (its result, heartbeat UPDATEs sent). A script adds what each
    of its statements wrote to `notes`."""
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
    if isinstance(op, TransactionScript):
        return await _run_script(conn, op, log, [] if notes is None else notes), 0
    raise TypeError(f"not a write operation: {op!r}")


@dataclass(frozen=True, slots=True)
class Refused:
    """A script's result when it refused (raised) before writing anything: the operation fails
    with `error`, and the batch's transaction goes on (no statement failed, nothing to undo;
    rolling the whole group commit back for a refused close would cost every other caller)."""

    error: Exception


async def _run_script(
    conn: Any, op: TransactionScript[Any], log: StatementLog, notes: list[Note]
) -> Any:
    """Drive a script: run each statement it yields, send it the rows. A statement's error is
    translated with that statement's subject (inside an atomic unit: the write that failed);
    a lost connection stays the driver's error, for the batch to see it as one. A script that
    raises after reads only is `Refused`; after a write, its error aborts the batch."""
    script = op.script()
    rows: list[tuple[Any, ...]] | None = None
    wrote = False
    while True:
        try:
            step = script.send(rows)  # type: ignore[arg-type]  # None starts the generator
        except StopIteration as done:
            return done.value
        except Exception as refusal:
            if wrote:
                raise
            return Refused(refusal)
        try:
            rows = await _script_statement(conn, step, log)
            wrote = wrote or not (step.reads or (step.guarded and not rows))
            notes.extend(statement_notes(step, rows))
        except Exception as exc:
            if is_connection_loss(exc):
                raise
            error = translate_postgres_error(exc, step.subject)
            if error is exc:
                raise
            raise error from exc


async def _script_statement(
    conn: Any, step: ScriptStatement, log: StatementLog
) -> list[tuple[Any, ...]]:
    if step.many:
        values = step.values
        assert isinstance(values, Sequence)
        text = compiled(step.statement)
        batch = [text.params(each) for each in values]
        log(text.sql, (f"{len(batch)} rows",))
        await conn.executemany(text.sql, batch)
        return []
    assert isinstance(step.values, Mapping)
    sql, params = _bound(step.statement, step.values, log)
    return [tuple(row) for row in await conn.fetch(sql, *params)]
