"""Performance metrics computed from a bot's closed trades, in Decimal.

Definitions (also in the README):
- the bot's closed trades, ordered by exit_time (a trade without one by its created_at; ties in
  creation order); a closed trade without net_pnl counts as 0; winning: net_pnl > 0, losing: < 0;
- win_rate = 100 x winning / total; avg_win / avg_loss = mean net_pnl of winners / of losers (the
  loss is negative); largest_win = the largest winner, largest_loss = the most negative loser;
- profit_factor = sum of winners / |sum of losers| (None without losers);
- equity starts at `start` and adds each trade's net_pnl at its exit; total_return =
  100 x (final - start) / start; max_drawdown = 100 x the largest (peak - equity) / peak, the peak
  including the start;
- sharpe_ratio = mean / sample stdev (ddof=1) of daily returns of end-of-UTC-day equity, from the
  first exit's day to the last exit's day inclusive (a day without exits returns 0; the first day
  is relative to the start), times sqrt(365); None with fewer than two days or zero stdev;
- ratios that need a positive start (total_return, max_drawdown, sharpe_ratio) are None without one;
- no closed trades: total_trades 0 and every other figure None; no winners (losers): the figures of
  that side are None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from asyncstore.types import DECIMAL_CONTEXT

__all__ = ["ClosedTrades", "compute_metrics"]

_CTX = DECIMAL_CONTEXT
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class ClosedTrades:
    """A bot's closed trades in exit order, as two columns: a list of datetimes and one of
    Decimals hold no objects the garbage collector tracks, where an object per trade would make
    its full passes (which hold every thread) longer for a bot with a long history."""

    exited_at: list[datetime]
    net_pnl: list[Decimal]

    def __len__(self) -> int:
        return len(self.net_pnl)


def _mean(values: Sequence[Decimal]) -> Decimal:
    return _CTX.divide(sum(values, Decimal(0)), Decimal(len(values)))


def _decimal(value: Fraction) -> Decimal:
    return _CTX.divide(Decimal(value.numerator), Decimal(value.denominator))


def _sharpe(returns: Sequence[Fraction]) -> Decimal | None:
    """Exact mean and sample variance (Fractions: equal returns give exactly zero deviation)."""
    if len(returns) < 2:
        return None
    mean = sum(returns, Fraction(0)) / len(returns)
    variance = sum(((r - mean) ** 2 for r in returns), Fraction(0)) / (len(returns) - 1)
    if variance == 0:
        return None
    deviation = _CTX.sqrt(_decimal(variance))
    return _CTX.multiply(_CTX.divide(_decimal(mean), deviation), _CTX.sqrt(Decimal(365)))


def _daily_returns(trades: ClosedTrades, start: Decimal) -> list[Fraction] | None:
    """Returns of end-of-UTC-day equity from the first exit's day to the last's; None if equity
    is not positive at the start of some day (a return is undefined there)."""
    pnl_by_day: dict[date, Decimal] = {}
    for exited_at, net_pnl in zip(trades.exited_at, trades.net_pnl, strict=True):
        day = exited_at.date()
        pnl_by_day[day] = pnl_by_day.get(day, Decimal(0)) + net_pnl
    day, last = min(pnl_by_day), max(pnl_by_day)
    returns, equity = [], start
    while day <= last:
        if equity <= 0:
            return None
        closing = equity + pnl_by_day.get(day, Decimal(0))
        returns.append(Fraction(closing - equity) / Fraction(equity))
        equity, day = closing, day + timedelta(days=1)
    return returns


def _equity_figures(trades: ClosedTrades, start: Decimal) -> dict[str, Any]:
    if start <= 0:
        return {"total_return": None, "max_drawdown": None, "sharpe_ratio": None}
    equity = peak = start
    worst = Decimal(0)
    for net_pnl in trades.net_pnl:
        equity += net_pnl
        peak = max(peak, equity)
        if peak > 0:
            worst = max(worst, _CTX.divide(peak - equity, peak))
    returns = _daily_returns(trades, start)
    sharpe = None if returns is None else _sharpe(returns)
    return {
        "total_return": _CTX.divide(_HUNDRED * (equity - start), start),
        "max_drawdown": _HUNDRED * worst,
        "sharpe_ratio": sharpe,
    }


def compute_metrics(trades: ClosedTrades, start: Decimal | None) -> dict[str, Any]:
    """The metrics of `trades` (already in exit order), unrounded; keys are the table's columns.

    All arithmetic runs in asyncstore's decimal context, whatever the caller's context is."""
    with localcontext(_CTX):
        return _compute(trades, start)


def _compute(trades: ClosedTrades, start: Decimal | None) -> dict[str, Any]:
    total = len(trades)
    if total == 0:
        return {"total_trades": 0, "winning_trades": 0, "losing_trades": 0}
    winners = [pnl for pnl in trades.net_pnl if pnl > 0]
    losers = [pnl for pnl in trades.net_pnl if pnl < 0]
    loss_sum = sum(losers, Decimal(0))
    figures: dict[str, Any] = {
        "total_trades": total,
        "winning_trades": len(winners),
        "losing_trades": len(losers),
        "win_rate": _CTX.divide(_HUNDRED * len(winners), Decimal(total)),
        "avg_win": _mean(winners) if winners else None,
        "avg_loss": _mean(losers) if losers else None,
        "largest_win": max(winners) if winners else None,
        "largest_loss": min(losers) if losers else None,
        "profit_factor": _CTX.divide(sum(winners, Decimal(0)), -loss_sum) if losers else None,
    }
    if start is not None:
        figures.update(_equity_figures(trades, start))
    return figures
