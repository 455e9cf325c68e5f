"""Transaction scripts: writes that read what is stored first, run inside the writer's
transaction (see asyncstore.writes.TransactionScript).

Each function here is a generator: it yields statements, gets their rows back, and raises an
asyncstore error to fail (everything it wrote is then undone). They are the pieces of
close_trade, of lifecycle-checked updates and of atomic units (an atomic unit runs the scripts
of its writes one after the other in one script). Values arrive validated and encoded; the
arithmetic that depends on stored values (close_trade's PnL, the bot's balance) is done here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Select, bindparam, insert, select, update
from sqlalchemy.sql.expression import Update

from asyncstore.errors import NotFoundError
from asyncstore.repository.guarded_update import refusal
from asyncstore.repository.lifecycle import (
    LIFECYCLE_COLUMNS,
    closing_values,
    require_lifecycle,
)
from asyncstore.schema.codec import InputRules, TableCodec
from asyncstore.schema.tables import BOTS
from asyncstore.types import DECIMAL_CONTEXT
from asyncstore.writes import (
    Params,
    Script,
    ScriptStatement,
    UpdateRow,
    update_returning_statement,
)

__all__ = [
    "close_trade_script",
    "heartbeat_script",
    "insert_script",
    "run_all",
    "trade_update_script",
    "update_script",
]

# Computed figures are rounded to their columns already; encoding checks they fit.
_COMPUTED = InputRules(round_decimals=True)

Row = tuple[Any, ...]
_RULE_COLUMNS = tuple(sorted(LIFECYCLE_COLUMNS))


@lru_cache(maxsize=8)
def _insert(table: Any) -> Insert:
    return insert(table)


@lru_cache(maxsize=8)
def _locked_by_id(table: Any, owned: bool, columns: tuple[str, ...] = ()) -> Select[Any]:
    """The row by id (`columns` of it, else all), locked against other writers until COMMIT
    (FOR UPDATE on PostgreSQL; SQLite's writer holds the database's write lock already)."""
    selected = [table.c[name] for name in columns] if columns else [table]
    query = select(*selected).where(table.c.id == bindparam("row_id"))
    if owned:
        query = query.where(table.c.bot_id == bindparam("owner"))
    return query.with_for_update()


_HEARTBEAT: Update = (
    update(BOTS)
    .where(BOTS.c.id == bindparam("bot_id"))
    .values(last_heartbeat=bindparam("at"), updated_at=bindparam("at"))
    .returning(BOTS.c.id)
)


def insert_script(table: Any, row: Params, subject: str) -> Script[int]:
    """INSERT of one encoded row (every column, in the table's order)."""
    values = {column.name: value for column, value in zip(table.columns, row, strict=True)}
    yield ScriptStatement(_insert(table), values, subject)
    return 1


def update_script(
    table: Any, row_id: str, values: Mapping[str, Any], subject: str, owner: str | None = None
) -> Script[Row]:
    """UPDATE of one row by id (and owner bot); the row as stored, or NotFoundError."""
    update_row = update_returning_statement(table, tuple(sorted(values)), owner is not None)
    binds = {f"set_{name}": value for name, value in values.items()}
    rows = yield ScriptStatement(update_row, {**binds, "row_id": row_id, "owner": owner}, subject)
    if not rows:
        raise NotFoundError(f"no {subject} exists")
    return rows[0]


def _read_locked(
    codec: TableCodec, row_id: str, subject: str, owner: str | None
) -> Script[dict[str, Any]]:
    binds = {"row_id": row_id, "owner": owner}
    rows = yield ScriptStatement(
        _locked_by_id(codec.table, owner is not None), binds, subject, reads=True
    )
    if not rows:
        raise NotFoundError(f"no {subject} exists")
    return codec.decode(rows[0])


def trade_update_script(
    codec: TableCodec, update: UpdateRow, changes: Mapping[str, Any]
) -> Script[Row]:
    """A trade's update inside a unit: the same (guarded) UPDATE update_trade submits; when it
    matched nothing, a read in the same transaction says why. `changes`: the validated values
    (decoded), for naming the rule."""
    rows = yield ScriptStatement(update.statement, update.bind_values, update.subject, guarded=True)
    if rows:
        return rows[0]
    owned = update.owner is not None
    query = _locked_by_id(codec.table, owned, _RULE_COLUMNS)
    binds = {"row_id": update.row_id, "owner": update.owner}
    state = yield ScriptStatement(query, binds, update.subject, reads=True)
    stored = codec.decode_values(dict(zip(_RULE_COLUMNS, state[0], strict=True))) if state else None
    raise refusal(stored, changes, update.subject)


def close_trade_script(
    trade_codec: TableCodec,
    bot_codec: TableCodec,
    row_id: str,
    close: Mapping[str, Any],
    encoded_close: Mapping[str, Any],
    subject: str,
    owner: str | None = None,
) -> Script[tuple[Row, Row]]:
    """Close an open trade with its PnL, and move its bot's total_pnl and current_balance by
    the net PnL, in the same transaction. Returns (the trade row, the bot row) as stored."""
    trade = yield from _read_locked(trade_codec, row_id, subject, owner)
    figures = closing_values(trade, close, f"close of {subject}")
    require_lifecycle(trade, {**close, **figures}, f"close of {subject}")
    computed = trade_codec.encode_input_values(figures, _COMPUTED, f"close of {subject}")
    trade_row = yield from update_script(
        trade_codec.table, row_id, {**encoded_close, **computed}, subject, owner
    )
    bot_subject = f"bot instance {trade['bot_id']!r}"
    bot = yield from _read_locked(bot_codec, trade["bot_id"], bot_subject, None)
    net_pnl = figures["net_pnl"]
    add = DECIMAL_CONTEXT.add  # not the caller's context (see closing_values)
    balance = {"total_pnl": add(bot["total_pnl"] or 0, net_pnl)}
    if bot["current_balance"] is not None:
        balance["current_balance"] = add(bot["current_balance"], net_pnl)
    moved = bot_codec.encode_input_values(
        {**balance, "updated_at": close["updated_at"]}, _COMPUTED, f"close of {subject}"
    )
    bot_row = yield from update_script(bot_codec.table, trade["bot_id"], moved, bot_subject)
    return trade_row, bot_row


def heartbeat_script(bot_id: str, at: str, subject: str) -> Script[bool]:
    """Stamp a bot's last_heartbeat (encoded time); NotFoundError for an unknown bot."""
    rows = yield ScriptStatement(_HEARTBEAT, {"bot_id": bot_id, "at": at}, subject)
    if not rows:
        raise NotFoundError(f"no bot instance {bot_id!r} exists")
    return True


def run_all(scripts: Sequence[Callable[[], Script[Any]]]) -> Script[list[Any]]:
    """Scripts one after the other, in one transaction (an atomic unit): each one's result.
    `scripts` are factories: a batch rolled back runs the unit again from fresh generators."""
    results = []
    for script in scripts:
        results.append((yield from script()))
    return results
