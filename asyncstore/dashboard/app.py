"""The dashboard's ASGI app (Starlette): the page, its JSON API and the live event stream.

Routes (all GET; with a token configured, each needs it: asyncstore.dashboard.auth):
- `/`, `/static/...`: the page, shipped in the package (asyncstore/dashboard/static);
- `/api/fleet`: every bot, fleet totals, cumulative realized PnL by day (asyncstore.dashboard
  .fleet);
- `/api/bots/{bot_id}`: one bot's page data (asyncstore.dashboard.bot_view), 404 if unknown;
- `/api/bots/{bot_id}/trades`: keyset pages of its trades (asyncstore.dashboard.trade_list);
- `/api/stream`: Server-Sent Events `changes` (asyncstore.dashboard.event_stream).
Money is an exact decimal string, a time ISO 8601 UTC, unknown null; an error is
`{"error": "..."}` (with `"parameter"` for a bad query parameter).

The dashboard only reads: it opens the database with a read-only Store (`read_only=True`: no
writer; a database that is missing or at another schema revision is refused, never created or
upgraded), follows its change feed, and never writes a row.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from asyncstore.backend import admin_for
from asyncstore.config import load_settings
from asyncstore.repository import TradeRepository
from asyncstore.store import Store

from .auth import TokenGuard, check_token
from .bot_view import FIGURES_INTERVAL, BotReader
from .broadcast import WINDOW_SECONDS, Broadcaster
from .event_stream import PING_SECONDS, EventStream
from .fleet import FleetReader
from .history import REFRESH_AFTER_SECONDS, DailyHistory
from .memo import Memo
from .responses import ApiError, JSONResponse, encode, encode_off_loop, error_response
from .trade_list import TradeQuery, trades_page
from .versions import Versions

__all__ = ["Dashboard", "DashboardOptions", "STATIC_DIR", "create_app"]

STATIC_DIR = Path(__file__).parent / "static"
# The fleet view: every bot's row by id, and the whole view as JSON.
_FleetSnapshot = tuple[dict[str, dict[str, Any]], bytes]


@dataclass(frozen=True, slots=True)
class DashboardOptions:
    stale_after: float = 15.0  # seconds without a heartbeat before a running bot is stale
    window: float = WINDOW_SECONDS  # changes are coalesced into one event per window
    ping: float = PING_SECONDS  # a comment on an idle stream this often keeps proxies open
    history_refresh: float = REFRESH_AFTER_SECONDS  # see asyncstore.dashboard.history
    # A response is read again at most this often (seconds; a request meanwhile waits for
    # the next read, never gets an older one): the fleet, and a bot's page and trade pages.
    # This bounds what watching browsers cost the database when the bots write all the time,
    # whatever the number of browsers (asyncstore.dashboard.memo).
    fleet_interval: float = 0.5
    bot_interval: float = 1.0
    # A bot's closed-trade figures and its trade pages (each a pass over its trades) are read
    # again at most this often while it trades; pages get the ones in memory meanwhile and an
    # event when newer ones are read (asyncstore.dashboard.bot_view).
    figures_interval: float = FIGURES_INTERVAL
    # A response is served again, without reading, to requests arriving this soon after it
    # with no change in between (its ages and "today" depend on the clock too).
    response_max_age: float = 1.0


class Dashboard:
    """The dashboard's parts over one open Store: readers, memos and the broadcaster."""

    def __init__(self, store: Store, options: DashboardOptions | None = None) -> None:
        self.options = options = options or DashboardOptions()
        self.store = store
        self.versions = Versions()
        self.history = DailyHistory(
            store,
            self.versions,
            refresh_after=options.history_refresh,
            on_summed=self._history_summed,
        )
        self.fleet = FleetReader(
            store, self.versions, self.history, stale_after=options.stale_after
        )
        self.bots = BotReader(
            store,
            self.versions,
            self._bot_entry,
            figures_interval=options.figures_interval,
            on_refreshed=self._bot_refreshed,
        )
        self.broadcaster = Broadcaster(store, self.versions, window=options.window)
        # The fleet (and each bot's row of it, by id), and its JSON; then encoded responses,
        # (status, body): each shared by the requests that come together.
        age = options.response_max_age
        self.fleet_snapshots: Memo[_FleetSnapshot] = Memo(
            max_age=age, min_interval=options.fleet_interval
        )
        self.bot_responses: Memo[tuple[int, bytes]] = Memo(
            max_age=age, min_interval=options.bot_interval
        )
        self.trade_responses: Memo[tuple[int, bytes]] = Memo(
            min_interval=options.figures_interval,
            on_refreshed=self._trades_refreshed,
        )

    def _bot_refreshed(self, bot_id: str) -> None:
        self.versions.moved_bot(bot_id)
        self.broadcaster.bot_refreshed(bot_id)

    def _trades_refreshed(self, key: Hashable) -> None:
        if isinstance(key, tuple):  # (bot_id, TradeQuery), as trades_json makes them
            self._bot_refreshed(key[0])

    def _history_summed(self) -> None:
        self.versions.moved_fleet()
        self.broadcaster.history_summed()

    async def start(self) -> None:
        # The feed first: what commits from here on moves the versions, so nothing read after
        # this point can be served stale.
        await self.broadcaster.start()
        self.history.start()

    async def close(self) -> None:
        """End every event stream (uvicorn waits for open responses before it stops)."""
        await self.broadcaster.close()
        await self.history.close()

    # --- routes ------------------------------------------------------------------------------

    async def fleet_snapshot(self) -> _FleetSnapshot:
        async def read() -> _FleetSnapshot:
            fleet = await self.fleet.fleet()
            body = await encode_off_loop(fleet, items=len(fleet["bots"]))
            return {bot["id"]: bot for bot in fleet["bots"]}, body

        return await self.fleet_snapshots.get("fleet", self.versions.fleet, read)

    async def _bot_entry(self, bot_id: str) -> dict[str, Any] | None:
        bots, _body = await self.fleet_snapshot()
        return bots.get(bot_id)

    async def fleet_json(self, request: Request) -> Response:
        _bots, body = await self.fleet_snapshot()
        return JSONResponse(body)

    async def bot_json(self, request: Request) -> Response:
        bot_id: str = request.path_params["bot_id"]

        async def read() -> tuple[int, bytes]:
            page = await self.bots.bot(bot_id)
            if page is None:
                return 404, encode({"error": f"no bot with id {bot_id!r}"})
            return 200, await encode_off_loop(page, items=_items(page))

        version = self.versions.bot
        status, body = await self.bot_responses.get(bot_id, lambda: version(bot_id), read)
        return JSONResponse(body, status)

    async def trades_json(self, request: Request) -> Response:
        bot_id: str = request.path_params["bot_id"]
        query = TradeQuery.parse(request.query_params)

        async def read() -> tuple[int, bytes]:
            page = await trades_page(TradeRepository(self.store), bot_id, query)
            return 200, await encode_off_loop(page, items=len(page["trades"]))

        # A bot's trades change with its trade rows only (the bot row tells whether it exists,
        # and bots are never deleted).
        version = self.versions.bot_trades
        key = (bot_id, query)
        status, body = await self.trade_responses.get(key, lambda: version(bot_id), read)
        return JSONResponse(body, status)

    async def index(self, request: Request) -> Response:
        index = STATIC_DIR / "index.html"
        if not index.is_file():
            raise ApiError(404, f"the dashboard page is not installed ({index} is missing)")
        return FileResponse(index, headers={"Cache-Control": "no-cache"})


