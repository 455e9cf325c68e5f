"""Blocking work on a worker thread that a cancelled caller still waits for.

Schema changes, backups and restores run on worker threads (never on a bot's event loop), often
while holding a lock (the file lock, PostgreSQL's advisory lock). A thread cannot be stopped, so
a caller that is cancelled must not give up the lock while its thread is still at work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["in_thread_to_the_end"]

T = TypeVar("T")


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
