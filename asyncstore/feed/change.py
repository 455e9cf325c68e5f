"""What the change feed delivers: one `Change` per row written (or per many rows, for a bulk
chunk or a cleanup), after the transaction that wrote it committed.

Inside the writer a change travels as a `Note`, a plain tuple (cheap to make for every write of
a group commit, and what the change log and NOTIFY payloads carry); a subscriber gets `Change`
objects, made only when someone listens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["RESYNC_NOTE", "Change", "Note", "Operation", "changes_of", "resync"]

Operation = Literal["insert", "update", "delete", "resync"]

# (table, operation, row id or None, bot id or None, rows covered)
Note = tuple[str, str, "str | None", "str | None", int]
# What the writer hands its subscribers when it cannot say what a batch changed.
RESYNC_NOTE: Note = ("*", "resync", None, None, 0)


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change.

    `row_id` names the row; None when the change covers `count` rows at once (a bulk insert
    chunk, a bulk update chunk, a cleanup chunk). `bot_id` is the bot the rows belong to, when
    known (None: several bots, or rows without one). `committed_at` is the writer's clock just
    before COMMIT. `operation == "resync"` (table "*") means the feed could not keep up and
    changes were missed: read afresh whatever you show.

    A plain frozen dataclass, not a pydantic model: a busy fleet commits tens of thousands of
    changes a second, each made from stored values (nothing to validate), and a dataclass is
    made in a fraction of a model's time.
    """

    table: str
    operation: Operation
    row_id: str | None
    bot_id: str | None
    count: int
    committed_at: datetime


def changes_of(notes: list[Note], committed_at: datetime) -> list[Change]:
    """The notes of one commit as Change models (stored values, trusted: not re-validated)."""
    return [
        Change(table, operation, row_id, bot_id, count, committed_at)  # type: ignore[arg-type]
        for table, operation, row_id, bot_id, count in notes
    ]


def resync(at: datetime) -> Change:
    """The change that tells a subscriber it missed some."""
    return Change("*", "resync", None, None, 0, at)