def _items(page: dict[str, Any]) -> int:
    return (
        len(page["equity"])
        + sum(len(rows) for rows in page["periods"].values())
        + len(page["open_positions"])
        + len(page["metrics"]["history"])
        + len(page["activity"]["uptime"])
    )


# The names a browser on this machine uses for the loopback dashboard.
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]


def create_app(
    database_url: str | None = None,
    *,
    token: str | None = None,
    options: DashboardOptions | None = None,
    store_options: dict[str, Any] | None = None,
) -> Starlette:
    """The dashboard over the database at `database_url` (default: $ASYNCSTORE_DATABASE_URL,
    else db/trading.db). The app opens the Store in its lifespan (a SQLite file that does not
    exist is refused: ConfigurationError) and closes it at shutdown. With `token`, every route
    requires it (asyncstore.dashboard.auth). `app.state.dashboard` is the Dashboard while the
    app runs."""
    if token is not None:
        check_token(token)
    # A read-only Store: no writer at all (nothing can write, not even a checkpoint), and it
    # never creates or upgrades a database.
    settings = load_settings(database_url, {**(store_options or {}), "read_only": True})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        admin_for(settings).require_database()  # a clear message for a missing SQLite file
        async with Store(**settings.model_dump()) as store:
            dashboard = Dashboard(store, options)
            await dashboard.start()
            app.state.dashboard = dashboard
            try:
                yield
            finally:
                await dashboard.close()

    def route(name: str) -> Any:
        async def endpoint(request: Request) -> Response:
            dashboard: Dashboard = request.app.state.dashboard
            return await getattr(dashboard, name)(request)  # type: ignore[no-any-return]

        return endpoint

    if token is None:
        # Without a token the dashboard listens on loopback only (asyncstore.dashboard.server),
        # yet a page of another site could reach it by DNS rebinding (its own name resolving to
        # 127.0.0.1): such requests carry that name as Host, and are refused.
        middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)]
    else:
        middleware = [Middleware(TokenGuard, token=token)]
    return Starlette(
        routes=[
            Route("/", route("index")),
            Route("/api/fleet", route("fleet_json")),
            Route("/api/stream", _Stream()),
            Route("/api/bots/{bot_id:path}/trades", route("trades_json")),
            Route("/api/bots/{bot_id:path}", route("bot_json")),
            Mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
        ],
        middleware=middleware,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )


class _Stream:
    """/api/stream as a plain ASGI app (Starlette routes a callable object, not a function,
    that way): the running Dashboard's event stream."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        dashboard: Dashboard = scope["app"].state.dashboard
        events = EventStream(dashboard.broadcaster, ping_seconds=dashboard.options.ping)
        await events(scope, receive, send)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(ApiError(exc.status_code, exc.detail))
