"""The dashboard's JSON API and its server: real databases (SQLite file and PostgreSQL), the app
driven in-process through httpx's ASGI transport for the JSON routes, and a real `asyncstore
dashboard` process (uvicorn) for the event stream, the token and the command line.

Figures are checked against what the test wrote, to the last decimal digit."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Hashable, MutableMapping
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
import pytest

from asyncstore import Store, TradeRepository
from asyncstore.dashboard.app import STATIC_DIR
from asyncstore.dashboard.auth import COOKIE_NAME
from asyncstore.dashboard.broadcast import Broadcaster
from asyncstore.dashboard.event_stream import EventStream
from asyncstore.dashboard.memo import Memo
from asyncstore.dashboard.versions import Versions
from asyncstore.errors import DatabaseUnavailableError
from tests.conftest import run_cli, wait_until
from tests.dashboard_support import (
    MIDNIGHT,
    NOW,
    STALE_AFTER,
    WRITER,
    dashboard_client,
    dashboard_process,
    next_event,
    plain_env,
    seed,
    trade,
)


def money(text: str) -> Decimal:
    assert isinstance(text, str) and "E" not in text, text  # exact decimal text, never a float
    return Decimal(text)


# --- /api/fleet ----------------------------------------------------------------------------


async def test_fleet_figures_are_the_exact_sums_of_what_was_written(db_url: str) -> None:
    seeded = await seed(db_url)
    async with dashboard_client(db_url) as client:
        response = await client.get("/api/fleet")
    assert response.status_code == 200
    fleet = response.json()
    bots = {bot["id"]: bot for bot in fleet["bots"]}
    assert list(bots) == ["alpha", "beta", "delta", "gamma"]
    for bot_id, bot in bots.items():
        expected = seeded.total_pnl[bot_id]  # None: no close booked yet (a NULL column)
        assert (bot["total_pnl"] and money(bot["total_pnl"])) == expected
        # today: closed since UTC midnight only (alpha's and beta's older closes left out)
        assert money(bot["today_pnl"]) == seeded.today.get(bot_id, Decimal(0))
    assert money(bots["alpha"]["total_pnl"]) == sum(seeded.net_pnl["alpha"])
    assert money(bots["alpha"]["today_pnl"]) != money(bots["alpha"]["total_pnl"])
    assert bots["alpha"]["open_positions"] == 2  # the cancelled one is not open
    assert bots["beta"]["open_positions"] == 0
    totals = fleet["totals"]
    assert money(totals["total_pnl"]) == sum(pnl or 0 for pnl in seeded.total_pnl.values())
    assert money(totals["today_pnl"]) == sum(seeded.today.values())
    assert (totals["bots"], totals["running"], totals["open_positions"]) == (4, 3, 2)
    everything = [pnl for pnls in seeded.net_pnl.values() for pnl in pnls]
    curve = fleet["cumulative_pnl"]
    assert money(curve[-1]["pnl"]) == sum(everything)
    days = [point["t"] for point in curve]
    assert days == sorted(days) and len(days) == 3  # three days had closes
    assert days[-1] == MIDNIGHT.strftime("%Y-%m-%dT00:00:00Z")
    assert money(curve[-2]["pnl"]) == sum(everything) - sum(seeded.today.values())
    assert bots["alpha"]["last_trade_at"] is not None
    assert datetime.fromisoformat(bots["alpha"]["last_trade_at"]) >= NOW - timedelta(hours=1)
    assert bots["delta"]["last_trade_at"] is None


async def test_a_running_bot_silent_too_long_is_stale_and_a_fresh_one_is_not(db_url: str) -> None:
    await seed(db_url)
    async with dashboard_client(db_url) as client:
        fleet = (await client.get("/api/fleet")).json()
    assert fleet["stale_after_seconds"] == STALE_AFTER
    assert fleet["stale_rule"] == "a running bot whose last heartbeat is older than 30 s"
    bots = {bot["id"]: bot for bot in fleet["bots"]}
    assert bots["alpha"]["stale"] is False
    assert 0 <= bots["alpha"]["heartbeat_age_seconds"] < STALE_AFTER
    assert bots["beta"]["stale"] is True  # running, silent for an hour
    assert bots["beta"]["heartbeat_age_seconds"] > 3500
    assert bots["delta"]["stale"] is True  # running, never beat
    assert bots["delta"]["heartbeat_age_seconds"] is None
    assert bots["gamma"]["stale"] is False  # stopped: silence is expected
    assert fleet["totals"]["stale"] == 2


# --- /api/bots/{bot_id} --------------------------------------------------------------------


async def test_a_bot_page_adds_up_to_its_trades(db_url: str) -> None:
    seeded = await seed(db_url)
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        for n in range(3):
            await repo.create_performance_metrics(
                {
                    "bot_id": "alpha",
                    "sharpe_ratio": f"1.{n}",
                    "win_rate": "50.00",
                    "calculated_at": NOW - timedelta(minutes=10 - n),
                }
            )
    async with dashboard_client(db_url) as client:
        page = (await client.get("/api/bots/alpha")).json()
        missing = await client.get("/api/bots/nobody")
    assert missing.status_code == 404
    assert missing.json() == {"error": "no bot with id 'nobody'"}

    pnls = seeded.net_pnl["alpha"]
    assert page["bot"]["id"] == "alpha"
    assert money(page["bot"]["today_pnl"]) == seeded.today["alpha"]
    assert page["bot"]["open_positions"] == 2
    curve = page["equity"]
    assert 1 <= len(curve) <= 3 and money(curve[-1]["pnl"]) == sum(pnls)
    assert [point["t"] for point in curve] == sorted(point["t"] for point in curve)
    daily = page["periods"]["daily"]
    assert [money(day["pnl"]) for day in daily] == [pnls[2], pnls[0] + pnls[1]]
    assert [(day["trades"], day["wins"]) for day in daily] == [
        (1, int(pnls[2] > 0)),
        (2, int(pnls[0] > 0) + int(pnls[1] > 0)),
    ]
    assert daily[-1]["period"] == MIDNIGHT.strftime("%Y-%m-%dT00:00:00Z")
    for period in ("weekly", "monthly"):
        rows = page["periods"][period]
        assert sum(money(row["pnl"]) for row in rows) == sum(pnls)
        assert sum(row["trades"] for row in rows) == 3
    by_symbol = {row["symbol"]: row for row in page["by_symbol"]}
    assert money(by_symbol["ETHUSDT"]["pnl"]) == pnls[1]
    assert money(by_symbol["BTCUSDT"]["pnl"]) == pnls[0] + pnls[2]
    (strategy,) = page["by_strategy"]
    assert (strategy["entry_logic_name"], strategy["exit_logic_name"]) == ("RSIEntry", "ATRExit")
    assert (strategy["trades"], money(strategy["pnl"])) == (3, sum(pnls))
    latest = page["metrics"]["latest"]
    assert latest["sharpe_ratio"] == "1.2000" and latest["win_rate"] == "50.00"
    assert {"id", "bot_id", "total_trades", "avg_win", "extra_metadata"} <= set(latest)
    history = page["metrics"]["history"]
    assert [row["sharpe_ratio"] for row in history] == ["1.0000", "1.1000", "1.2000"]
    positions = page["open_positions"]
    assert len(positions) == 2
    assert positions[0]["entry_price"] == "50000.12345678" and positions[0]["size"] == "0.00123457"
    assert set(page["activity"]) >= {"equity", "uptime"}
    assert page["activity"]["uptime"]  # alpha's heartbeat went into its activity


# --- /api/bots/{bot_id}/trades -------------------------------------------------------------


async def test_paging_returns_every_closed_trade_exactly_once(db_url: str) -> None:
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": "pager", "type": "paper"})
        await repo.create_bot_instance({"id": "other", "type": "paper"})
        rows = []
        for n in range(40):
            status = "closed" if n % 4 else ("open", "cancelled")[n // 4 % 2]
            entry = NOW - timedelta(hours=2) + timedelta(minutes=n // 3)  # ties of three
            rows.append(
                trade(
                    "pager" if n != 39 else "other",
                    status=status,
                    entry_time=entry,
                    **({"exit_price": "50001", "exit_time": entry} if status == "closed" else {}),
                )
            )
        await repo.bulk_create_trades(rows)
        closed = {t.id for t in await repo.get_closed_trades(bot_id="pager")}
    assert len(closed) == 29
    async with dashboard_client(db_url) as client:
        seen: list[str] = []
        after: str | None = None
        for _ in range(20):
            params = {"status": "closed", "limit": "4", **({"after": after} if after else {})}
            page = (await client.get("/api/bots/pager/trades", params=params)).json()
            seen += [t["id"] for t in page["trades"]]
            assert all(t["status"] == "closed" and t["bot_id"] == "pager" for t in page["trades"])
            after = page["next"]
            if after is None:
                break
        everything = (await client.get("/api/bots/pager/trades", params={"limit": 500})).json()
    assert len(seen) == len(set(seen)) and set(seen) == closed
    assert len(everything["trades"]) == 39 and everything["next"] is None
    one = everything["trades"][0]
    assert {"entry_price", "net_pnl", "extra_metadata", "created_at", "exit_reason"} <= set(one)
    assert one["entry_time"].endswith("Z")


@pytest.mark.parametrize(
    ("query", "parameter", "says"),
    [
        ("limit=0", "limit", "from 1 to 500"),
        ("limit=501", "limit", "from 1 to 500"),
        ("limit=ten", "limit", "'ten'"),
        ("status=won", "status", "open, closed, cancelled"),
        ("after=not-a-cursor", "after", "no trade of bot 'alpha'"),
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it(
    db_url: str, query: str, parameter: str, says: str
) -> None:
    await seed(db_url)
    async with dashboard_client(db_url) as client:
        response = await client.get(f"/api/bots/alpha/trades?{query}")
        beta_trade = (await client.get("/api/bots/beta/trades")).json()["trades"][0]["id"]
        foreign = await client.get(f"/api/bots/alpha/trades?after={beta_trade}")
        unknown_bot = await client.get("/api/bots/nobody/trades")
    assert response.status_code == 400
    body = response.json()
    assert body["parameter"] == parameter and says in body["error"], body
    assert body["error"].startswith(f"{parameter}: ")
    assert foreign.status_code == 400 and foreign.json()["parameter"] == "after"
    assert unknown_bot.status_code == 404


# --- live: the change feed moves what is served --------------------------------------------


async def test_a_write_after_a_page_was_served_shows_in_the_next_one(db_url: str) -> None:
    await seed(db_url)
    async with dashboard_client(db_url) as client, Store(db_url) as store:
        before = (await client.get("/api/bots/beta")).json()
        assert before["bot"]["open_positions"] == 0
        await TradeRepository(store).create_trade(trade("beta", entry_time=NOW))

        async def one_open() -> bool:
            page = (await client.get("/api/bots/beta")).json()
            return bool(page["bot"]["open_positions"] == 1)

        # Served from memory until the feed reports the commit; then read again.
        await wait_until(one_open, limit_s=30)
        fleet = (await client.get("/api/fleet")).json()
        assert {bot["id"]: bot for bot in fleet["bots"]}["beta"]["open_positions"] == 1


async def test_browsers_asking_together_share_one_read(db_url: str) -> None:
    await seed(db_url)
    async with dashboard_client(db_url) as client:
        dashboard = client.app.state.dashboard  # type: ignore[attr-defined]
        before = dashboard.fleet_snapshots.computations
        answers = await asyncio.gather(*(client.get("/api/fleet") for _ in range(10)))
        assert {answer.status_code for answer in answers} == {200}
        assert len({answer.content for answer in answers}) == 1
        assert dashboard.fleet_snapshots.computations - before == 1


async def test_a_bots_figures_follow_its_trades(db_url: str) -> None:
    await seed(db_url)
    async with dashboard_client(db_url) as client, Store(db_url) as store:
        before = (await client.get("/api/bots/beta")).json()
        repo = TradeRepository(store)
        opened = await repo.create_trade(trade("beta", entry_time=NOW))
        closed = await repo.close_trade(opened.id, {"exit_price": "50000.22345678"})
        assert closed.net_pnl is not None
        total = Decimal(before["equity"][-1]["pnl"]) + closed.net_pnl

        async def curve_moved() -> bool:
            page = (await client.get("/api/bots/beta")).json()
            return bool(Decimal(page["equity"][-1]["pnl"]) == total)

        # Summed again in the background (at most every figures_interval), then served.
        await wait_until(curve_moved, limit_s=30)


async def test_the_old_value_is_served_while_a_new_one_is_read_then_announced() -> None:
    data = {"version": 1}
    announced: list[Hashable] = []
    refreshed = asyncio.Event()

    def on_refreshed(key: Hashable) -> None:
        announced.append(key)
        refreshed.set()

    memo: Memo[int] = Memo(on_refreshed=on_refreshed)

    async def read() -> int:
        return data["version"]

    def version() -> int:
        return data["version"]

    assert await memo.get("bot", version, read) == 1  # nothing in memory: waited for
    data["version"] = 2
    assert await memo.get("bot", version, read) == 1  # at once: the value in memory
    await asyncio.wait_for(refreshed.wait(), 30)
    assert await memo.get("bot", version, read) == 2
    assert announced == ["bot"] and memo.computations == 2


async def test_a_browser_that_does_not_read_gets_one_resync_instead_of_a_backlog(
    store: Store,
) -> None:
    broadcaster = Broadcaster(store, Versions(), listener_events=4)
    slow, fast = broadcaster.listen(), broadcaster.listen()
    for _ in range(10):
        broadcaster.history_summed()
        broadcaster._broadcast()  # one window's event, now
        assert orjson.loads((await fast.next() or b"").split(b"data: ")[1])["history"] is True
    # Ten events, room for four: the backlog was dropped for one resync (then newer events).
    event = await slow.next()
    assert event is not None and b'"resync":true' in event
    assert slow.resyncs >= 1 and fast.resyncs == 0
    await broadcaster.close()
    assert await fast.next() is None  # the end of the stream
    for _ in range(4):
        if await slow.next() is None:
            break
    else:
        raise AssertionError("the slow browser's stream did not end")


class FailingOnce:
    """A Store whose change feed fails to start once (the database went away), then works."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.attempts = 0

    def changes(self) -> Any:
        self.attempts += 1
        if self.attempts == 1:
            raise DatabaseUnavailableError("connection refused", may_have_committed=False)
        return self.store.changes()


