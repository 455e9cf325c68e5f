"""One bot's closed-trade figures, assembled from the rows the database summed.

`closed_figures` (asyncstore.dashboard.bot_queries) returns a few rows per day, curve bucket
and strategy, never one per trade; these functions add those up (exactly, as Decimal) into the
PnL curve, the daily / weekly / monthly periods and the per-symbol and per-strategy tables.
Pure functions: the caller runs them on a worker thread when the rows are many.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from asyncstore.types import DECIMAL_CONTEXT, UTCDateTime

from .sql import exact_money

__all__ = ["ClosedFigures", "closed_figures"]

DAYS, WEEKS, MONTHS = 90, 52, 24  # how far back each period table goes (this one included)
ZERO = Decimal("0E-8")


@dataclass(slots=True)
class _Sum:
    trades: int = 0
    wins: int = 0
    pnl: Decimal = ZERO

    def add(self, trades: Any, wins: Any, pnl: Decimal) -> None:
        self.trades += int(trades)
        self.wins += int(wins)
        self.pnl = DECIMAL_CONTEXT.add(self.pnl, pnl)


@dataclass(frozen=True, slots=True)
class ClosedFigures:
    summed_at: datetime  # when the read began: trades committed later may be missing
    equity: list[dict[str, Any]]
    periods: dict[str, list[dict[str, Any]]]
    by_symbol: list[dict[str, Any]]
    by_strategy: list[dict[str, Any]]


def closed_figures(
    rows: Sequence[Sequence[Any]], today: date, summed_at: datetime
) -> ClosedFigures:
    days: dict[date, _Sum] = {}
    buckets: dict[int, tuple[_Sum, datetime]] = {}
    symbols: dict[str, _Sum] = {}
    strategies: dict[tuple[str, str], _Sum] = {}
    for kind, day, bucket, last_exit, symbol, entry, exit_, trades, wins, whole, fraction in rows:
        pnl = exact_money(whole, fraction)
        if kind == "t":
            _at(days, date.fromisoformat(day)).add(trades, wins, pnl)
            exit_at = UTCDateTime.from_db(last_exit)
            if exit_at is None:  # not from closed_figures: its "t" rows all have an exit
                continue
            total, latest = buckets.get(int(bucket), (_Sum(), exit_at))
            total.add(trades, wins, pnl)
            buckets[int(bucket)] = (total, max(latest, exit_at))
        else:
            _at(symbols, symbol).add(trades, wins, pnl)
            _at(strategies, (entry, exit_)).add(trades, wins, pnl)
    return ClosedFigures(
        summed_at=summed_at,
        equity=_curve(buckets),
        periods=_periods(days, today),
        by_symbol=[
            {"symbol": symbol, **_figures(total)} for symbol, total in sorted(symbols.items())
        ],
        by_strategy=[
            {"entry_logic_name": entry, "exit_logic_name": exit_, **_figures(total)}
            for (entry, exit_), total in sorted(strategies.items())
        ],
    )


def _at(sums: dict[Any, _Sum], key: Hashable) -> _Sum:
    total = sums.get(key)
    if total is None:
        total = sums[key] = _Sum()
    return total


def _figures(total: _Sum) -> dict[str, Any]:
    return {"trades": total.trades, "wins": total.wins, "pnl": total.pnl}


def _curve(buckets: dict[int, tuple[_Sum, datetime]]) -> list[dict[str, Any]]:
    """The cumulative realized PnL at the last exit of each bucket, in time order."""
    running, points = ZERO, []
    for bucket in sorted(buckets):
        total, latest = buckets[bucket]
        running = DECIMAL_CONTEXT.add(running, total.pnl)
        points.append({"t": latest, "pnl": running})
    return points


def _periods(days: dict[date, _Sum], today: date) -> dict[str, list[dict[str, Any]]]:
    week = _monday(today)  # ISO weeks start on Monday
    month = today.replace(day=1)
    first_month = _months_before(month, MONTHS - 1)
    return {
        "daily": _rollup(days.items(), lambda day: day, today - timedelta(days=DAYS - 1)),
        "weekly": _rollup(days.items(), _monday, week - timedelta(weeks=WEEKS - 1)),
        "monthly": _rollup(days.items(), lambda day: day.replace(day=1), first_month),
    }


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _rollup(
    days: Iterable[tuple[date, _Sum]], period_of: Callable[[date], date], first: date
) -> list[dict[str, Any]]:
    periods: dict[date, _Sum] = {}
    for day, total in days:
        if day >= first:
            _at(periods, period_of(day)).add(total.trades, total.wins, total.pnl)
    return [
        {"period": f"{start.isoformat()}T00:00:00Z", **_figures(periods[start])}
        for start in sorted(periods)
    ]


def _months_before(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)
