"""Memo: computed values kept per key until the data they were read from changes.

Ten browsers that refetch after the same change event ask for the same figures within a few
milliseconds; the database should be asked once. A value is stored with the data version it
was read at (`Versions`: counters the change feed moves), and served to anyone whose request
came after no newer change. Askers meanwhile share the one computation in flight.

A version of None means "unknown" (the change feed is not running): nothing is served from
memory then, every request computes.

`min_interval` spaces the computations of one key: the next one starts no sooner than that
after the previous one started. What happens meanwhile depends on the memo:
- by default an asker waits for that next computation (never gets an older value);
- with `on_refreshed`, an asker gets the value in memory at once, the next computation is
  scheduled, and `on_refreshed(key)` is called when it is done (the dashboard then tells the
  pages that show it to fetch again). For figures that cost a pass over a bot's trades: they
  lag the trades by at most `min_interval`, while their cost is bounded by it, however busy
  the bot and however many browsers watch it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Memo", "VersionOf"]

log = logging.getLogger("asyncstore.dashboard")

V = TypeVar("V")
VersionOf = Callable[[], int | None]


@dataclass(slots=True)
class _Slot(Generic[V]):
    value: V | None = None
    version: int | None = None  # the data version the value was read at; None: no value
    computed_at: float = 0.0  # monotonic time its computation started
    task: asyncio.Task[tuple[int | None, V]] | None = None


class Memo(Generic[V]):
    """Values by key; see the module docstring. `max_age` (seconds) also expires a value that
    depends on the clock (ages, "today"); `max_entries` bounds memory (least recently used
    keys go first)."""

    def __init__(
        self,
        *,
        max_age: float | None = None,
        min_interval: float = 0.0,
        on_refreshed: Callable[[Hashable], None] | None = None,
        max_entries: int = 1024,
    ) -> None:
        self.max_age = max_age
        self.min_interval = min_interval
        self.max_entries = max_entries
        self._on_refreshed = on_refreshed
        self.computations = 0  # counted as they start (tests and benchmarks read it)
        self._slots: OrderedDict[Hashable, _Slot[V]] = OrderedDict()

    async def get(
        self, key: Hashable, version_of: VersionOf, compute: Callable[[], Awaitable[V]]
    ) -> V:
        """The value for `key`, read no earlier than the data version of now (or, with
        `on_refreshed`, the value in memory while a newer one is being read)."""
        wanted = version_of()
        if wanted is None:
            self.computations += 1
            return await compute()
        slot = self._slot(key)
        while True:
            if self._fresh(slot, wanted):
                return slot.value  # type: ignore[return-value]  # fresh: a value is set
            if slot.task is None:
                slot.task = asyncio.create_task(self._refresh(key, slot, version_of, compute))
                slot.task.add_done_callback(_retrieve)
            if self._on_refreshed is not None and slot.version is not None:
                return slot.value  # type: ignore[return-value]  # an older value, on purpose
            # Shielded: a browser that goes away must not cancel what others wait for. A
            # failure reaches every asker of this computation.
            version, value = await asyncio.shield(slot.task)
            # A computation that started before this request may have missed its changes:
            # then the next one is waited for.
            if version is None or version >= wanted:
                return value

    def _fresh(self, slot: _Slot[V], wanted: int) -> bool:
        if slot.version is None or slot.version < wanted:
            return False
        return self.max_age is None or time.monotonic() - slot.computed_at < self.max_age

    async def _refresh(
        self,
        key: Hashable,
        slot: _Slot[V],
        version_of: VersionOf,
        compute: Callable[[], Awaitable[V]],
    ) -> tuple[int | None, V]:
        try:
            if slot.version is not None:
                delay = slot.computed_at + self.min_interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            # The version before the read: a change committed during the read may or may not
            # be in it, so the value is only good for requests up to here.
            version = version_of()
            started = time.monotonic()
            self.computations += 1
            had_value = slot.version is not None
            value = await compute()
            if version is not None:
                slot.value, slot.version, slot.computed_at = value, version, started
                if had_value and self._on_refreshed is not None:
                    self._on_refreshed(key)
            return version, value
        finally:
            slot.task = None

    def _slot(self, key: Hashable) -> _Slot[V]:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
            while len(self._slots) > self.max_entries:
                oldest = next(iter(self._slots))
                if self._slots[oldest].task is not None:
                    break  # in use: keep it (the bound is soft by the keys being computed)
                del self._slots[oldest]
        else:
            self._slots.move_to_end(key)
        return slot


def _retrieve(task: asyncio.Task[tuple[int | None, V]]) -> None:
    # Every asker may have gone away (or none waited: a refresh in the background): the
    # failure is logged here, once, rather than by asyncio as "never retrieved".
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("dashboard: a read failed: %s: %s", type(error).__name__, error)
