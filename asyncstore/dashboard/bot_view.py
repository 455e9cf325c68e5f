"""One bot's page: its books, PnL curve, periods, breakdowns, metrics, positions, activity.

The bot's own figures (books, today's PnL, open positions, last trade, liveness) are its row
of the fleet view, which is read for every bot at once (`entry_of`). The rest is read
concurrently (each read on its own pooled connection), each part kept in memory until the
table it comes from changes for this bot (asyncstore.dashboard.versions): a heartbeat moves
the bot's activity, not its metrics or trades.

The closed-trade figures are the one read whose cost grows with the bot's trades (one pass
over them, ~35-45 ms at 10,000 closed trades, asyncstore.dashboard.bot_queries). While the bot
trades they are read again at most every `figures_interval` seconds, in the background: the
page gets the figures in memory at once, and `on_refreshed(bot_id)` announces the new ones
(the pages then fetch again). So a watched bot costs at most one pass per interval, however
busy it is and however many browsers watch it; the figures lag its trades by at most that.
Its books, today's PnL, open positions and activity are read live.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import date, timedelta
from typing import Any

from asyncstore.clock import utc_now
from asyncstore.repository.activity import equity_history, heartbeat_timeline
from asyncstore.repository.metrics import METRICS_CODEC
from asyncstore.repository.trades import TRADE_CODEC
from asyncstore.store import Store
from asyncstore.threads import SMALL_RESULT_ROWS, per_rows_off_loop

from . import bot_queries as q
from .memo import Memo
from .rollups import ClosedFigures, closed_figures
from .versions import Versions

__all__ = ["FIGURES_INTERVAL", "BotReader"]

CURVE_POINTS = 1000  # at most this many points on a PnL or balance curve
UPTIME_WINDOW = timedelta(hours=24)  # the heartbeat timeline shown
FIGURES_INTERVAL = 5.0
_HISTORY_COLUMNS = (
    "calculated_at",
    "sharpe_ratio",
    "win_rate",
    "profit_factor",
    "max_drawdown",
    "total_return",
    "total_trades",
)

Rows = list[dict[str, Any]]


class BotReader:
    def __init__(
        self,
        store: Store,
        versions: Versions,
        entry_of: Callable[[str], Awaitable[dict[str, Any] | None]],
        *,
        figures_interval: float = FIGURES_INTERVAL,
        on_refreshed: Callable[[str], None] = lambda bot_id: None,
    ) -> None:
        self._store = store
        self._versions = versions
        self._entry_of = entry_of

        def refreshed(key: Hashable) -> None:
            if isinstance(key, tuple):  # the keys below: (bot_id, date)
                on_refreshed(key[0])

        self.figures: Memo[ClosedFigures] = Memo(
            min_interval=figures_interval, on_refreshed=refreshed
        )
        self._metrics: Memo[Rows] = Memo()
        self._positions: Memo[Rows] = Memo()

    async def bot(self, bot_id: str) -> dict[str, Any] | None:
        """The page of `bot_id`; None for an unknown bot."""
        now = utc_now()
        entry, figures, metrics, positions, equity, uptime = await asyncio.gather(
            self._entry_of(bot_id),
            self._closed_figures(bot_id, now.date()),
            self._rows(self._metrics, bot_id, "performance_metrics", q.metrics(), _metrics),
            self._rows(self._positions, bot_id, "trades", q.positions(), _positions),
            equity_history(self._store, bot_id, max_points=CURVE_POINTS),
            heartbeat_timeline(self._store, bot_id, since=now - UPTIME_WINDOW),
        )
        if entry is None:
            return None
        return {
            "bot": entry,
            "equity": figures.equity,
            "periods": figures.periods,
            "by_symbol": figures.by_symbol,
            "by_strategy": figures.by_strategy,
            "figures_summed_at": figures.summed_at,
            "metrics": {
                "latest": metrics[0] if metrics else None,
                "history": [
                    {name: row[name] for name in _HISTORY_COLUMNS} for row in reversed(metrics)
                ],
            },
            "open_positions": positions,
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
            summed_at = utc_now()
            values = {"bot_id": bot_id, "max_points": CURVE_POINTS}
            rows = await self._store.fetch_all(q.closed_figures(), values)
            if len(rows) <= SMALL_RESULT_ROWS:
                return closed_figures(rows, today, summed_at)
            return await asyncio.to_thread(closed_figures, rows, today, summed_at)

        # The day is in the key: the period tables count back from today.
        return await self.figures.get(
            (bot_id, today), lambda: self._versions.bot_trades(bot_id), read
        )

    async def _rows(
        self,
        memo: Memo[Rows],
        bot_id: str,
        table: str,
        query: Any,
        decode: Callable[[Sequence[Sequence[Any]]], Rows],
    ) -> Rows:
        async def read() -> Rows:
            rows = await self._store.fetch_all(query, {"bot_id": bot_id})
            return await per_rows_off_loop(decode, rows)

        return await memo.get(bot_id, lambda: self._versions.bot_table(bot_id, table), read)


def _metrics(rows: Sequence[Sequence[Any]]) -> Rows:
    return [METRICS_CODEC.decode(row) for row in rows]


def _positions(rows: Sequence[Sequence[Any]]) -> Rows:
    decode = TRADE_CODEC.decode_values
    return [decode(dict(zip(q.OPEN_POSITION_COLUMNS, row, strict=True))) for row in rows]
