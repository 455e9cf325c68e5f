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
    `__anext__`). It ends when the Store closes, or at `aclose()`."""

    def __init__(self, hub: ChangeHub, backlog: int) -> None:
        self._hub = hub
        self._backlog = backlog
        self._waiting: deque[Change] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._ready = False

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
        """Return once commits of other processes are watched too."""
        if not self._ready:
            await self._hub.watch()
            self._ready = True

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Change:
        if not self._ready:
            await self.ready()
        while not self._waiting:
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
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
        self._streams: list[ChangeStream] = []
        self._watcher: ChangeWatcher | None = None
        self._switch = asyncio.Lock()  # the watcher starts and stops one at a time
        self._closed = False

    @property
    def listening(self) -> bool:
        return bool(self._streams)

    def subscribe(self) -> ChangeStream:
        stream = ChangeStream(self, self._backlog)
        if self._closed:
            stream.end()
        else:
            self._streams.append(stream)
        return stream

    def publish_notes(self, notes: list[Note], committed_at: datetime) -> None:
        """The writer's committed notes (Change models are made only when someone listens)."""
        if self._streams and notes:
            self.publish(changes_of(notes, committed_at))

    def publish(self, changes: list[Change]) -> None:
        for stream in self._streams:
            stream.offer(changes)

    async def watch(self) -> None:
        """Make sure other processes' commits are watched (while anyone listens)."""
        async with self._switch:
            if self._watcher is None and self._streams and not self._closed:
                watcher = self._watcher_factory(self.publish)
                await watcher.start()
                self._watcher = watcher

    async def leave(self, stream: ChangeStream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)
        if not self._streams:
            await self.stop_watching()

    async def stop_watching(self) -> None:
        async with self._switch:
            watcher, self._watcher = self._watcher, None
            if watcher is not None:
                await watcher.stop()

    async def close(self) -> None:
        """End every stream (after the writer's last commit was published)."""
        self._closed = True
        await self.stop_watching()
        streams, self._streams = self._streams, []
        for stream in streams:
            stream.end()
