"""Which rows a committed write changed, as notes (asyncstore.feed.change.Note).

Both backends call these on their writer, for the operations of a group commit that succeeded,
just before COMMIT: the notes go into the same transaction (SQLite's change log, PostgreSQL's
NOTIFY) and, once it committed, to this process's subscribers.
- a single-row insert, update or heartbeat names its row and bot;
- a bulk chunk is one note per bot (with the number of rows), never one per row;
- a script (close_trade, an atomic unit, a bulk update chunk) is noted statement by statement
  as it runs, from what each statement wrote (`statement_notes`);
- a cleanup chunk is one note with the number of rows deleted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Delete, Insert, Table, Update

from asyncstore.feed.change import Note
from asyncstore.schema.tables import BOTS
from asyncstore.writes import (
    AtomicStatements,
    InsertRows,
    ScriptStatement,
    StampHeartbeat,
    UpdateRow,
    WriteOp,
)

__all__ = ["batch_notes", "op_notes", "statement_notes"]

Row = tuple[Any, ...]
_BOTS = BOTS.name


@lru_cache(maxsize=16)
def _positions(table: Table) -> tuple[int, int | None]:
    """Where a row of `table` (every column, in order) holds its id and its bot's id."""
    names = [column.name for column in table.columns]
    owner = "id" if table.name == _BOTS else "bot_id"
    return names.index("id"), (names.index(owner) if owner in names else None)


def _row_note(table: Table, operation: str, row: Sequence[Any]) -> Note:
    id_at, bot_at = _positions(table)
    return table.name, operation, row[id_at], (None if bot_at is None else row[bot_at]), 1


def _per_bot(table: Table, operation: str, rows: Sequence[Sequence[Any]]) -> list[Note]:
    _, bot_at = _positions(table)
    if bot_at is None:
        return [(table.name, operation, None, None, len(rows))]
    counts = Counter(row[bot_at] for row in rows)
    return [(table.name, operation, None, bot, count) for bot, count in counts.items()]


def op_notes(op: WriteOp[Any], result: Any) -> list[Note]:
    """The notes of one operation (not a script) that succeeded with `result`."""
    if isinstance(op, InsertRows):
        if not result:
            return []
        if op.ignore_duplicates and result != len(op.rows):
            # Some rows were skipped, and which is unknown: just how many went in.
            return [(op.table.name, "insert", None, None, result)]
        if op.bulk or op.ignore_duplicates:
            return _per_bot(op.table, "insert", op.rows)
        return [_row_note(op.table, "insert", row) for row in op.rows]
    if isinstance(op, UpdateRow):
        return [] if result is None else [_row_note(op.table, "update", result)]
    if isinstance(op, StampHeartbeat):
        return [(_BOTS, "update", op.bot_id, op.bot_id, 1)] if result else []
    if isinstance(op, AtomicStatements):
        notes: list[Note] = []
        for (statement, _), count in zip(op.statements, result, strict=True):
            operation = _operation(statement)
            if operation is not None and count > 0:
                notes.append((statement.table.name, operation, None, None, count))  # type: ignore[attr-defined]
        return notes
    return []


def _operation(statement: Any) -> str | None:
    if isinstance(statement, Insert):
        return "insert"
    if isinstance(statement, Update):
        return "update"
    if isinstance(statement, Delete):
        return "delete"
    return None  # a SELECT, DDL, a PRAGMA: changes no row


def statement_notes(step: ScriptStatement, rows: list[Row]) -> list[Note]:
    """What one statement of a script wrote, from its values and the rows it returned."""
    operation = _operation(step.statement)
    if operation is None or step.reads:
        return []
    table: Table = step.statement.table  # type: ignore[attr-defined]
    if step.many:
        values = step.values
        assert isinstance(values, Sequence)
        return [(table.name, operation, None, None, len(values))] if values else []
    if operation == "insert":
        values = step.values
        assert isinstance(values, Mapping)
        inserted = [values.get(column.name) for column in table.columns]
        return [_row_note(table, operation, inserted)]
    # An UPDATE or DELETE … RETURNING: each row it changed (the whole row, or just the id).
    notes = []
    for row in rows:
        if len(row) == len(table.columns):
            notes.append(_row_note(table, operation, row))
        else:
            bot = row[0] if table.name == _BOTS else None
            notes.append((table.name, operation, row[0], bot, 1))
    return notes


def batch_notes(
    ops: Sequence[WriteOp[Any]],
    outcomes: Sequence[tuple[bool, Any]],
    script_notes: Mapping[int, list[Note]],
) -> list[Note]:
    """The notes of every operation of a batch that succeeded, in batch order (a script's
    from `script_notes`, by its index in the batch)."""
    notes: list[Note] = []
    for member, (op, (ok, result)) in enumerate(zip(ops, outcomes, strict=True)):
        if not ok:
            continue
        written = script_notes.get(member)
        notes.extend(written if written is not None else op_notes(op, result))
    return notes
