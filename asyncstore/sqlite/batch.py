"""One group commit on the writer's thread: many callers' operations, one transaction, one hop.

The batch is planned into steps (asyncstore.batch_plan): single-row inserts into one table merge
into multi-row INSERTs of ROWS_PER_STATEMENT rows, all heartbeats into one UPDATE, every other
operation is a step of its own (a bulk chunk: one INSERT of all its rows, as SQLite's parameter
limit allows). Everything runs inside one BEGIN IMMEDIATE … COMMIT.

A failure costs only what failed:
- a multi-row INSERT statement that fails is undone by SQLite alone (a statement is atomic), and
  just its rows are run again one at a time, so only the faulty row's caller fails;
- an operation of one statement is atomic by itself; one of several statements (a chunk past the
  parameter limit, a multi-statement AtomicStatements) runs behind its own SAVEPOINT and is
  rolled back to it.
Merging never runs an operation before one it depends on that arrived earlier (see the plan): a
trade or heartbeat of a bot created earlier in the same batch finds its bot.
If SQLite abandons the transaction by itself (I/O error, disk full), or COMMIT fails, every
operation of the batch fails: nothing is reported written that was not committed, and nothing
runs on in autocommit after the transaction is gone.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

from asyncstore.batch_plan import (
    Alone,
    BatchResult,
    HeartbeatGroup,
    InsertGroup,
    Outcome,
    Step,
    latest_beats,
    plan,
)
from asyncstore.feed.change import Note
from asyncstore.feed.notes import batch_notes, statement_notes
from asyncstore.sqlite.connections import StatementTrace
from asyncstore.sqlite.errors import translate_sqlite_error
from asyncstore.sqlite.feed import record_changes
from asyncstore.sqlite.statements import (
    HEARTBEATS_SQL,
    ROWS_PER_STATEMENT,
    compiled,
    insert_sql,
    multi_row_sql,
    rows_per_statement,
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

__all__ = ["run_batch"]


class _TransactionLost(Exception):
    """SQLite ended the transaction by itself; nothing of the batch is committed."""


def _check_transaction(conn: sqlite3.Connection, exc: BaseException) -> None:
    """After a failed statement: if SQLite rolled the whole transaction back, stop the batch
    (going on would run the rest in autocommit, committed while its callers hear it failed)."""
    if not conn.in_transaction:
        raise _TransactionLost from exc


class _Batch:
    """The state of one batch on the writer thread."""

    def __init__(
        self, conn: sqlite3.Connection, ops: Sequence[WriteOp[Any]], trace: StatementTrace
    ) -> None:
        self.conn = conn
        self.ops = ops
        self.trace = trace
        self.outcomes: list[Outcome] = [(False, None)] * len(ops)
        self.script_notes: dict[int, list[Note]] = {}  # what each script that ran wrote
        self.retried = 0
        self._heartbeats_before = trace.count

    def ok(self, member: int, result: Any) -> None:
        self.outcomes[member] = (True, result)

    def fail(self, member: int, exc: BaseException) -> None:
        self.outcomes[member] = (False, exc)

    @property
    def heartbeat_statements(self) -> int:
        return self.trace.count - self._heartbeats_before

    def run_alone(self, member: int) -> None:
        """One operation on its own, in the open transaction; its failure is its own."""
        op = self.ops[member]
        several = _statement_count(op) > 1
        if several:
            self.conn.execute("SAVEPOINT op")
        notes: list[Note] = []
        try:
            result = _execute(self, op, notes)
        except Exception as exc:  # sqlite3's, or a value it cannot bind (OverflowError, …)
            _check_transaction(self.conn, exc)
            if several:
                self.conn.execute("ROLLBACK TO op")
                self.conn.execute("RELEASE op")
            self.fail(member, exc)
            return
        if several:
            self.conn.execute("RELEASE op")
        if isinstance(op, TransactionScript):
            self.script_notes[member] = notes
        self.ok(member, result)


def _statement_count(op: WriteOp[Any]) -> int:
    if isinstance(op, InsertRows):
        return -(-len(op.rows) // rows_per_statement(op.table))
    if isinstance(op, AtomicStatements):
        return len(op.statements)
    if isinstance(op, TransactionScript):
        return 2  # any number: always behind a savepoint
    return 1


def _insert_rows(conn: sqlite3.Connection, op: InsertRows) -> int:
    """Insert every row of one operation in as few statements as SQLite's parameter limit
    allows (a bulk chunk: one); returns how many rows were inserted."""
    sql = insert_sql(op.table, op.ignore_duplicates)
    step = rows_per_statement(op.table)
    inserted = 0
    for start in range(0, len(op.rows), step):
        part = op.rows[start : start + step]
        statement = multi_row_sql(sql, len(part))
        inserted += conn.execute(statement, tuple(chain.from_iterable(part))).rowcount
    return inserted


def _stamp(
    conn: sqlite3.Connection, trace: StatementTrace, beats: list[StampHeartbeat]
) -> set[str]:
    """Every heartbeat in ONE UPDATE, each bot at its latest time; returns the bots that exist.
    SQLite's trace counts the statements this really ran."""
    latest = latest_beats(beats)
    sql = HEARTBEATS_SQL.format(rows=", ".join(["(?, ?)"] * len(latest)))
    params = [value for pair in latest.items() for value in pair]
    with trace.counting():
        return {bot_id for (bot_id,) in conn.execute(sql, params).fetchall()}