async def test_a_feed_that_fails_is_followed_again_and_the_pages_resync(store: Store) -> None:
    versions = Versions()
    flaky = FailingOnce(store)
    broadcaster = Broadcaster(cast(Store, flaky), versions, window=0.01)
    listener = broadcaster.listen()
    await broadcaster.start()  # returns after the failed attempt: served without a feed
    event = await asyncio.wait_for(listener.next(), 30)
    assert event is not None and b'"resync":true' in event  # pages read everything again,
    assert not versions.live  # at once, not only once the feed is back
    await wait_until(lambda: versions.live, limit_s=30)  # followed again after a pause
    assert flaky.attempts == 2
    await broadcaster.close()
    assert not versions.live


async def test_a_stream_pings_when_idle_and_forgets_a_browser_that_left(store: Store) -> None:
    broadcaster = Broadcaster(store, Versions())
    stream = EventStream(broadcaster, ping_seconds=0.05)
    sent: list[bytes] = []
    pinged, leave = asyncio.Event(), asyncio.Event()

    async def receive() -> dict[str, Any]:
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message.get("body", b""))
        if message.get("body") == b": ping\n\n":
            pinged.set()

    serving = asyncio.create_task(stream({"type": "http"}, receive, send))
    await asyncio.wait_for(pinged.wait(), 30)
    assert broadcaster.listeners == 1
    leave.set()
    await asyncio.wait_for(serving, 30)
    assert broadcaster.listeners == 0
    assert sent[1].startswith(b"retry: ")
    await broadcaster.close()


