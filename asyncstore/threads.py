"""Work kept off the event loop: blocking calls, and CPU work that grows with the data.

Schema changes, backups and restores run on worker threads (never on a bot's event loop), often
while holding a lock (the file lock, PostgreSQL's advisory lock). A thread cannot be stopped, so
a caller that is cancelled must not give up the lock while its thread is still at work.

Turning a query's rows into records costs microseconds a row: 100,000 rows would hold the loop
for seconds. Results past a few hundred rows are handled on a worker thread instead; the loop
then gets the interpreter back every switch interval (5 ms) while the thread works.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["SMALL_RESULT_ROWS", "in_slices", "in_thread_to_the_end", "per_rows_off_loop"]

T = TypeVar("T")
R = TypeVar("R")

# Up to this many rows are handled on the loop (well under a millisecond of work): a hop to a
# thread and back costs more than that.
SMALL_RESULT_ROWS = 100
# A worker thread hands the interpreter lock back after each slice of this many rows (~1 ms of
# decoding), so the loop waits for it at most that long rather than a whole switch interval.
_ROWS_PER_SLICE = 200


async def per_rows_off_loop(
    function: Callable[[Sequence[T]], list[R]], rows: Sequence[T]
) -> list[R]:
    """`function(rows)` for a function that maps rows one to one (e.g. decoding), on a worker
    thread a slice at a time when `rows` are too many to handle on the loop."""
    if len(rows) <= SMALL_RESULT_ROWS:
        return function(rows)
    return await asyncio.to_thread(in_slices, function, rows)


def in_slices(function: Callable[[Sequence[T]], list[R]], rows: Sequence[T]) -> list[R]:
    """`function(rows)` on a worker thread, a slice at a time, letting the loop in between."""
    done: list[R] = []
    for start in range(0, len(rows), _ROWS_PER_SLICE):
        done += function(rows[start : start + _ROWS_PER_SLICE])
        time.sleep(0)  # let the loop's thread take the interpreter lock now, if it waits
    return done


async def in_thread_to_the_end(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on a worker thread. Threads cannot be stopped: if the caller is
    cancelled, wait for the thread to end before re-raising, so locks held around a schema
    change are not released while it is still running."""
    work = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await work
        raise