def _execute(batch: _Batch, op: WriteOp[Any], notes: list[Note]) -> Any:
    """The one place the SQLite backend executes a write operation (a script adds what each of
    its statements wrote to `notes`)."""
    conn = batch.conn
    if isinstance(op, InsertRows):
        return _insert_rows(conn, op)
    if isinstance(op, UpdateRow):
        update = compiled(op.statement)
        # fetchall steps the statement to its end, so no statement is left open at COMMIT.
        rows = conn.execute(update.sql, update.params(op.bind_values)).fetchall()
        return rows[0] if rows else None
    if isinstance(op, StampHeartbeat):
        return op.bot_id in _stamp(conn, batch.trace, [op])
    if isinstance(op, AtomicStatements):
        counts = []
        for each, values in op.statements:
            text = compiled(each)
            counts.append(conn.execute(text.sql, text.params(values)).rowcount)
        return counts
    if isinstance(op, TransactionScript):
        return _run_script(conn, op, notes)
    raise TypeError(f"not a write operation: {op!r}")


def _run_script(conn: sqlite3.Connection, op: TransactionScript[Any], notes: list[Note]) -> Any:
    """Drive a script: run each statement it yields, send it the rows. A statement's error is
    translated with that statement's subject (inside an atomic unit: the write that failed)."""
    script = op.script()
    rows: list[tuple[Any, ...]] | None = None
    while True:
        try:
            step = script.send(rows)  # type: ignore[arg-type]  # None starts the generator
        except StopIteration as done:
            return done.value
        try:
            rows = _script_statement(conn, step)
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, step.subject) from exc
        notes.extend(statement_notes(step, rows))


def _script_statement(conn: sqlite3.Connection, step: ScriptStatement) -> list[tuple[Any, ...]]:
    text = compiled(step.statement)
    if step.many:
        values = step.values
        assert isinstance(values, Sequence)
        conn.executemany(text.sql, [text.params(each) for each in values])
        return []
    assert isinstance(step.values, Mapping)
    return conn.execute(text.sql, text.params(step.values)).fetchall()


def _run_step(batch: _Batch, step: Step) -> None:
    if isinstance(step, Alone):
        batch.run_alone(step.member)
    elif isinstance(step, InsertGroup):
        _run_inserts(batch, step)
    else:
        _run_heartbeats(batch, step)


def _run_inserts(batch: _Batch, group: InsertGroup) -> None:
    sql = insert_sql(group.table, False)
    for start in range(0, len(group.rows), ROWS_PER_STATEMENT):
        part = group.rows[start : start + ROWS_PER_STATEMENT]
        members = group.members[start : start + ROWS_PER_STATEMENT]
        try:
            batch.conn.execute(multi_row_sql(sql, len(part)), tuple(chain.from_iterable(part)))
        except Exception as exc:
            _check_transaction(batch.conn, exc)
            # SQLite undid this statement alone: run just its rows again, one at a time.
            batch.retried += len(members)
            for member in members:
                batch.run_alone(member)
            continue
        for member in members:
            batch.ok(member, 1)


def _run_heartbeats(batch: _Batch, group: HeartbeatGroup) -> None:
    try:
        found = _stamp(batch.conn, batch.trace, group.beats)
    except Exception as exc:
        _check_transaction(batch.conn, exc)
        batch.retried += len(group.members)
        for member in group.members:
            batch.run_alone(member)
        return
    for member, beat in zip(group.members, group.beats, strict=True):
        batch.ok(member, beat.bot_id in found)


def run_batch(
    conn: sqlite3.Connection, ops: Sequence[WriteOp[Any]], trace: StatementTrace, origin: str
) -> BatchResult:
    """Run `ops` as one transaction; never raises: each operation gets its own outcome. What
    the batch changed is logged for the change feed in the same transaction (`origin`: this
    writer), and handed back for this process's subscribers."""
    batch = _Batch(conn, ops, trace)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except Exception as exc:  # e.g. another process held the write lock past busy_timeout
        return BatchResult([(False, exc)] * len(ops))
    try:
        for step in plan(ops):
            _run_step(batch, step)
        notes = batch_notes(ops, batch.outcomes, batch.script_notes)
        committed_at = record_changes(conn, origin, notes) if notes else None
        conn.execute("COMMIT")
    except _TransactionLost as lost:
        outcomes: list[Outcome] = [(False, lost.__cause__ or lost)] * len(ops)
    except Exception as exc:
        if conn.in_transaction:
            # If ROLLBACK fails, SQLite already abandoned the transaction: nothing to undo.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        outcomes = [(False, exc)] * len(ops)
    else:
        return BatchResult(
            batch.outcomes,
            batch.heartbeat_statements,
            batch.retried,
            notes=notes,
            committed_at=committed_at,
        )
    return BatchResult(outcomes, batch.heartbeat_statements, batch.retried)
