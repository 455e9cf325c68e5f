"""Records returned to callers: built from values already validated, or from stored rows.

Neither path validates again. Values a call just validated are already what the record holds
(UTC times, decimals at their column's scale); stored rows are trusted and only decoded (see
asyncstore.schema.codec), so a row another tool wrote outside the input rules still loads, and
one that cannot even be decoded fails with UnreadableRowError naming its row and column.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from asyncstore.errors import UnreadableRowError
from asyncstore.schema.codec import TableCodec
from asyncstore.threads import per_rows_off_loop

__all__ = ["from_row", "from_rows", "from_updated_row", "from_values"]

RecordT = TypeVar("RecordT", bound=BaseModel)

# Records are frozen: their attributes are set the way pydantic itself sets them.
_set_attribute = object.__setattr__


@functools.cache
def _all_fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def from_values(model: type[RecordT], values: Mapping[str, Any]) -> RecordT:
    """A record of `values`, which hold every field of `model` (a row's every column)."""
    record = model.__new__(model)
    # What pydantic's model_construct does, without its per-field Python loop (measured: 26 µs
    # a 31-field record against 2 µs here): the values are complete and already final.
    _set_attribute(record, "__dict__", dict(values))
    # Every record of a model sets every field: they share one fields-set (pydantic copies it
    # before any change), one object fewer per record for the garbage collector to walk.
    _set_attribute(record, "__pydantic_fields_set__", _all_fields(model))
    _set_attribute(record, "__pydantic_extra__", None)
    _set_attribute(record, "__pydantic_private__", None)
    return record


def from_row(model: type[RecordT], codec: TableCodec, row: Sequence[Any]) -> RecordT:
    return from_values(model, codec.decode(row))


async def from_rows(
    model: type[RecordT], codec: TableCodec, rows: Sequence[Sequence[Any]]
) -> list[RecordT]:
    """Records of stored rows, decoded on a worker thread when they are many."""

    def build(rows: Sequence[Sequence[Any]]) -> list[RecordT]:
        decode = codec.decode
        return [from_values(model, decode(row)) for row in rows]

    return await per_rows_off_loop(build, rows)


def from_updated_row(model: type[RecordT], codec: TableCodec, row: Sequence[Any]) -> RecordT:
    """The row an UPDATE returned. That update is committed by now, so if the row cannot be
    read back the error says so: the caller must not take the change for lost."""
    try:
        return from_values(model, codec.decode(row))
    except UnreadableRowError as exc:
        raise UnreadableRowError(f"{exc} (the update itself was committed)") from exc
