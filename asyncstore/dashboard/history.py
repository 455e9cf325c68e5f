"""The fleet's realized PnL per UTC day, summed once and kept, for the cumulative PnL chart.

Summing every closed trade is one pass over the trades table (no index holds net_pnl: about
0.6 s at a million trades, on SQLite and PostgreSQL alike), far too slow for every refresh of
every page. So the days before a cutoff (a UTC midnight) are summed in the background and kept;
the days from the cutoff on are read live with each request, from the retention index
(asyncstore.dashboard.fleet). Together they are exact as of the snapshot.

What can move a day before the cutoff is rare: a trade written with an old exit time (an
import), an old trade deleted by cleanup, a correction. The snapshot is summed again when the
trades changed since it was read and `refresh_after` seconds have passed, or when a new UTC
day began; until then the page shows the previous one (`summed_at` says when it was read).

The first pass starts with the dashboard. A page that asks before it is done waits for it a
moment (`first_wait`), then gets the fleet without the curve (null: not known yet); when the
pass ends, `on_summed` is called (the dashboard then tells the pages to fetch the fleet again).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from asyncstore.clock import utc_now
from asyncstore.store import Store
from asyncstore.threads import per_rows_off_loop
from asyncstore.types import UTCDateTime

from .fleet_queries import closed_by_day
from .sql import exact_money
from .versions import Versions

__all__ = ["DailyHistory", "HistorySnapshot", "utc_midnight"]

REFRESH_AFTER_SECONDS = 60.0
FIRST_WAIT_SECONDS = 0.25


def utc_midnight(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class HistorySnapshot:
    cutoff: datetime  # a UTC midnight: the days before it are summed here
    days: list[tuple[str, Decimal]]  # ('YYYY-MM-DD', realized PnL that day), by day
    summed_at: datetime  # when the read started
    version: int | None  # the trades' data version then (None: unknown)
    started: float  # time.monotonic() then


class DailyHistory:
    def __init__(
        self,
        store: Store,
        versions: Versions,
        *,
        refresh_after: float = REFRESH_AFTER_SECONDS,
        first_wait: float = FIRST_WAIT_SECONDS,
        on_summed: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._versions = versions
        self.refresh_after = refresh_after
        self.first_wait = first_wait
        self._on_summed = on_summed
        self._snapshot: HistorySnapshot | None = None
        self._task: asyncio.Task[HistorySnapshot] | None = None
        self.summings = 0  # passes over the trades started (counted as they start)

    def start(self) -> None:
        """Begin summing now, so the first page finds it done (or under way)."""
        self._refresh()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def snapshot(self) -> HistorySnapshot | None:
        """The latest snapshot; starts a new one in the background when it is out of date.
        Before the first exists, waits up to `first_wait` seconds for it, then says None."""
        current = self._snapshot
        if current is None:
            first = self._refresh()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.first_wait):
                    return await asyncio.shield(first)
            return None
        if self._outdated(current):
            self._refresh()
        return current

    async def first(self) -> HistorySnapshot:
        """The first snapshot, waited for as long as it takes (tests, benchmarks)."""
        if self._snapshot is not None:
            return self._snapshot
        return await asyncio.shield(self._refresh())

    def _outdated(self, snapshot: HistorySnapshot) -> bool:
        if snapshot.cutoff < utc_midnight(utc_now()):
            return True  # a new day: yesterday belongs to the summed days now
        if time.monotonic() - snapshot.started < self.refresh_after:
            return False
        version = self._versions.trades()
        return version is None or snapshot.version is None or version > snapshot.version

    def _refresh(self) -> asyncio.Task[HistorySnapshot]:
        if self._task is None:
            self._task = asyncio.create_task(self._sum(), name="dashboard daily history")
            self._task.add_done_callback(self._done)
        return self._task

    def _done(self, task: asyncio.Task[HistorySnapshot]) -> None:
        self._task = None
        if not task.cancelled() and task.exception() is None:
            self._snapshot = task.result()
            self._on_summed()

    async def _sum(self) -> HistorySnapshot:
        self.summings += 1
        version, started, now = self._versions.trades(), time.monotonic(), utc_now()
        cutoff = utc_midnight(now)
        rows = await self._store.fetch_all(closed_by_day(), {"cutoff": UTCDateTime.to_db(cutoff)})
        days = await per_rows_off_loop(_daily_sums, rows)
        return HistorySnapshot(cutoff, days, now, version, started)


def _daily_sums(rows: Sequence[Sequence[Any]]) -> list[tuple[str, Decimal]]:
    return [(str(day), exact_money(whole, fraction)) for day, _count, whole, fraction in rows]
