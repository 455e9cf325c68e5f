"""ChangeHub: a Store's change feed, fanned out to every subscriber.

Two sources feed it, each only after COMMIT:
- this Store's own writer, which hands over the notes of every group commit it committed
  (`publish_notes`): delivered at once, without reading anything back;
- a watcher of the commits of OTHER processes (SQLite: `PRAGMA data_version` and the change
  log, asyncstore.sqlite.feed; PostgreSQL: LISTEN, asyncstore.postgres.feed). It runs only
  while someone subscribes, and skips what this Store's writer already delivered.

A subscriber that does not keep up never slows the writer or the others: past `backlog`
waiting changes its backlog is dropped and replaced by one `resync` change (read afresh).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from asyncstore.clock import utc_now
from asyncstore.feed.change import Change, Note, changes_of, resync

__all__ = [
    "DEFAULT_BACKLOG",
    "ChangeHub",
    "ChangeStream",
    "ChangeWatcher",
    "Publish",
    "WatcherFactory",
]

# Changes a subscriber may have waiting before it is told to resync instead.
DEFAULT_BACKLOG = 100_000
# Changes handed over from a backlog before the stream lets other tasks run once.
YIELD_EVERY = 256

Publish = Callable[[list[Change]], None]


class ChangeWatcher(Protocol):
    """Watches the database for commits of other processes and publishes them (on the loop)."""

    async def start(self) -> None:
        """Start watching; commits from now on are published. Raises if it cannot."""
        ...

    async def stop(self) -> None: ...


WatcherFactory = Callable[[Publish], ChangeWatcher]


class ChangeStream:
    """One subscriber's view of the feed: an async iterator of `Change`, and an async context
    manager. Changes this Store commits are caught from the moment `Store.changes()` returned;
    other processes' from when the stream is ready (`async with`, `await ready()`, or the first
    `__anext__`). It ends when the Store closes, or at `aclose()`. A stream dropped without
    `aclose()` (an `async for` left by `break`) stops counting as a listener once it is
    garbage (the hub holds streams weakly)."""

    def __init__(self, hub: ChangeHub, backlog: int) -> None:
        self._hub = hub
        self._backlog = backlog
        self._waiting: deque[Change] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._ready = False
        self._since_yield = 0

    def offer(self, changes: list[Change]) -> None:
        if self._closed:
            return
        if len(self._waiting) + len(changes) > self._backlog:
            self._waiting.clear()
            self._waiting.append(resync(utc_now()))
        else:
            self._waiting.extend(changes)
        self._wakeup.set()

    def end(self) -> None:
        self._closed = True
        self._wakeup.set()

    async def ready(self) -> None:
        """Return once commits of other processes are watched too. If watching cannot start,
        the stream is closed (it stops listening) and the error is raised."""
        if not self._ready:
            try:
                await self._hub.watch()
            except BaseException:
                await self.aclose()
                raise
            self._ready = True

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Change:
        if not self._ready:
            await self.ready()
        if not self._waiting:
            self._since_yield = 0
            while not self._waiting:
                if self._closed:
                    raise StopAsyncIteration
                self._wakeup.clear()
                await self._wakeup.wait()
        elif self._since_yield >= YIELD_EVERY:
            # A backlog is handed over without suspending; now and then let the loop breathe,
            # so a burst of thousands of changes never holds it for the whole burst.
            self._since_yield = 0
            await asyncio.sleep(0)
        self._since_yield += 1
        return self._waiting.popleft()

    async def aclose(self) -> None:
        """Stop listening (the hub stops watching when nobody listens any more)."""
        if not self._closed:
            self.end()
            await self._hub.leave(self)

    async def __aenter__(self) -> Self:
        await self.ready()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class ChangeHub:
    def __init__(self, watcher_factory: WatcherFactory, backlog: int = DEFAULT_BACKLOG) -> None:
        self._watcher_factory = watcher_factory
        self._backlog = backlog
        # Weakly: a stream its subscriber dropped without aclose() must not listen forever.
        self._streams: weakref.WeakSet[ChangeStream] = weakref.WeakSet()
        self._watcher: ChangeWatcher | None = None
        self._switch = asyncio.Lock()  # the watcher starts and stops one at a time
        self._watching_allowed = True  # False once the Store began closing
        self._closed = False
        self._stopping: asyncio.Future[None] | None = None

    def subscribe(self) -> ChangeStream:
        stream = ChangeStream(self, self._backlog)
        if self._closed:
            stream.end()
        else:
            self._streams.add(stream)
        return stream

    def publish_notes(self, notes: list[Note], committed_at: datetime) -> None:
        """The writer's committed notes (Change objects are made only when someone listens)."""
        if not self._streams:
            self._stop_if_unwatched()
        elif notes:
            self.publish(changes_of(notes, committed_at))

    def publish(self, changes: list[Change]) -> None:
        streams = list(self._streams)
        for stream in streams:
            stream.offer(changes)
        if not streams:
            self._stop_if_unwatched()

    def _stop_if_unwatched(self) -> None:
        if self._watcher is not None and self._stopping is None:
            # Every stream was dropped without aclose(): nobody listens, stop watching.
            self._stopping = asyncio.ensure_future(self.stop_watching())

    async def watch(self) -> None:
        """Make sure other processes' commits are watched (while anyone listens)."""
        async with self._switch:
            if self._watcher is None and self._streams and self._watching_allowed:
                watcher = self._watcher_factory(self.publish)
                await watcher.start()
                self._watcher = watcher

    async def leave(self, stream: ChangeStream) -> None:
        self._streams.discard(stream)
        if not self._streams:
            await self.stop_watching()

    async def stop_watching(self, *, for_good: bool = False) -> None:
        """Stop the watcher of other processes; `for_good` (the Store is closing): no new one
        starts, while the writer's last commits still reach the streams."""
        if for_good:
            self._watching_allowed = False
        async with self._switch:
            watcher, self._watcher = self._watcher, None
            self._stopping = None
            if watcher is not None:
                await watcher.stop()

    async def close(self) -> None:
        """End every stream (after the writer's last commit was published)."""
        self._closed = True
        await self.stop_watching(for_good=True)
        streams = list(self._streams)
        self._streams = weakref.WeakSet()
        for stream in streams:
            stream.end()
