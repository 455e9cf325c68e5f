"""Running the dashboard under uvicorn: who may bind where, and a clean stop.

Off loopback, the dashboard shows a fleet's books to anyone who can reach the port, so binding
anywhere but 127.0.0.1 / ::1 / localhost needs a token (`token_refusal`). On loopback a token
is optional, and enforced when given.

A stop (Ctrl+C, SIGTERM) must not hang on open pages: uvicorn waits for every response to
finish before it runs the app's shutdown, and an event stream never finishes by itself. So
the moment uvicorn is asked to exit, the dashboard ends every stream (Dashboard.close).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn

from asyncstore.config import StoreSettings, redacted

from .app import Dashboard, DashboardOptions, create_app

__all__ = ["TOKEN_ENV", "is_loopback", "serve", "token_refusal"]

TOKEN_ENV = "ASYNCSTORE_DASHBOARD_TOKEN"
GRACEFUL_STOP_SECONDS = 5


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def token_refusal(host: str, token: str | None) -> str | None:
    """Why the dashboard may not listen on `host` with `token` (None: it may)."""
    if token is None and not is_loopback(host):
        return (
            f"--host {host} makes the dashboard reachable from other machines; give it a token "
            f"with --token or ${TOKEN_ENV} (then open http://HOST:PORT/?token=TOKEN), "
            "or listen on 127.0.0.1"
        )
    return None


class _Server(uvicorn.Server):
    """uvicorn's server, telling when it listens and when it is asked to stop."""

    def __init__(
        self, config: uvicorn.Config, *, on_started: Callable[[], None], on_exit: Callable[[], None]
    ) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._on_exit = on_exit

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)  # a signal handler: it may only schedule work
        self._on_exit()


async def serve(
    settings: StoreSettings,
    *,
    host: str,
    port: int,
    token: str | None,
    options: DashboardOptions,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the dashboard until uvicorn is told to stop (SIGINT, SIGTERM)."""
    app = create_app(token=token, options=options, store_options=settings.model_dump())
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_STOP_SECONDS,
    )
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def started() -> None:
        shown_host = f"[{host}]" if ":" in host else host
        guard = " (token required)" if token else ""
        where = redacted(settings.database_url)
        if settings.tenant:
            where += f" (tenant {settings.tenant})"
        announce(f"asyncstore dashboard: http://{shown_host}:{port}/{guard} on {where}")
        sys.stdout.flush()

    def close_streams() -> None:
        dashboard: Dashboard | None = getattr(app.state, "dashboard", None)
        if dashboard is not None and not closing:
            closing.append(loop.create_task(dashboard.close()))  # ends the event streams

    def stopping() -> None:
        loop.call_soon_threadsafe(close_streams)

    server = _Server(config, on_started=started, on_exit=stopping)
    await server.serve()
    await asyncio.gather(*closing)
