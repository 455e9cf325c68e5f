"""One bot's page: its books, PnL curve, periods, breakdowns, metrics, positions, activity.

All of it is read concurrently (each read on its own pooled connection). The closed-trade
figures are the one read whose cost grows with the bot's trades (one pass over them, see
asyncstore.dashboard.bot_queries): they are kept until the bot's trades change (a heartbeat
does not move them). How often a page is read at all is the app's business (bot_interval).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from asyncstore.clock import utc_now
from asyncstore.repository.activity import equity_history, heartbeat_timeline
from asyncstore.repository.metrics import METRICS_CODEC
from asyncstore.repository.trades import TRADE_CODEC
from asyncstore.store import Store
from asyncstore.threads import SMALL_RESULT_ROWS, per_rows_off_loop

from . import bot_queries as q
from .fleet import FleetReader
from .memo import Memo
from .rollups import ClosedFigures, closed_figures
from .versions import Versions

__all__ = ["BotReader"]

CURVE_POINTS = 1000  # at most this many points on a PnL or balance curve
UPTIME_WINDOW = timedelta(hours=24)  # the heartbeat timeline shown
_HISTORY_COLUMNS = (
    "calculated_at",
    "sharpe_ratio",
    "win_rate",
    "profit_factor",
    "max_drawdown",
    "total_return",
    "total_trades",
)


class BotReader:
    def __init__(self, store: Store, versions: Versions, fleet: FleetReader) -> None:
        self._store = store
        self._versions = versions
        self._fleet = fleet
        self.figures: Memo[ClosedFigures] = Memo()

    async def bot(self, bot_id: str) -> dict[str, Any] | None:
        """The page of `bot_id`; None for an unknown bot."""
        now = utc_now()
        values = {"bot_id": bot_id}
        entry, figures, metric_rows, position_rows, equity, uptime = await asyncio.gather(
            self._fleet.bot(bot_id),
            self._closed_figures(bot_id, now.date()),
            self._store.fetch_all(q.metrics(), values),
            self._store.fetch_all(q.positions(), values),
            equity_history(self._store, bot_id, max_points=CURVE_POINTS),
            heartbeat_timeline(self._store, bot_id, since=now - UPTIME_WINDOW),
        )
        if entry is None:
            return None
        metrics = await per_rows_off_loop(_decode_metrics, metric_rows)
        return {
            "bot": entry,
            "equity": figures.equity,
            "periods": figures.periods,
            "by_symbol": figures.by_symbol,
            "by_strategy": figures.by_strategy,
            "metrics": {
                "latest": metrics[0] if metrics else None,
                "history": [
                    {name: row[name] for name in _HISTORY_COLUMNS} for row in reversed(metrics)
                ],
            },
            "open_positions": await per_rows_off_loop(_decode_positions, position_rows),
            "activity": {
                "equity": [
                    {"t": point.at, "balance": point.balance, "total_pnl": point.total_pnl}
                    for point in equity
                ],
                "uptime": [
                    {
                        "t": bucket.start,
                        "seconds": bucket.seconds,
                        "heartbeats": bucket.heartbeats,
                        "status": bucket.status,
                        "first_beat": bucket.first_beat,
                        "last_beat": bucket.last_beat,
                    }
                    for bucket in uptime
                ],
                "uptime_since": now - UPTIME_WINDOW,
            },
        }

    async def _closed_figures(self, bot_id: str, today: date) -> ClosedFigures:
        async def read() -> ClosedFigures:
            values = {"bot_id": bot_id, "max_points": CURVE_POINTS}
            rows = await self._store.fetch_all(q.closed_figures(), values)
            if len(rows) <= SMALL_RESULT_ROWS:
                return closed_figures(rows, today)
            return await asyncio.to_thread(closed_figures, rows, today)

        # The day is in the key: the period tables count back from today.
        return await self.figures.get(
            (bot_id, today), lambda: self._versions.bot_trades(bot_id), read
        )


def _decode_metrics(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [METRICS_CODEC.decode(row) for row in rows]


def _decode_positions(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    decode = TRADE_CODEC.decode_values
    return [decode(dict(zip(q.OPEN_POSITION_COLUMNS, row, strict=True))) for row in rows]
