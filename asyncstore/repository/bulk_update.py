"""Bulk trade updates: `(trade_id, changes)` pairs in chunks through the writer's bulk lane.

Each chunk is one transaction script (asyncstore.writes.TransactionScript) in the bulk lane, so
it interleaves with running bots' small writes like a bulk insert's chunk does:
1. one SELECT reads (and on PostgreSQL locks) the chunk's trades: which exist, and what the
   lifecycle rules need (status, times, exit price);
2. each change is checked against its stored trade (asyncstore.repository.lifecycle);
3. the changes go as one executemany per set of changed columns.
A chunk is atomic. A list is validated whole before the first chunk is written; a stream chunk by
chunk. An error (a bad change, a missing id with missing="error", a lifecycle refusal) says how
many trades of the call were already updated (`rows_committed`), as bulk inserts do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Select, Update, bindparam, select, update

from asyncstore.clock import utc_now
from asyncstore.errors import FieldError, InvalidDataError, LifecycleError, NotFoundError
from asyncstore.repository.bulk import in_chunks
from asyncstore.repository.changes import changes_of
from asyncstore.repository.lifecycle import LIFECYCLE_COLUMNS, lifecycle_problems
from asyncstore.schema.codec import TableCodec
from asyncstore.schema.records import TradeUpdate
from asyncstore.schema.tables import TRADES
from asyncstore.schema.validation import validate_row_id
from asyncstore.store import Store
from asyncstore.writes import Script, ScriptStatement, TransactionScript

__all__ = ["bulk_update_trades"]

Missing = Literal["error", "ignore"]
_STATE_COLUMNS = ("id", "bot_id", *sorted(LIFECYCLE_COLUMNS))
_ROWS_PER_YIELD = 64  # validating this many changes holds the loop well under a millisecond


# The stored state is read this many ids per SELECT at most, each SELECT padded to a power of
# two (the last id repeated): a few statements compiled once, never a PostgreSQL statement
# past its 32,767 parameters whatever bulk_chunk_rows is.
_IDS_PER_READ = 512


@dataclass(slots=True)
class _Change:
    """Every pair of one trade in a chunk: checked in order, written as one UPDATE."""

    row_id: str
    steps: list[tuple[int, dict[str, Any]]]  # (input position, validated changes), in order
    values: dict[str, Any]  # encoded, merged in order (later pairs win), with updated_at

    @property
    def index(self) -> int:
        return self.steps[0][0]


@lru_cache(maxsize=32)
def _states(count: int, owned: bool) -> Select[Any]:
    """The lifecycle columns of `count` trades (binds id_0 …), locked until COMMIT."""
    query = select(*(TRADES.c[name] for name in _STATE_COLUMNS)).where(
        TRADES.c.id.in_([bindparam(f"id_{n}") for n in range(count)])
    )
    if owned:
        query = query.where(TRADES.c.bot_id == bindparam("owner"))
    # A fixed lock order, so two bulk updates over the same trades do not deadlock each other.
    # (A batch that also holds other rows, a close_trade's bot say, can still meet another
    # process's locks in the other order: PostgreSQL then ends one transaction, and the writer
    # runs that batch again one operation at a time.)
    return query.order_by(TRADES.c.id).with_for_update()


@lru_cache(maxsize=256)
def _update(columns: tuple[str, ...]) -> Update:
    return (
        update(TRADES)
        .where(TRADES.c.id == bindparam("row_id"))
        .values({name: bindparam(f"set_{name}") for name in columns})
    )


async def bulk_update_trades(
    store: Store,
    codec: TableCodec,
    updates: Iterable[Any] | AsyncIterable[Any],
    *,
    missing: Missing = "error",
    owner: str | None = None,
) -> int:
    if missing not in ("error", "ignore"):
        raise InvalidDataError(
            "bulk update",
            [FieldError("missing", f"must be 'error' or 'ignore', got {missing!r}")],
        )
    _require_updates(updates)
    chunk_rows = store.settings.bulk_chunk_rows
    updated = 0
    try:
        if isinstance(updates, Sequence):
            prepared = [
                await _prepare(store, codec, updates[start : start + chunk_rows], start)
                for start in range(0, len(updates), chunk_rows)
            ]
            for chunk in prepared:
                updated += await _submit(store, codec, chunk, missing, owner)
        else:
            offset = 0
            async for part in in_chunks(updates, chunk_rows):
                chunk = await _prepare(store, codec, part, offset)
                updated += await _submit(store, codec, chunk, missing, owner)
                offset += len(part)
    except Exception as exc:
        with contextlib.suppress(AttributeError):
            exc.rows_committed = updated  # type: ignore[attr-defined]
        if updated:
            exc.add_note(f"{updated} trades of this bulk update were already committed")
        raise
    return updated


def _require_updates(updates: Any) -> None:
    if isinstance(updates, str | bytes | Mapping | BaseModel) or not isinstance(
        updates, Iterable | AsyncIterable
    ):
        raise InvalidDataError(
            "bulk update",
            [
                FieldError(
                    "updates",
                    "must be a list or an (async) iterable of (trade_id, changes) pairs, "
                    f"got {type(updates).__name__}",
                )
            ],
        )


async def _prepare(
    store: Store, codec: TableCodec, pairs: Sequence[Any], offset: int
) -> list[_Change]:
    """Validate and encode a chunk, yielding to the loop every few rows; several pairs of one
    trade are kept in order (each is checked against the state the ones before it leave)."""
    now = utc_now()
    merged: dict[str, _Change] = {}
    for index, pair in enumerate(pairs, start=offset):
        if index % _ROWS_PER_YIELD == 0:
            await asyncio.sleep(0)
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InvalidDataError(
                "bulk update",
                [FieldError(f"row {index}", "must be a (trade_id, changes) pair")],
            )
        trade_id, data = pair
        row_id = validate_row_id(trade_id, f"row {index}.trade_id")
        subject = f"bulk update row {index} (trade {trade_id})"
        changes = {**changes_of(store, TradeUpdate, data, subject), "updated_at": now}
        values = codec.encode_input_values(changes, store.input_rules, subject)
        problems = lifecycle_problems(None, changes, prefix=f"row {index}.")
        if problems:
            raise LifecycleError("bulk update", problems)
        if row_id is None:  # not even a UUID: no such trade
            row_id = str(trade_id)
        earlier = merged.get(row_id)
        if earlier is None:
            merged[row_id] = _Change(row_id, [(index, changes)], values)
        else:
            earlier.steps.append((index, changes))
            earlier.values.update(values)
    return list(merged.values())


async def _submit(
    store: Store, codec: TableCodec, chunk: list[_Change], missing: Missing, owner: str | None
) -> int:
    if not chunk:
        return 0
    subject = f"bulk update chunk of {len(chunk)} trades"
    op = TransactionScript(
        lambda: _chunk_script(codec, chunk, missing, owner, subject), subject, bulk=True
    )
    return await store.submit(op)


def _chunk_script(
    codec: TableCodec, chunk: list[_Change], missing: Missing, owner: str | None, subject: str
) -> Script[int]:
    stored: dict[str, dict[str, Any]] = {}
    ordered = sorted(change.row_id for change in chunk)  # locks taken in one order
    for start in range(0, len(ordered), _IDS_PER_READ):
        ids = ordered[start : start + _IDS_PER_READ]
        padded = 1 << (len(ids) - 1).bit_length()
        ids += ids[-1:] * (padded - len(ids))
        binds: dict[str, Any] = {f"id_{n}": row_id for n, row_id in enumerate(ids)}
        binds["owner"] = owner
        query = _states(padded, owner is not None)
        rows = yield ScriptStatement(query, binds, subject, reads=True)
        stored.update((row[0], dict(zip(_STATE_COLUMNS, row, strict=True))) for row in rows)
    unknown = [change for change in chunk if change.row_id not in stored]
    if unknown and missing == "error":
        named = ", ".join(f"row {change.index}: {change.row_id}" for change in unknown[:20])
        more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
        whose = "" if owner is None else f" of bot {owner!r}"
        raise NotFoundError(
            f"{subject}: no trade{whose} with these ids ({named}{more}); nothing of this chunk "
            "was written (missing='ignore' skips them)"
        )
    problems: list[FieldError] = []
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in chunk:
        state = stored.get(change.row_id)
        if state is None:
            continue
        if any(not LIFECYCLE_COLUMNS.isdisjoint(changes) for _, changes in change.steps):
            current = codec.decode_values(state)
            for index, changes in change.steps:  # in order: closed, then "open" is refused
                problems += lifecycle_problems(current, changes, prefix=f"row {index}.")
                current = {**current, **changes}
        columns = tuple(sorted(change.values))
        values = {f"set_{name}": value for name, value in change.values.items()}
        groups.setdefault(columns, []).append({**values, "row_id": change.row_id})
    if problems:
        raise LifecycleError("bulk update", problems)
    for columns, rows_of_group in groups.items():
        yield ScriptStatement(_update(columns), rows_of_group, subject, many=True)
    return sum(len(change.steps) for change in chunk) - sum(len(c.steps) for c in unknown)
