"""What the change feed delivers: one `Change` per row written (or per many rows, for a bulk
chunk or a cleanup), after the transaction that wrote it committed.

Inside the writer a change travels as a `Note`, a plain tuple (cheap to make for every write of
a group commit, and what the change log and NOTIFY payloads carry); a subscriber gets `Change`
models, made only when someone listens.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Change", "Note", "Operation", "changes_of", "resync"]

Operation = Literal["insert", "update", "delete", "resync"]

# (table, operation, row id or None, bot id or None, rows covered)
Note = tuple[str, str, "str | None", "str | None", int]


class Change(BaseModel):
    """One committed change.

    `row_id` names the row; None when the change covers `count` rows at once (a bulk insert
    chunk, a bulk update chunk, a cleanup chunk). `bot_id` is the bot the rows belong to, when
    known (None: several bots, or rows without one). `committed_at` is the writer's clock just
    before COMMIT. `operation == "resync"` (table "*") means the feed could not keep up and
    changes were missed: read afresh whatever you show.
    """

    model_config = ConfigDict(frozen=True)

    table: str
    operation: Operation
    row_id: str | None
    bot_id: str | None
    count: int
    committed_at: datetime


def changes_of(notes: list[Note], committed_at: datetime) -> list[Change]:
    """The notes of one commit as Change models (stored values, trusted: not re-validated)."""
    return [
        Change.model_construct(
            table=table,
            operation=operation,  # type: ignore[arg-type]  # one of Operation, by construction
            row_id=row_id,
            bot_id=bot_id,
            count=count,
            committed_at=committed_at,
        )
        for table, operation, row_id, bot_id, count in notes
    ]


def resync(at: datetime) -> Change:
    """The change that tells a subscriber it missed some."""
    return Change.model_construct(
        table="*", operation="resync", row_id=None, bot_id=None, count=0, committed_at=at
    )
