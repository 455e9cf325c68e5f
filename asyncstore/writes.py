"""The write operations every backend executes: plain data, validated and encoded on the loop.

The repository validates and encodes before an operation is submitted, so a backend only binds
ready values. Statements travel as SQLAlchemy objects (built once, see `asyncstore.schema`) and
each backend compiles them for its own dialect. `WriteOp[R]` carries its result type R, so
`await store.submit(op)` is typed. `subject` ("trade 0190…") words the operation's errors;
`bulk` operations travel in the bulk lane (see the SQLite write queue).

A `TransactionScript` is the one operation whose statements depend on what is stored: a
generator that yields statements and is sent back their rows, run by the writer inside its
transaction (closing a trade reads the trade and its bot, then writes both; an atomic unit is
the scripts of its writes, one after the other). Each backend drives it in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, bindparam, update
from sqlalchemy.sql.expression import Executable, Update

__all__ = [
    "WRITE_OPERATIONS",
    "AtomicStatements",
    "InsertRows",
    "Params",
    "Script",
    "ScriptStatement",
    "StampHeartbeat",
    "TransactionScript",
    "UpdateRow",
    "WriteOp",
    "update_returning_statement",
]

ResultT = TypeVar("ResultT", covariant=True)

# Encoded values of one row, in the table's column order.
Params = tuple[Any, ...]


class WriteOp(Generic[ResultT]):
    """Base of the write operations; `ResultT` is what `submit` returns for it."""

    __slots__ = ()
    subject: str
    bulk: bool


@dataclass(frozen=True, slots=True)
class InsertRows(WriteOp[int]):
    """INSERT of one or more encoded rows of `table`. Result: the number of rows inserted.

    With `ignore_duplicates` a row whose id exists is skipped (ON CONFLICT DO NOTHING); such
    inserts count their own rows, so they are never merged with other callers' rows.
    """

    table: Table
    rows: Sequence[Params]
    subject: str
    ignore_duplicates: bool = False
    bulk: bool = False


@dataclass(frozen=True, slots=True)
class UpdateRow(WriteOp["tuple[Any, ...] | None"]):
    """UPDATE of one row by id (and by owner bot, when given), returning every column.

    Result: the updated row as stored, or None when no row matched. `guarded`: the UPDATE to
    run instead, with more conditions in its WHERE clause (a trade's lifecycle rules), whose
    extra binds are `guard_values`; None then also means a condition held the row back.
    """

    table: Table
    row_id: str
    values: Mapping[str, Any]  # column name -> encoded value
    subject: str
    owner: str | None = None
    bulk: bool = False
    guarded: Update | None = None
    guard_values: Mapping[str, Any] | None = None

    @property
    def statement(self) -> Update:
        if self.guarded is not None:
            return self.guarded
        return update_returning_statement(
            self.table, tuple(sorted(self.values)), self.owner is not None
        )

    @property
    def bind_values(self) -> dict[str, Any]:
        binds = {f"set_{name}": value for name, value in self.values.items()}
        binds.update(self.guard_values or ())
        return {**binds, "row_id": self.row_id, "owner": self.owner}


@dataclass(frozen=True, slots=True)
class StampHeartbeat(WriteOp[bool]):
    """Stamp a bot's last_heartbeat with `at` (encoded time). Result: True when the bot exists.

    A backend may run the heartbeats it has at hand as one statement (SQLite coalesces a
    batch's heartbeats into one UPDATE, each bot keeping its latest time)."""

    bot_id: str
    at: str
    subject: str
    bulk: bool = False


@dataclass(frozen=True, slots=True)
class AtomicStatements(WriteOp[list[int]]):
    """Statements that succeed or fail together (DDL, a cleanup chunk, a no-op ping).

    Result: each statement's rowcount."""

    statements: Sequence[tuple[Executable, Mapping[str, Any]]]
    subject: str
    bulk: bool = False


@dataclass(frozen=True, slots=True)
class ScriptStatement:
    """One statement of a script: a SQLAlchemy statement and its values by bind name.

    `many`: `values` is a sequence of such mappings, run as one executemany (no rows come
    back). `subject` words the statement's errors ("trade 0190…" inside an atomic unit).
    `reads`: the statement writes nothing (a SELECT, FOR UPDATE or not), so a script that
    refuses after only such statements has nothing to undo. `guarded`: a write whose RETURNING
    gives back every row it changed, so when it returns none it wrote nothing either."""

    statement: Executable
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    subject: str
    many: bool = False
    reads: bool = False
    guarded: bool = False


# A script: yields statements, is sent each one's rows (tuples, every column the statement
# returns), returns the operation's result. Raising (an asyncstore error) fails the operation,
# and everything the script wrote is undone.
Row = tuple[Any, ...]
Script = Generator[ScriptStatement, "list[Row]", ResultT]


@dataclass(frozen=True, slots=True)
class TransactionScript(WriteOp[ResultT]):
    """Reads and writes that depend on what is stored, run by the writer inside its
    transaction, so no other write comes between them (on PostgreSQL the script reads with FOR
    UPDATE against writers of other processes; on SQLite the writer holds the write lock).

    `script` makes a fresh generator each time it is called: a backend that rolls a batch back
    runs the operation again from the start. Result: what the script returns."""

    script: Callable[[], Script[ResultT]]
    subject: str
    bulk: bool = False


# Every write operation a backend executes (a bare WriteOp, or another subclass, is not one).
WRITE_OPERATIONS = (InsertRows, UpdateRow, StampHeartbeat, AtomicStatements, TransactionScript)


@lru_cache(maxsize=256)
def update_returning_statement(table: Table, columns: tuple[str, ...], owned: bool) -> Update:
    """UPDATE table SET <columns> WHERE id = :row_id [AND bot_id = :owner] RETURNING *."""
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(f"set_{name}") for name in columns})
        .returning(*table.c)
    )
    if owned:  # a bot-scoped repository may touch its own rows only
        statement = statement.where(table.c.bot_id == bindparam("owner"))
    return statement
