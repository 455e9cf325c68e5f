"""GET /api/stream: Server-Sent Events, `changes` after every window of committed changes.

A plain ASGI app rather than a StreamingResponse: it waits for the browser's disconnect at the
same time as for the next event, so a closed tab is cleaned up at once, not at the next write
(with ASGI 2.4 servers Starlette notices a disconnect only when a send fails, and an idle
stream sends one ping per 15 s). Each connection is one `Listener` of the Broadcaster: a
bounded queue of events already encoded.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import Receive, Scope, Send

from .broadcast import Broadcaster, Listener

__all__ = ["EventStream"]

PING_SECONDS = 15.0
# The browser reconnects this soon after a dropped stream (EventSource's `retry`).
RETRY_MILLISECONDS = 2000

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # a proxy in front must not hold events back
]


class EventStream:
    def __init__(self, broadcaster: Broadcaster, *, ping_seconds: float = PING_SECONDS) -> None:
        self._broadcaster = broadcaster
        self.ping_seconds = ping_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        listener = self._broadcaster.listen()
        # The browser may go away mid-send: an OSError (uvicorn's ClientDisconnected is one).
        try:
            with contextlib.suppress(OSError):
                await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
                opening = f"retry: {RETRY_MILLISECONDS}\n: connected\n\n".encode()
                await send({"type": "http.response.body", "body": opening, "more_body": True})
                events = asyncio.ensure_future(self._events(listener, send))
                gone = asyncio.ensure_future(_disconnected(receive))
                try:
                    await asyncio.wait({events, gone}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (events, gone):
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError, OSError):
                            await task
                if events.done() and not events.cancelled() and events.exception() is None:
                    # The dashboard is closing: end the response properly.
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            listener.close()

    async def _events(self, listener: Listener, send: Send) -> None:
        while True:
            try:
                async with asyncio.timeout(self.ping_seconds):
                    event = await listener.next()
            except TimeoutError:
                event = b": ping\n\n"
            if event is None:
                return
            await send({"type": "http.response.body", "body": event, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
