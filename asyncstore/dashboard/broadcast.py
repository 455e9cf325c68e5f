"""Broadcaster: ONE subscription to the Store's change feed, fanned out to every browser.

The feed is followed by a single task, whatever the number of open pages. Changes are
coalesced over short windows (`window`, 200 ms): each window becomes one `changes` event
(the bots and tables touched, how many rows, whether to resync), encoded once and offered to
every listener. A listener is a bounded queue: a browser that does not read its events (a
stalled connection, a sleeping laptop) has its backlog replaced by a single resync event, so
it costs a fixed amount of memory and never slows the feed or the other browsers.

If the feed fails (the database went away), the listeners get a resync event and the feed is
followed again after a pause; meanwhile `Versions` says the data versions are unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

import orjson

from asyncstore.clock import utc_now
from asyncstore.errors import AsyncStoreError, StoreClosedError
from asyncstore.feed import Change
from asyncstore.store import Store

from .versions import Versions

__all__ = ["Broadcaster", "Listener", "changes_event"]

log = logging.getLogger("asyncstore.dashboard")

WINDOW_SECONDS = 0.2
LISTENER_EVENTS = 32  # events a browser may have waiting (6 s of windows) before a resync
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)  # pauses before following a failed feed again


def changes_event(
    bots: set[str],
    tables: set[str],
    count: int,
    resync: bool,
    at: datetime,
    *,
    history: bool = False,
) -> bytes:
    """One Server-Sent Event `changes`, ready to send. `history`: the fleet's daily PnL was
    summed again (only the fleet needs fetching)."""
    data = {
        "bots": sorted(bots),
        "tables": sorted(tables),
        "count": count,
        "resync": resync,
        "at": at,
        "history": history,
    }
    return b"event: changes\ndata: " + orjson.dumps(data, option=orjson.OPT_UTC_Z) + b"\n\n"


class Listener:
    """One browser's events: `await next()` gives the next encoded event, None at the end."""

    def __init__(self, broadcaster: Broadcaster, size: int) -> None:
        self._broadcaster = broadcaster
        self._events: asyncio.Queue[bytes | None] = asyncio.Queue(size)
        self.resyncs = 0  # backlogs replaced by a resync (counted as they happen)

    def offer(self, event: bytes | None) -> None:
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            # Not reading: drop the backlog, keep one event that says "read everything again"
            # (or the end, which makes the stream close).
            while not self._events.empty():
                self._events.get_nowait()
            if event is not None:
                self.resyncs += 1
                event = changes_event(set(), {"*"}, 0, True, utc_now())
            self._events.put_nowait(event)

    async def next(self) -> bytes | None:
        return await self._events.get()

    def close(self) -> None:
        self._broadcaster.leave(self)


class _Window:
    """What a window has collected so far."""

    def __init__(self) -> None:
        self.bots: set[str] = set()
        self.tables: set[str] = set()
        self.count = 0
        self.resync = False
        self.history = False
        self.at = utc_now()

    def add(self, change: Change) -> None:
        if change.operation == "resync":
            self.resync = True
        else:
            self.tables.add(change.table)
            if change.bot_id is not None:
                self.bots.add(change.bot_id)
            self.count += change.count
        self.at = max(self.at, change.committed_at)

    def event(self) -> bytes:
        return changes_event(
            self.bots, self.tables, self.count, self.resync, self.at, history=self.history
        )


class Broadcaster:
    def __init__(
        self,
        store: Store,
        versions: Versions,
        *,
        window: float = WINDOW_SECONDS,
        listener_events: int = LISTENER_EVENTS,
    ) -> None:
        self._store = store
        self._versions = versions
        self._window_seconds = window
        self._listener_events = listener_events
        self._listeners: set[Listener] = set()
        self._window: _Window | None = None
        self._flush: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closed = False
        self.events_sent = 0  # windows broadcast (counted as they go out)

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    async def start(self) -> None:
        """Follow the feed from now on; returns once other processes' commits are watched
        (or the first attempt failed: it is retried in the background)."""
        self._task = asyncio.create_task(self._follow(), name="dashboard change feed")
        await self._ready.wait()

    async def close(self) -> None:
        """End every browser's stream and stop following the feed."""
        self._closed = True
        if self._flush is not None:
            self._flush.cancel()
        for listener in list(self._listeners):
            listener.offer(None)
        self._listeners.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._versions.stopped()

    def listen(self) -> Listener:
        listener = Listener(self, self._listener_events)
        if self._closed:
            listener.offer(None)
        else:
            self._listeners.add(listener)
        return listener

    def leave(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    async def _follow(self) -> None:
        failures = 0
        while not self._closed:
            try:
                async with self._store.changes() as feed:
                    self._versions.started()
                    if failures:  # pages may have missed changes while the feed was down
                        self._collect_resync()
                    failures = 0
                    self._ready.set()
                    async for change in feed:
                        self._versions.note(change)
                        self._collect(change)
                return  # the feed ends when the Store closes
            except StoreClosedError:
                return
            except AsyncStoreError as exc:
                self._versions.stopped()
                pause = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("change feed failed, following it again in %.1f s: %s", pause, exc)
                self._ready.set()  # the dashboard serves without it meanwhile
                self._collect_resync()
                await asyncio.sleep(pause)
            finally:
                self._versions.stopped()

    def bot_refreshed(self, bot_id: str) -> None:
        """Tell the pages showing `bot_id` that its figures were read again: they fetch it."""
        self._open_window().bots.add(bot_id)

    def history_summed(self) -> None:
        """Tell the pages the fleet's daily PnL was summed (anew): they fetch the fleet."""
        self._open_window().history = True

    def _open_window(self) -> _Window:
        if self._window is None:
            self._window = _Window()
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self._window_seconds, self._broadcast)
        return self._window

    def _collect(self, change: Change) -> None:
        self._open_window().add(change)

    def _collect_resync(self) -> None:
        self._collect(
            Change(
                table="*",
                operation="resync",
                row_id=None,
                bot_id=None,
                count=0,
                committed_at=utc_now(),
            )
        )

    def _broadcast(self) -> None:
        window, self._window, self._flush = self._window, None, None
        if window is None or self._closed:
            return
        event = window.event()  # encoded once for everyone
        self.events_sent += 1
        for listener in self._listeners:
            listener.offer(event)
