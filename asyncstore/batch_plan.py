"""How a group commit is planned, on every backend: which operations of a batch merge.

A batch (many callers' operations, one transaction) is planned into steps: single-row inserts
into one table merge into one step (multi-row INSERTs), all heartbeats merge into ONE UPDATE,
every other operation is a step of its own. Each backend runs the steps in its own way
(asyncstore.sqlite.batch, asyncstore.postgres.batch); the plan, and so what may merge with
what, is the same on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table

from asyncstore.feed.change import Note
from asyncstore.schema.tables import BOTS
from asyncstore.writes import (
    AtomicStatements,
    InsertRows,
    Params,
    StampHeartbeat,
    TransactionScript,
    WriteOp,
)

__all__ = [
    "Alone",
    "BatchResult",
    "HeartbeatGroup",
    "InsertGroup",
    "Outcome",
    "Step",
    "latest_beats",
    "plan",
]

# (True, result) or (False, the exception raised for that operation)
Outcome = tuple[bool, Any]


@dataclass(slots=True)
class BatchResult:
    """What one group commit did: each operation's outcome, in batch order, and counts."""

    outcomes: list[Outcome]
    heartbeat_statements: int = 0  # heartbeat UPDATEs the database ran (counted as they ran)
    retried_operations: int = 0  # operations run again on their own after a failure near them
    connection_lost: bool = False  # the connection broke: the writer must connect afresh
    # What the committed batch changed, for the change feed (asyncstore.feed), and when.
    notes: list[Note] = field(default_factory=list)
    committed_at: datetime | None = None


@dataclass(slots=True)
class Alone:
    """One operation on its own (`member`: its index in the batch)."""

    member: int


@dataclass(slots=True)
class InsertGroup:
    """Single-row inserts into one table by many callers, run as multi-row INSERTs."""

    table: Table
    members: list[int] = field(default_factory=list)
    rows: list[Params] = field(default_factory=list)

    def add(self, member: int, op: InsertRows) -> None:
        self.members.append(member)
        self.rows.append(op.rows[0])


@dataclass(slots=True)
class HeartbeatGroup:
    """Heartbeats of many bots, run as ONE UPDATE."""

    members: list[int] = field(default_factory=list)
    beats: list[StampHeartbeat] = field(default_factory=list)

    def add(self, member: int, op: StampHeartbeat) -> None:
        self.members.append(member)
        self.beats.append(op)


Step = Alone | InsertGroup | HeartbeatGroup


def latest_beats(beats: Sequence[StampHeartbeat]) -> dict[str, str]:
    """Each bot's latest heartbeat time among `beats` (what the one UPDATE stores)."""
    latest: dict[str, str] = {}
    for beat in beats:
        if beat.at > latest.get(beat.bot_id, ""):  # fixed-width UTC text: text order is time order
            latest[beat.bot_id] = beat.at
    return latest


def _referenced_tables(table: Table) -> set[str]:
    """The tables `table`'s foreign keys point to (a trade's bot instance)."""
    return {key.column.table.name for key in table.foreign_keys}


def plan(ops: Sequence[WriteOp[Any]]) -> list[Step]:
    """Steps in arrival order: a merged step sits where its first operation was, so it runs
    before operations that arrived between its members. That is only allowed where it changes
    no outcome, so a merged step is closed (later operations of its kind start a new step) when
    an operation arrives that its later members could depend on: an insert into a table it
    refers to (a bot created in this batch, then that bot's trades or heartbeats), or
    statements (or a script) that may touch any table."""
    steps: list[Step] = []
    inserts: dict[str, InsertGroup] = {}
    beats: HeartbeatGroup | None = None
    for member, op in enumerate(ops):
        if isinstance(op, InsertRows | AtomicStatements | TransactionScript):
            written = op.table.name if isinstance(op, InsertRows) else None  # None: any table
            for name, group in list(inserts.items()):
                if written is None or written in _referenced_tables(group.table):
                    del inserts[name]
            if written in (None, BOTS.name):
                beats = None
        if isinstance(op, InsertRows) and not op.ignore_duplicates and len(op.rows) == 1:
            inserting = inserts.get(op.table.name)
            if inserting is None:
                inserting = inserts[op.table.name] = InsertGroup(op.table)
                steps.append(inserting)
            inserting.add(member, op)
        elif isinstance(op, StampHeartbeat):
            if beats is None:
                beats = HeartbeatGroup()
                steps.append(beats)
            beats.add(member, op)
        else:
            steps.append(Alone(member))
    return steps
