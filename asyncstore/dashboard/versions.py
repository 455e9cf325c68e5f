"""Versions: how far the data of each view has moved, counted from the change feed.

Every change the dashboard's feed delivers gets the next sequence number; a view's version is
the number of the last change that could alter it. The fleet depends on every change; one bot's
page on that bot's changes and on changes that name no bot; a part of it on one table only (its
trade figures on its trades: a heartbeat does not move them). A resync (changes were missed) or
a restart of the feed moves everything. While the feed is not running, every version is None:
unknown, so nothing is served from memory (`asyncstore.dashboard.memo`).
"""

from __future__ import annotations

from asyncstore.feed import Change

__all__ = ["Versions"]


class Versions:
    def __init__(self) -> None:
        self.live = False
        self._sequence = 0
        self._everything = 0  # the last change that could touch any bot (no bot named, resync)
        self._any: dict[str, int] = {}  # per table, the last change at all
        self._bot: dict[str, int] = {}  # per bot, its last change (any table)
        self._bot_tables: dict[tuple[str, str], int] = {}  # per (bot, table)

    def started(self) -> None:
        """The feed (re)started: what happened while it was down is unknown, so all moves."""
        self.live = True
        self.moved_everything()

    def stopped(self) -> None:
        self.live = False

    def moved_everything(self) -> None:
        self._sequence += 1
        self._everything = self._sequence

    def moved_fleet(self) -> None:
        """Something only the fleet view shows changed (its daily history was summed)."""
        self._sequence += 1

    def moved_bot(self, bot_id: str) -> None:
        """Something only this bot's page shows changed (figures summed again, in memory)."""
        self._sequence += 1
        self._bot[bot_id] = self._sequence

    def note(self, change: Change) -> None:
        if change.operation == "resync":
            self.moved_everything()
            return
        self._sequence += 1
        table, bot_id = change.table, change.bot_id
        self._any[table] = self._sequence
        if bot_id is None:
            self._everything = self._sequence
        else:
            self._bot[bot_id] = self._bot_tables[bot_id, table] = self._sequence

    def fleet(self) -> int | None:
        return self._sequence if self.live else None

    def bot(self, bot_id: str) -> int | None:
        if not self.live:
            return None
        return max(self._bot.get(bot_id, 0), self._everything)

    def bot_table(self, bot_id: str, table: str) -> int | None:
        """The last change to `table` that could be one of this bot's rows."""
        if not self.live:
            return None
        return max(self._bot_tables.get((bot_id, table), 0), self._everything)

    def bot_trades(self, bot_id: str) -> int | None:
        return self.bot_table(bot_id, "trades")

    def trades(self) -> int | None:
        """Any trade anywhere (what the fleet's daily history depends on)."""
        if not self.live:
            return None
        return max(self._any.get("trades", 0), self._everything)
