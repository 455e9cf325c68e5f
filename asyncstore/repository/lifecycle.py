"""A trade's lifecycle rules, and the PnL close_trade computes.

The rules (LifecycleError names the field at fault):
- closed and cancelled are final: such a trade keeps its status (a closed trade's PnL is booked
  in its bot's balance; cancelling it afterwards would leave the books counting it);
- a closed trade needs an exit price;
- exit_time is not before entry_time.
A new trade is checked against its own values when it is validated. A change is checked against
the trade as stored, read inside the transaction that writes it (see asyncstore.repository
.scripts), so two writers racing cannot slip past the rules.

close_trade's arithmetic, each figure rounded half-even to its column:
    exit_value  = exit_price × size            entry_value = entry_price × size (when not stored)
    gross_pnl   = (exit_price − entry_price) × size   (long)
                  (entry_price − exit_price) × size   (short)
    net_pnl     = gross_pnl − commission        pnl_percentage = net_pnl / entry_value × 100
net_pnl is rounded from the exact gross figure (rounding twice could move a half-way value);
pnl_percentage is computed from the stored net_pnl and entry_value, so a reader can check it
against the row. It is None when entry_value is 0 or the percentage does not fit its column.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import datetime
from decimal import Decimal
from typing import Any

from asyncstore.errors import FieldError, LifecycleError
from asyncstore.schema.tables import TRADES
from asyncstore.types import DECIMAL_CONTEXT, ExactDecimal, quantum

__all__ = [
    "FINAL_STATUSES",
    "LIFECYCLE_COLUMNS",
    "closing_values",
    "complete_new_trade",
    "entry_value_of",
    "lifecycle_problems",
    "require_lifecycle",
]

FINAL_STATUSES = ("closed", "cancelled")
# A change touching none of these cannot break a rule: it needs no read of the stored trade.
LIFECYCLE_COLUMNS = frozenset({"status", "exit_price", "exit_time", "entry_time"})


def _column_quantum(column: str) -> Decimal:
    type_ = TRADES.c[column].type
    assert isinstance(type_, ExactDecimal)
    return quantum(type_.scale)


_MONEY = _column_quantum("net_pnl")
_PERCENT = _column_quantum("pnl_percentage")
_PERCENT_TYPE = TRADES.c.pnl_percentage.type
assert isinstance(_PERCENT_TYPE, ExactDecimal)
_PERCENT_LIMIT = Decimal(10) ** (_PERCENT_TYPE.precision - _PERCENT_TYPE.scale)


def lifecycle_problems(
    stored: Mapping[str, Any] | None, changes: Mapping[str, Any], prefix: str = ""
) -> list[FieldError]:
    """What breaks a rule when `changes` are written over `stored` (decoded values; `{}` for a
    new trade, None when the stored trade is not known yet: then only what the change decides
    alone is checked). `prefix` goes before each field name ("row 3.")."""
    after = {**stored, **changes} if stored else changes
    problems = []
    before = None if stored is None else stored.get("status")
    wanted = changes.get("status")
    if before in FINAL_STATUSES and wanted is not None and wanted != before:
        problems.append(
            FieldError(
                f"{prefix}status",
                f"the trade is {before}; a closed or cancelled trade keeps its status "
                f"(it cannot become {wanted})",
            )
        )
    decided = stored is not None or "exit_price" in changes
    if decided and after.get("status") == "closed" and after.get("exit_price") is None:
        problems.append(FieldError(f"{prefix}exit_price", "a closed trade needs an exit price"))
    exit_time: datetime | None = after.get("exit_time")
    entry_time: datetime | None = after.get("entry_time")
    if exit_time is not None and entry_time is not None and exit_time < entry_time:
        problems.append(
            FieldError(
                f"{prefix}exit_time",
                f"{exit_time.isoformat()} is before the trade's entry_time "
                f"{entry_time.isoformat()}",
            )
        )
    return problems


def complete_new_trade(
    values: dict[str, Any], given: AbstractSet[str], subject: str, prefix: str = ""
) -> None:
    """A new trade's validated `values`, made whole and checked (create_trade and bulk inserts
    alike): entry_value filled in when it is not among the fields `given`; LifecycleError when
    the trade breaks a rule by itself."""
    if "entry_value" not in given:
        values["entry_value"] = entry_value_of(values["entry_price"], values["size"])
    problems = lifecycle_problems({}, values, prefix)
    if problems:
        raise LifecycleError(subject, problems)


def require_lifecycle(stored: Mapping[str, Any], changes: Mapping[str, Any], subject: str) -> None:
    """LifecycleError when writing `changes` over `stored` breaks a rule."""
    problems = lifecycle_problems(stored, changes)
    if problems:
        raise LifecycleError(subject, problems)


_MONEY_TYPE = TRADES.c.entry_value.type
assert isinstance(_MONEY_TYPE, ExactDecimal)
_MONEY_LIMIT = Decimal(10) ** (_MONEY_TYPE.precision - _MONEY_TYPE.scale)


def entry_value_of(price: Decimal | None, size: Decimal | None) -> Decimal | None:
    """entry_price × size at the column's scale, for a trade that leaves entry_value out.
    None unless both are known and the product fits the column (a price or size too large is
    named by its own error; a product too large is no reason to refuse the trade)."""
    if price is None or size is None or not (price.is_finite() and size.is_finite()):
        return None
    if price < 0 or size < 0:  # refused as themselves; a second error would only confuse
        return None
    value = DECIMAL_CONTEXT.multiply(price, size).quantize(_MONEY, context=DECIMAL_CONTEXT)
    return value if abs(value) < _MONEY_LIMIT else None


def closing_values(
    trade: Mapping[str, Any], close: Mapping[str, Any], subject: str
) -> dict[str, Any]:
    """The figures close_trade writes: `trade` as stored (decoded), `close` the validated
    close data (exit_price, and commission when given). LifecycleError when the trade is not
    open or lacks what the PnL needs."""
    if trade["status"] != "open":
        raise LifecycleError(
            subject,
            [
                FieldError(
                    "status", f"the trade is {trade['status']}; only an open trade can be closed"
                )
            ],
        )
    missing = [name for name in ("entry_price", "size") if trade[name] is None]
    if missing:
        raise LifecycleError(
            subject,
            [FieldError(name, "is not set on the trade; the PnL needs it") for name in missing],
        )
    entry_price: Decimal = trade["entry_price"]
    size: Decimal = trade["size"]
    exit_price: Decimal = close["exit_price"]
    commission: Decimal | None = close.get("commission")
    if commission is None:  # not given: the commission stored on the trade, else none
        commission = trade["commission"] if trade["commission"] is not None else Decimal(0)
    context = DECIMAL_CONTEXT  # 60 digits: every product and sum of two columns is exact
    # Every operation in asyncstore's own context: on PostgreSQL this runs in the writer task,
    # which would otherwise inherit the application's decimal context (a bot's prec=8).
    if trade["direction"] == "long":
        move = context.subtract(exit_price, entry_price)
    else:
        move = context.subtract(entry_price, exit_price)
    gross = context.multiply(move, size)
    entry_value = trade["entry_value"]
    if entry_value is None:
        entry_value = entry_value_of(entry_price, size)
    net_pnl = context.subtract(gross, commission).quantize(_MONEY, context=context)
    percentage = None
    if entry_value:
        ratio = context.divide(context.multiply(net_pnl, 100), entry_value)
        percentage = ratio.quantize(_PERCENT, context=context)
        if abs(percentage) >= _PERCENT_LIMIT:
            percentage = None
    return {
        "exit_value": context.multiply(exit_price, size).quantize(_MONEY, context=context),
        "entry_value": entry_value,
        "commission": commission,
        "gross_pnl": gross.quantize(_MONEY, context=context),
        "net_pnl": net_pnl,
        "pnl_percentage": percentage,
        "status": "closed",
    }
