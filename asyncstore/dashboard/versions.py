"""Versions: how far the data of each view has moved, counted from the change feed.

Every change the dashboard's feed delivers gets the next sequence number; a view's version is
the number of the last change that could alter it. The fleet depends on every change; one bot's
page on that bot's changes (any table) and on changes that name no bot; its trade figures on
its trades only (a heartbeat does not move them). A resync (changes were missed) or a restart
of the feed moves everything. While the feed is not running, every version is None: unknown,
so nothing is served from memory (`asyncstore.dashboard.memo`).
"""

from __future__ import annotations

from asyncstore.feed import Change

__all__ = ["Versions"]


class Versions:
    def __init__(self) -> None:
        self.live = False
        self._sequence = 0
        self._everything = 0  # the last change that could touch any bot (no bot named, resync)
        self._trades_everywhere = 0  # the last trade change that named no bot
        self._any_trade = 0
        self._bot: dict[str, int] = {}
        self._bot_trades: dict[str, int] = {}

    def started(self) -> None:
        """The feed (re)started: what happened while it was down is unknown, so all moves."""
        self.live = True
        self.moved_everything()

    def stopped(self) -> None:
        self.live = False

    def moved_everything(self) -> None:
        self._sequence += 1
        self._everything = self._trades_everywhere = self._any_trade = self._sequence

    def moved_fleet(self) -> None:
        """Something only the fleet view shows changed (its daily history was summed)."""
        self._sequence += 1

    def note(self, change: Change) -> None:
        if change.operation == "resync":
            self.moved_everything()
            return
        self._sequence += 1
        if change.table == "trades":
            self._any_trade = self._sequence
        bot_id = change.bot_id
        if bot_id is None:
            self._everything = self._sequence
            if change.table == "trades":
                self._trades_everywhere = self._sequence
            return
        self._bot[bot_id] = self._sequence
        if change.table == "trades":
            self._bot_trades[bot_id] = self._sequence

    def fleet(self) -> int | None:
        return self._sequence if self.live else None

    def bot(self, bot_id: str) -> int | None:
        if not self.live:
            return None
        return max(self._bot.get(bot_id, 0), self._everything)

    def bot_trades(self, bot_id: str) -> int | None:
        if not self.live:
            return None
        return max(self._bot_trades.get(bot_id, 0), self._trades_everywhere, self._everything)

    def trades(self) -> int | None:
        """Any trade anywhere (what the fleet's daily history depends on)."""
        if not self.live:
            return None
        return max(self._any_trade, self._everything)
