"""When each bot entered its latest trade, without reading every bot's trades.

No index holds (bot_id, entry_time), so "the latest entry_time per bot" over a million trades
is a pass over all of them (seconds). Instead:
1. the trades entered in the last 15 minutes, one range of idx_entry_time for the whole fleet,
   give every bot trading now (the common case, read on every refresh);
2. a bot not among them is remembered: its answer holds until ITS trades change (the change
   feed says so, asyncstore.dashboard.versions);
3. a bot neither recent nor remembered is looked for in widening ranges (a day, a week, 30
   days), each one range of the same index for the whole fleet;
4. only a bot idle for longer is read on its own (idx_bot_trade_type: its own trades), once,
   and remembered.
After the first page, a refresh costs step 1; a dashboard opened on an idle fleet (overnight)
costs a few ranges of the index, not a pass per bot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from asyncstore.store import Store
from asyncstore.types import UTCDateTime

from . import fleet_queries as q
from .versions import Versions

__all__ = ["RECENT", "LatestTrades"]

RECENT = timedelta(minutes=15)
WIDER = (timedelta(days=1), timedelta(days=7), timedelta(days=30))
_IDS_PER_READ = 500  # bot ids bound in one IN list (well under every parameter limit)


class LatestTrades:
    def __init__(self, store: Store, versions: Versions) -> None:
        self._store = store
        self._versions = versions
        # Bots without a recent trade: (their trades' data version, latest entry_time).
        self._known: dict[str, tuple[int, datetime | None]] = {}
        self.wide_reads = 0  # reads beyond the recent range (counted as they are made)

    async def of(
        self, bot_ids: Sequence[str], recent_rows: Sequence[Sequence[Any]], now: datetime
    ) -> dict[str, datetime | None]:
        """The latest entry_time of each of `bot_ids` (None: no trade with one), given the
        rows of `latest_entries` over the RECENT range ending `now`."""
        latest = _found(recent_rows)
        unknown: dict[str, int | None] = {}
        for bot_id in bot_ids:
            if bot_id in latest:
                continue
            version = self._versions.bot_trades(bot_id)
            known = self._known.get(bot_id)
            if known is not None and version is not None and known[0] >= version:
                latest[bot_id] = known[1]
            else:
                unknown[bot_id] = version  # the version before the read: kept with the answer
        for span in WIDER:
            if not unknown:
                break
            self.wide_reads += 1
            rows = await self._store.fetch_all(
                q.LATEST_ENTRIES, {"since": UTCDateTime.to_db(now - span)}
            )
            self._learn(_found(rows), unknown, latest)
        ids = list(unknown)
        for start in range(0, len(ids), _IDS_PER_READ):
            self.wide_reads += 1
            chunk = ids[start : start + _IDS_PER_READ]
            rows = await self._store.fetch_all(*_latest_entry_of(chunk))
            answers: dict[str, datetime | None] = dict.fromkeys(chunk)
            answers.update(_found(rows))
            self._learn(answers, unknown, latest)
        return latest

    def _learn(
        self,
        answers: dict[str, datetime | None],
        unknown: dict[str, int | None],
        latest: dict[str, datetime | None],
    ) -> None:
        for bot_id, entry in answers.items():
            if bot_id not in unknown:
                continue
            version = unknown.pop(bot_id)
            latest[bot_id] = entry
            if version is not None:
                self._known[bot_id] = (version, entry)


def _found(rows: Sequence[Sequence[Any]]) -> dict[str, datetime | None]:
    return {bot_id: UTCDateTime.from_db(entry) for bot_id, entry in rows}


def _latest_entry_of(bot_ids: list[str]) -> tuple[Any, dict[str, str]]:
    count = 1 << (len(bot_ids) - 1).bit_length()  # padded with the last id: IN ignores repeats
    padded = bot_ids + bot_ids[-1:] * (count - len(bot_ids))
    return q.latest_entry_of(count), {f"id_{n}": bot_id for n, bot_id in enumerate(padded)}
