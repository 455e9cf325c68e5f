"""One group commit on the writer's thread: many callers' operations, one transaction, one hop.

The batch is planned into steps: single-row inserts into one table merge into one step (multi-row
INSERTs of ROWS_PER_STATEMENT rows), all heartbeats merge into one UPDATE, every other operation
is a step of its own. Everything runs inside one BEGIN IMMEDIATE … COMMIT.

A failure costs only what failed:
- a multi-row INSERT statement that fails is undone by SQLite alone (a statement is atomic), and
  just its rows are run again one at a time, so only the faulty row's caller fails;
- an operation of several statements runs behind its own SAVEPOINT and is rolled back to it;
- a heartbeat or update that found no row, in a table this batch inserted into, runs again at
  the end: grouping may have run it before the insert of its row that arrived earlier.
If SQLite abandons the transaction by itself (I/O error, disk full), or COMMIT fails, every
operation of the batch fails: nothing is reported written that was not committed, and nothing
runs on in autocommit after the transaction is gone.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from sqlalchemy import Table

from asyncstore.sqlite.connections import StatementTrace
from asyncstore.sqlite.statements import (
    HEARTBEATS_SQL,
    ROWS_PER_STATEMENT,
    compiled,
    insert_sql,
    multi_row_sql,
)
from asyncstore.writes import AtomicStatements, InsertRows, StampHeartbeat, UpdateRow, WriteOp

__all__ = ["BatchResult", "Outcome", "run_batch"]

# (True, result) or (False, the exception raised for that operation)
Outcome = tuple[bool, Any]


@dataclass(slots=True)
class BatchResult:
    outcomes: list[Outcome]
    heartbeat_statements: int = 0  # UPDATEs SQLite ran for heartbeats (its trace counted them)
    retried_operations: int = 0  # operations run again on their own after a failure near them


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
        try:
            result = _execute(self, op)
        except Exception as exc:  # sqlite3's, or a value it cannot bind (OverflowError, …)
            _check_transaction(self.conn, exc)
            if several:
                self.conn.execute("ROLLBACK TO op")
                self.conn.execute("RELEASE op")
            self.fail(member, exc)
            return
        if several:
            self.conn.execute("RELEASE op")
        self.ok(member, result)


def _statement_count(op: WriteOp[Any]) -> int:
    if isinstance(op, InsertRows):
        return -(-len(op.rows) // ROWS_PER_STATEMENT)
    if isinstance(op, AtomicStatements):
        return len(op.statements)
    return 1


def _insert_rows(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """Insert every row, ROWS_PER_STATEMENT at a time; returns how many rows were inserted."""
    inserted = 0
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        part = rows[start : start + ROWS_PER_STATEMENT]
        statement = multi_row_sql(sql, len(part))
        inserted += conn.execute(statement, tuple(chain.from_iterable(part))).rowcount
    return inserted


def _stamp(
    conn: sqlite3.Connection, trace: StatementTrace, beats: list[StampHeartbeat]
) -> set[str]:
    """Every heartbeat in ONE UPDATE, each bot at its latest time; returns the bots that exist.
    SQLite's trace counts the statements this really ran."""
    latest: dict[str, str] = {}
    for beat in beats:
        if beat.at > latest.get(beat.bot_id, ""):  # fixed-width UTC text: text order is time order
            latest[beat.bot_id] = beat.at
    sql = HEARTBEATS_SQL.format(rows=", ".join(["(?, ?)"] * len(latest)))
    params = [value for pair in latest.items() for value in pair]
    with trace.counting():
        return {bot_id for (bot_id,) in conn.execute(sql, params).fetchall()}


def _execute(batch: _Batch, op: WriteOp[Any]) -> Any:
    """The one place the SQLite backend executes a write operation."""
    conn = batch.conn
    if isinstance(op, InsertRows):
        return _insert_rows(conn, insert_sql(op.table, op.ignore_duplicates), op.rows)
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
    raise TypeError(f"not a write operation: {op!r}")


@dataclass(slots=True)
class _InsertGroup:
    """Single-row inserts into one table by many callers, run as multi-row INSERTs."""

    table: Table
    members: list[int] = field(default_factory=list)

    def run(self, batch: _Batch) -> None:
        sql = insert_sql(self.table, False)
        rows = [batch.ops[m].rows[0] for m in self.members]  # type: ignore[attr-defined]
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            part = rows[start : start + ROWS_PER_STATEMENT]
            members = self.members[start : start + ROWS_PER_STATEMENT]
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


def _plan(
    ops: Sequence[WriteOp[Any]],
) -> list[_InsertGroup | list[tuple[int, StampHeartbeat]] | int]:
    """Steps in arrival order: a merged step sits where its first operation was."""
    steps: list[_InsertGroup | list[tuple[int, StampHeartbeat]] | int] = []
    groups: dict[Table, _InsertGroup] = {}
    beats: list[tuple[int, StampHeartbeat]] | None = None
    for index, op in enumerate(ops):
        if isinstance(op, InsertRows) and not op.ignore_duplicates and len(op.rows) == 1:
            group = groups.get(op.table)
            if group is None:
                group = groups[op.table] = _InsertGroup(op.table)
                steps.append(group)
            group.members.append(index)
        elif isinstance(op, StampHeartbeat):
            if beats is None:
                beats = []
                steps.append(beats)
            beats.append((index, op))
        else:
            steps.append(index)
    return steps


def _missed_table(op: WriteOp[Any], outcome: Outcome) -> str | None:
    """The table in which a heartbeat or update found no row (else None)."""
    ok, result = outcome
    if ok and isinstance(op, StampHeartbeat) and result is False:
        return "bot_instances"
    if ok and isinstance(op, UpdateRow) and result is None:
        return op.table.name
    return None


def _run_steps(batch: _Batch) -> None:
    for step in _plan(batch.ops):
        if isinstance(step, _InsertGroup):
            step.run(batch)
        elif isinstance(step, list):
            try:
                found = _stamp(batch.conn, batch.trace, [beat for _, beat in step])
            except Exception as exc:
                _check_transaction(batch.conn, exc)
                batch.retried += len(step)
                for member, _ in step:
                    batch.run_alone(member)
                continue
            for member, beat in step:
                batch.ok(member, beat.bot_id in found)
        else:
            batch.run_alone(step)
    inserted_into = {op.table.name for op in batch.ops if isinstance(op, InsertRows)}
    for member, op in enumerate(batch.ops):
        if _missed_table(op, batch.outcomes[member]) in inserted_into:
            batch.retried += 1
            batch.run_alone(member)


def run_batch(
    conn: sqlite3.Connection, ops: Sequence[WriteOp[Any]], trace: StatementTrace
) -> BatchResult:
    """Run `ops` as one transaction; never raises: each operation gets its own outcome."""
    batch = _Batch(conn, ops, trace)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except Exception as exc:  # e.g. another process held the write lock past busy_timeout
        return BatchResult([(False, exc)] * len(ops))
    try:
        _run_steps(batch)
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
        outcomes = batch.outcomes
    return BatchResult(outcomes, batch.heartbeat_statements, batch.retried)
