"""SQL pieces the dashboard's statements share: a UTC day, planner steering, exact money sums.

Each statement is built once and compiled per dialect by the Store (`store.fetch_all`); what
differs between SQLite and PostgreSQL is a construct here with a compiler for each, so the
statements themselves never ask which database they run on.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import String, literal_column, text
from sqlalchemy.sql.expression import ColumnElement, TextClause

from asyncstore.schema.expressions import MONEY_SCALE, count_where, money_sign_value
from asyncstore.schema.tables import TRADE_RETENTION_AGE
from asyncstore.types import DECIMAL_CONTEXT, quantum

__all__ = [
    "CLOSED",
    "OPEN",
    "exact_money",
    "finished_since",
    "unindexed",
    "wins",
]

# Status tests as literal SQL, not bound values: SQLite uses a partial index (open trades by
# bot; the retention index over closed and cancelled trades) only when the query's own text
# implies the index's condition, which a bound value never does.
OPEN: TextClause = text("trades.status = 'open'")
CLOSED: TextClause = text("trades.status = 'closed'")
_FINISHED: TextClause = text("trades.status IN ('closed', 'cancelled')")


def finished_since(cutoff: ColumnElement[Any]) -> list[ColumnElement[bool] | TextClause]:
    """Closed or cancelled trades whose retention age (exit_time, else created_at) is at or
    after `cutoff`: a range of ix_trades_retention, spelled as the index is, so both planners
    read only the trades that finished since then. (A closed trade's exit_time is its age.)"""
    return [_FINISHED, cutoff <= TRADE_RETENTION_AGE]


def unindexed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """`column || ''`: the same text, which no index serves. Grouping or filtering on a bot
    this way keeps a planner on the time range it should read (a day's trades) instead of
    walking idx_bot_trade_type, i.e. every trade of every bot (measured on SQLite, 1M trades:
    1.4 s against 0.5 ms)."""
    return column.concat(literal_column("''", String()))


def wins(net_pnl: ColumnElement[Any]) -> ColumnElement[Any]:
    """How many of the rows have a positive net PnL (the rows are closed trades)."""
    return count_where(money_sign_value(net_pnl) > 0)


_MONEY_QUANTUM = quantum(MONEY_SCALE)


def exact_money(whole_sum: Any, fraction_sum: Any) -> Decimal:
    """The exact money sum from `money_sum_parts`' two parts (stored text or integers)."""
    fraction = Decimal(fraction_sum or 0).scaleb(-MONEY_SCALE, context=DECIMAL_CONTEXT)
    total = DECIMAL_CONTEXT.add(Decimal(whole_sum or 0), fraction)
    return total.quantize(_MONEY_QUANTUM, context=DECIMAL_CONTEXT)
