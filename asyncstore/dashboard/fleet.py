"""The fleet view: every bot's books and liveness, fleet totals, the cumulative PnL by day.

Figures (JSON contract in asyncstore.dashboard.app):
- `total_pnl`, `current_balance`: the bot's own books (bot_instances), which close_trade moves;
- `today_pnl`: net PnL of the bot's trades closed since UTC midnight (by exit_time), exact;
- `open_positions`: its open trades;
- `last_trade_at`: when its most recent trade was entered (the latest entry_time; see
  asyncstore.dashboard.latest_trades);
- `stale`: running, and no heartbeat for more than `stale_after` seconds (or never).
Every figure is computed by the database from an index range (asyncstore.dashboard
.fleet_queries); nothing here reads every trade.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from asyncstore.clock import utc_now
from asyncstore.repository.bots import BOT_CODEC
from asyncstore.store import Store
from asyncstore.threads import per_rows_off_loop
from asyncstore.types import DECIMAL_CONTEXT, UTCDateTime

from . import fleet_queries as q
from .history import DailyHistory, utc_midnight
from .latest_trades import RECENT, LatestTrades
from .sql import exact_money
from .versions import Versions

__all__ = ["FleetReader"]

ZERO = Decimal("0E-8")

Bot = dict[str, Any]


class FleetReader:
    def __init__(
        self, store: Store, versions: Versions, history: DailyHistory, *, stale_after: float
    ) -> None:
        self._store = store
        self._versions = versions
        self._history = history
        self.stale_after = stale_after
        self._latest = LatestTrades(store, versions)

    @property
    def stale_rule(self) -> str:
        return f"a running bot whose last heartbeat is older than {self.stale_after:g} s"

    async def fleet(self) -> dict[str, Any]:
        now = utc_now()
        history = await self._history.snapshot()
        # Without the summed days yet, the live part is read from today on (for today_pnl).
        cutoff = utc_midnight(now) if history is None else history.cutoff
        values = {"cutoff": UTCDateTime.to_db(cutoff), "since": _text(now - RECENT)}
        bot_rows, open_rows, closed_rows, entry_rows = await asyncio.gather(
            self._store.fetch_all(q.BOT_ROWS),
            self._store.fetch_all(q.OPEN_COUNTS),
            self._store.fetch_all(q.CLOSED_SINCE, values),
            self._store.fetch_all(q.LATEST_ENTRIES, values),
        )
        bots = await per_rows_off_loop(_decode_bots, bot_rows)
        latest = await self._latest.of([bot["id"] for bot in bots], entry_rows, now)
        today = _day_text(now)
        today_pnl = _sums(row for row in closed_rows if row[1] == today)
        opened = {bot_id: int(count) for bot_id, count in open_rows}
        for bot in bots:
            self._complete(bot, now, today_pnl, opened, latest)
        return {
            "generated_at": now,
            "stale_after_seconds": float(self.stale_after),
            "stale_rule": self.stale_rule,
            "bots": bots,
            "totals": _totals(bots),
            # null until the first pass over the history is done (a moment after start)
            "cumulative_pnl": None if history is None else _cumulative(history.days, closed_rows),
            "cumulative_pnl_summed_at": None if history is None else history.summed_at,
        }

    def _complete(
        self,
        bot: Bot,
        now: datetime,
        today_pnl: dict[str, Decimal],
        opened: dict[str, int],
        latest: dict[str, datetime | None],
    ) -> None:
        beat: datetime | None = bot["last_heartbeat"]
        age = None if beat is None else max(0.0, (now - beat).total_seconds())
        bot["heartbeat_age_seconds"] = age
        bot["stale"] = bot["status"] == "running" and (age is None or age > self.stale_after)
        bot["today_pnl"] = today_pnl.get(bot["id"], ZERO)
        bot["open_positions"] = opened.get(bot["id"], 0)
        bot["last_trade_at"] = latest.get(bot["id"])


def _text(at: datetime) -> str | None:
    return UTCDateTime.to_db(at)


def _day_text(at: datetime) -> str:
    return utc_midnight(at).strftime("%Y-%m-%d")


def _decode_bots(rows: Sequence[Sequence[Any]]) -> list[Bot]:
    decode = BOT_CODEC.decode_values
    return [decode(dict(zip(q.BOT_COLUMN_NAMES, row, strict=True))) for row in rows]


def _sums(rows: Iterable[Sequence[Any]]) -> dict[str, Decimal]:
    """Net PnL per bot of `closed_since` rows (bot, day, count, wins, whole, fraction)."""
    sums: dict[str, Decimal] = {}
    for bot_id, _day, _count, _wins, whole, fraction in rows:
        sums[bot_id] = DECIMAL_CONTEXT.add(sums.get(bot_id, ZERO), exact_money(whole, fraction))
    return sums


def _totals(bots: list[Bot]) -> dict[str, Any]:
    add = DECIMAL_CONTEXT.add
    total_pnl, today_pnl = ZERO, ZERO
    for bot in bots:
        total_pnl = add(total_pnl, bot["total_pnl"] or ZERO)
        today_pnl = add(today_pnl, bot["today_pnl"])
    return {
        "bots": len(bots),
        "running": sum(bot["status"] == "running" for bot in bots),
        "stale": sum(bot["stale"] for bot in bots),
        "open_positions": sum(bot["open_positions"] for bot in bots),
        "total_pnl": total_pnl,
        "today_pnl": today_pnl,
    }


def _cumulative(
    summed: list[tuple[str, Decimal]], recent_rows: Sequence[Sequence[Any]]
) -> list[dict[str, Any]]:
    """Fleet PnL by day: the summed days before the cutoff, then the days since (rows of
    `closed_since` per bot and day)."""
    by_day = dict(summed)
    for _bot, day, _count, _wins, whole, fraction in recent_rows:
        by_day[day] = DECIMAL_CONTEXT.add(by_day.get(day, ZERO), exact_money(whole, fraction))
    running, points = ZERO, []
    for day in sorted(by_day):
        running = DECIMAL_CONTEXT.add(running, by_day[day])
        points.append({"t": f"{day}T00:00:00Z", "pnl": running})
    return points
