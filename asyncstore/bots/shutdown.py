"""stop_on_signals: SIGTERM and SIGINT end a bot process cleanly, within a bounded time.

A process manager (systemd, Docker, Kubernetes, supervisord) stops a bot with SIGTERM, then
SIGKILL after a grace period. Python's default for SIGTERM is to die on the spot: no `finally`,
no `async with` exit, so the writes accepted but not yet committed are lost and the bot stays
"running" in the database. (asyncio.run turns SIGINT into a cancellation already; SIGTERM it
does not.)

```python
async def main() -> None:
    async with stop_on_signals() as stop:       # outermost: everything below exits in order
        async with Store(url) as store:
            repo = TradeRepository(store)
            async with BotHeartbeat(repo, "my_bot", every=5):
                await trade_forever(repo)       # cancelled at the signal
    print("stopped by", stop.signal_name)       # None: the block ended by itself
```

On the first SIGTERM or SIGINT the task that entered the block is cancelled (the same as
Ctrl+C under asyncio.run): the bot's await raises CancelledError, BotHeartbeat marks the bot
"stopped", Store.close commits every write already accepted and releases the connections, and
the block ends normally: the process exits with status 0. A write its caller was waiting for
when the signal came is either committed (it was already taken into a group commit) or never
written (it was not): nothing half-done. If shutting down takes longer than `grace_s`, or a
second signal comes, the process ends at once with status 1 (`os._exit`): what was acknowledged
is on disk either way (a crash loses nothing acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from asyncstore.errors import FieldError, InvalidDataError
from asyncstore.schema.validation import require_number

__all__ = ["StopRequest", "stop_on_signals"]

log = logging.getLogger("asyncstore.runtime")

DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Exit status when the shutdown ran out of time or a second signal came.
FORCED_EXIT_STATUS = 1


@dataclass
class StopRequest:
    """What stopped the block: `signal_name` is None while no signal came."""

    signal_name: str | None = None
    _deadline: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def requested(self) -> bool:
        return self.signal_name is not None


@contextlib.asynccontextmanager
async def stop_on_signals(
    signals: Sequence[signal.Signals] = DEFAULT_SIGNALS, *, grace_s: float = 30.0
) -> AsyncIterator[StopRequest]:
    """Turn the first of `signals` into a cancellation of the current task, ended here (see
    the module's docstring). The handlers are the event loop's (Unix), removed on exit."""
    signals = _validated_signals(signals)
    grace_s = require_number("grace_s", grace_s)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("stop_on_signals must be entered inside a task")
    stop = StopRequest()

    def on_signal(received: signal.Signals) -> None:
        if stop.requested:  # a second signal: the operator wants it gone now
            _force_exit(f"{received.name} again while stopping")
        stop.signal_name = received.name
        log.warning("%s received: stopping (committing accepted writes)", received.name)
        stop._deadline = loop.call_later(grace_s, _force_exit, f"still stopping after {grace_s} s")
        task.cancel(msg=f"stopped by {received.name}")

    for received in signals:
        loop.add_signal_handler(received, on_signal, received)
    try:
        yield stop
    except asyncio.CancelledError:
        if not stop.requested or task.uncancel() > 0:
            raise  # a cancellation of someone else's (or more than ours): not ours to end
    finally:
        for received in signals:
            loop.remove_signal_handler(received)
        if stop._deadline is not None:
            stop._deadline.cancel()


def _validated_signals(signals: object) -> tuple[signal.Signals, ...]:
    items: tuple[object, ...] = ()
    if isinstance(signals, Sequence) and not isinstance(signals, str | bytes):
        items = tuple(signals)
    received = tuple(item for item in items if isinstance(item, signal.Signals))
    if received and len(received) == len(items):
        return received
    problem = f"must be a non-empty sequence of signal.Signals, got {signals!r:.60}"
    raise InvalidDataError("signals", [FieldError("signals", problem)])


def _force_exit(why: str) -> None:
    log.error("%s: exiting now (acknowledged writes are on disk already)", why)
    logging.shutdown()
    os._exit(FORCED_EXIT_STATUS)