# --- the server: a real `asyncstore dashboard` process ---------------------------------------


async def test_a_trade_written_by_another_process_reaches_the_stream(
    db_url: str, tmp_path: Path
) -> None:
    async with Store(db_url) as store:
        await TradeRepository(store).create_bot_instance({"id": "watched", "type": "paper"})
    async with (
        dashboard_process(db_url, tmp_path) as server,
        httpx.AsyncClient(base_url=server.base, timeout=None) as client,
        client.stream("GET", "/api/stream") as stream,
    ):
        assert stream.status_code == 200
        # A read-only observer yields the CPU to the bots: 10 lower than what started it.
        assert server.niceness() == min(19, os.nice(0) + 10)
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        async with asyncio.timeout(30):
            while await anext(lines) != ": connected":
                pass
        writer = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, db_url, "watched", env=plain_env()
        )
        async with asyncio.timeout(60):
            while "watched" not in (event := await next_event(lines))["bots"]:
                pass
        assert await asyncio.wait_for(writer.wait(), 60) == 0
    assert "trades" in event["tables"] and event["count"] >= 1 and event["resync"] is False
    assert datetime.fromisoformat(event["at"]) > NOW


TOKEN = "k3y-for.the_dashboard"


@pytest.mark.sqlite_only
async def test_with_a_token_every_route_needs_it(db_url: str, tmp_path: Path) -> None:
    await seed(db_url)
    async with dashboard_process(db_url, tmp_path, "--token", TOKEN) as server:
        base = server.base
        async with httpx.AsyncClient(base_url=base) as stranger:
            for path in ("/", "/static/app.js", "/api/fleet", "/api/bots/alpha", "/api/stream"):
                refused = await stranger.get(path)
                assert refused.status_code == 401, path
                assert "token" in refused.json()["error"]
            wrong = await stranger.get("/api/fleet", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            bearer = await stranger.get("/api/fleet", headers={"Authorization": f"Bearer {TOKEN}"})
            assert bearer.status_code == 200 and "set-cookie" not in bearer.headers
        async with httpx.AsyncClient(base_url=base) as browser:
            opened = await browser.get("/", params={"token": TOKEN})
            assert opened.status_code == 200
            cookie = opened.headers["set-cookie"]
            assert cookie.startswith(f"{COOKIE_NAME}={TOKEN};")
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            # The page's own requests carry nothing but the cookie.
            for path in ("/static/app.js", "/api/fleet", "/api/bots/alpha/trades"):
                assert (await browser.get(path)).status_code == 200, path
        async with httpx.AsyncClient(base_url=base, cookies={COOKIE_NAME: "nope"}) as forged:
            assert (await forged.get("/api/fleet")).status_code == 401


@pytest.mark.sqlite_only
async def test_off_loopback_a_token_from_the_environment_is_enforced(
    db_url: str, tmp_path: Path
) -> None:
    await seed(db_url)
    env = plain_env(ASYNCSTORE_DASHBOARD_TOKEN=TOKEN)
    async with (
        dashboard_process(db_url, tmp_path, "--host", "0.0.0.0", "--nice", "0", env=env) as server,
        httpx.AsyncClient(base_url=server.base) as client,
    ):
        assert (await client.get("/api/fleet")).status_code == 401
        allowed = await client.get("/api/fleet", headers={"Authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200 and len(allowed.json()["bots"]) == 4
        assert server.niceness() == os.nice(0)  # --nice 0: the priority it was started with


@pytest.mark.sqlite_only
async def test_the_command_refuses_what_it_must_not_serve(db_url: str, tmp_path: Path) -> None:
    await seed(db_url)
    for host in ("0.0.0.0", "192.168.1.20", "::"):
        refused = run_cli(tmp_path, "dashboard", "--url", db_url, "--host", host)
        assert refused.returncode == 2, refused.stderr
        assert f"--host {host}" in refused.stderr and "--token" in refused.stderr
    bad_token = run_cli(tmp_path, "dashboard", "--url", db_url, "--token", "two words")
    assert bad_token.returncode == 2 and "token must be" in bad_token.stderr
    missing = tmp_path / "nowhere" / "trading.db"
    no_file = run_cli(tmp_path, "dashboard", "--url", f"sqlite+aiosqlite:///{missing}")
    assert no_file.returncode == 1 and f"no database at {missing}" in no_file.stderr
    assert not missing.exists() and not missing.parent.exists()  # nothing created
    empty = tmp_path / "empty.db"
    empty.touch()
    no_tables = run_cli(tmp_path, "dashboard", "--url", f"sqlite+aiosqlite:///{empty}")
    assert no_tables.returncode == 1 and "no asyncstore tables" in no_tables.stderr
    assert empty.stat().st_size == 0


@pytest.mark.sqlite_only
async def test_the_page_is_served_from_the_package(db_url: str) -> None:
    await seed(db_url)
    async with dashboard_client(db_url) as client:
        index = await client.get("/")
        assert index.status_code == 200 and "text/html" in index.headers["content-type"]
        assets = sorted(path.name for path in STATIC_DIR.glob("*.js"))
        assert assets, "the page's scripts are shipped in asyncstore/dashboard/static"
        for name in assets:
            assert (await client.get(f"/static/{name}")).status_code == 200, name
        assert (await client.get("/static/../app.py")).status_code == 404
        assert (await client.get("/api/nothing-here")).json() == {"error": "Not Found"}


async def test_without_a_token_only_loopback_names_are_served(db_url: str) -> None:
    """DNS rebinding: a page of another site whose name resolves to 127.0.0.1 sends that name
    as Host; the token-less (loopback) dashboard refuses it, on every route."""
    await seed(db_url)
    async with dashboard_client(db_url) as client:
        for host in ("127.0.0.1:8050", "localhost:8050", "[::1]:8050"):
            reply = await client.get("/api/fleet", headers={"host": host})
            assert reply.status_code == 200, host
        for path in ("/", "/api/fleet", "/api/stream", "/static/app.js"):
            reply = await client.get(path, headers={"host": "attacker.example:8050"})
            assert reply.status_code == 400, path
            assert "bot" not in reply.text
