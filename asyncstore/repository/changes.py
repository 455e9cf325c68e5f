"""Updates by id: validated changes in, the row as stored out (shared by every table)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from asyncstore.clock import utc_now
from asyncstore.errors import FieldError, InvalidDataError, NotFoundError
from asyncstore.schema.codec import TableCodec
from asyncstore.schema.validation import as_input, validate
from asyncstore.store import Store
from asyncstore.writes import UpdateRow

__all__ = ["Data", "changes_of", "claim_for_bot", "encoded_changes", "update_row"]

# What callers pass as a row: a mapping, or any pydantic model (its set fields count).
Data = Mapping[str, Any] | BaseModel


def changes_of(store: Store, model: type[BaseModel], data: Any, subject: str) -> dict[str, Any]:
    """The fields `data` sets, validated by `model`; at least one."""
    changes = validate(model, data, subject).model_dump(exclude_unset=True)
    if not changes:
        raise InvalidDataError(subject, [FieldError("data", "no fields to update")])
    return changes


def encoded_changes(
    store: Store, codec: TableCodec, changes: Mapping[str, Any], subject: str
) -> dict[str, Any]:
    """An update's validated `changes` in storage form, with a new updated_at."""
    return codec.encode_input_values(
        {**changes, "updated_at": utc_now()}, store.input_rules, subject
    )


async def update_row(
    store: Store,
    codec: TableCodec,
    row_id: str,
    changes: Mapping[str, Any],
    subject: str,
    *,
    owner: str | None = None,
) -> tuple[Any, ...]:
    """Apply `changes` (and a new updated_at) to one row; the row as stored, or NotFoundError."""
    values = encoded_changes(store, codec, changes, subject)
    row = await store.submit(UpdateRow(codec.table, row_id, values, subject, owner=owner))
    if row is None:
        raise NotFoundError(f"no {subject} exists")
    return row


def claim_for_bot(data: Data, bot_id: str, subject: str) -> Any:
    """`data` as a row of `bot_id`: its bot_id filled in; naming another bot is refused."""
    values = as_input(data)
    if not isinstance(values, Mapping):
        return values  # validation names the problem
    claimed = values.get("bot_id", bot_id)
    if claimed != bot_id:
        raise InvalidDataError(
            subject,
            [FieldError("bot_id", f"{claimed!r} is not this repository's bot {bot_id!r}")],
        )
    return {**values, "bot_id": bot_id}
