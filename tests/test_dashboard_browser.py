"""The live dashboard in a real browser: Debian's Chromium driven by Playwright, against a real
`asyncstore dashboard` process, with bots written by the test and by other processes.

What a user sees: every bot listed; a bot and a trade written by another process appear without a
reload; a silent bot gets flagged stale; the charts draw; a bot's trades page with "more";
nothing is fetched from anywhere but the dashboard itself; no JavaScript error; and, off
loopback, nothing without the token.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from playwright.async_api import Browser, ConsoleMessage, Locator, Page, async_playwright, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from asyncstore import PerformanceMetricsRecord, Store, TradeRepository

CHROMIUM = Path("/usr/bin/chromium")
LOOPBACK = "127.0.0.1"
# Bounds for conditions the browser reaches by itself (a live update, a stale flag): generous,
# because two cores are shared with the server, the writer and PostgreSQL.
LIVE_TIMEOUT_MS = 20_000
START_TIMEOUT_S = 30.0
STALE_AFTER_S = 5

# The colours the page's charts draw their series with (static/charts.js).
BLUE = (88, 166, 255)
GREEN = (63, 185, 80)
RED = (248, 81, 73)
AMBER = (210, 153, 34)


# --- the dashboard process --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Dashboard:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@asynccontextmanager
async def running_dashboard(
    db_url: str, workdir: Path, *options: str, host: str = LOOPBACK, port: int | None = None
) -> AsyncIterator[Dashboard]:
    """`asyncstore dashboard` as its own process, answering HTTP when this yields; stopped after."""
    port = port or free_port()
    log = workdir / f"dashboard-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCSTORE_")}
    command = [sys.executable, "-m", "asyncstore.cli", "dashboard", "--url", db_url]
    command += ["--host", host, "--port", str(port), *options]
    with log.open("wb") as sink:
        process = await asyncio.to_thread(
            subprocess.Popen, command, cwd=workdir, env=env, stdout=sink, stderr=sink
        )
    dashboard = Dashboard(process, f"http://{LOOPBACK}:{port}", log)
    try:
        await wait_for_http(dashboard)
        yield dashboard
    finally:
        await stop(process)


async def wait_for_http(dashboard: Dashboard) -> None:
    """Poll until the server answers (any status: a token-guarded one says 401), with a deadline."""
    deadline = time.monotonic() + START_TIMEOUT_S
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            if dashboard.process.poll() is not None:
                raise AssertionError(f"dashboard exited early:\n{dashboard.output()}")
            try:
                await client.get(f"{dashboard.base_url}/api/fleet")
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"dashboard not answering after {START_TIMEOUT_S} s:\n{dashboard.output()}"
                    ) from None
                await asyncio.sleep(0.1)


async def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 15)


async def write_from_another_process(
    db_url: str, bot_id: str, trades: int, *, new: bool = False, pause: float = 0.0
) -> list[dict[str, str]]:
    """tests/processes/dashboard_writer.py: a bot's writes from a process of its own."""
    command = [sys.executable, "-m", "tests.processes.dashboard_writer", db_url, bot_id]
    command += [str(trades), "--pause", str(pause), *(["--new"] if new else [])]
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return [orjson.loads(line) for line in done.stdout.splitlines()]


# --- the data ------------------------------------------------------------------------------


@dataclass
class Seeded:
    trades: dict[str, list[str]] = field(default_factory=dict)  # bot id -> closed trade ids
    total_pnl: dict[str, Decimal | None] = field(default_factory=dict)
    metrics: dict[str, PerformanceMetricsRecord] = field(default_factory=dict)


async def seed(
    db_url: str, trades_per_bot: dict[str, int], *, silent: Sequence[str] = ()
) -> Seeded:
    """Bots that traded over the past days (closed through close_trade, so their books are
    real), heartbeated now, with metrics; `silent` bots last heartbeated an hour ago."""
    seeded = Seeded()
    now = datetime.now(UTC)
    async with Store(db_url) as store:
        await store.create_tables()
        repo = TradeRepository(store)

        async def one_bot(bot_id: str, count: int) -> None:
            await repo.create_bot_instance(
                {"id": bot_id, "type": "paper", "status": "running", "current_balance": "1000"}
            )
            ids = []
            for n in range(count):
                exit_time = now - timedelta(hours=3 * (count - n))
                trade = await repo.create_trade(
                    {
                        "bot_id": bot_id,
                        "trade_type": "paper",
                        "entry_logic_name": ("RSIEntry", "BreakoutEntry")[n % 2],
                        "exit_logic_name": "ATRExit",
                        "symbol": ("BTCUSDT", "ETHUSDT", "SOLUSDT")[n % 3],
                        "interval": "1h",
                        "direction": ("long", "short")[n % 2],
                        "status": "open",
                        "entry_time": exit_time - timedelta(minutes=45),
                        "entry_price": "100",
                        "size": "2",
                    }
                )
                # Winning days and losing days alternate, so both bar colours and both signs
                # show; each trade's size of move differs.
                wins = exit_time.date().toordinal() % 2 == 0
                move = Decimal(n % 5 + 1) / 4
                up = wins == (n % 2 == 0)  # longs win going up, shorts going down
                exit_price = Decimal(100) + (move if up else -move)
                await repo.close_trade(trade.id, {"exit_price": exit_price, "exit_time": exit_time})
                ids.append(trade.id)
            seeded.trades[bot_id] = ids
            # The last hour's heartbeats (the database records them per minute for the
            # activity chart), the balance moving a little, then the booked one again.
            booked = await repo.get_bot_instance(bot_id)
            assert booked is not None and booked.current_balance is not None
            for minutes_ago in range(60, 0, -10):
                await repo.update_bot_instance(
                    bot_id,
                    {
                        "last_heartbeat": now - timedelta(minutes=minutes_ago),
                        "current_balance": booked.current_balance + minutes_ago % 20 - 5,
                    },
                )
            await repo.update_bot_instance(bot_id, {"current_balance": booked.current_balance})
            await repo.heartbeat(bot_id)
            if count:
                for days_ago in (3, 2, 1):
                    await repo.create_performance_metrics(
                        {
                            "bot_id": bot_id,
                            "sharpe_ratio": str(Decimal("0.5") + days_ago),
                            "win_rate": "50",
                            "total_return": str(days_ago),
                            "calculated_at": now - timedelta(days=days_ago),
                        }
                    )
                seeded.metrics[bot_id] = await repo.calculate_performance_metrics(
                    bot_id, starting_balance="1000"
                )

        await asyncio.gather(*(one_bot(b, n) for b, n in trades_per_bot.items()))
        for bot_id in silent:
            await repo.update_bot_instance(bot_id, {"last_heartbeat": now - timedelta(hours=1)})
        for bot_id in trades_per_bot:
            record = await repo.get_bot_instance(bot_id)
            assert record is not None
            seeded.total_pnl[bot_id] = record.total_pnl
    return seeded


def shown_money(value: Decimal | None, *, signed: bool = True) -> str:
    """What the page shows for an amount (static/format.js): 2 places, half away from zero,
    thousands grouped, a real minus sign, "+" on gains when signed; a dash when unknown."""
    if value is None:
        return "\u2014"
    rounded = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{abs(rounded):,.2f}"
    if rounded < 0:
        return f"\u2212{text}"
    return f"+{text}" if signed and rounded > 0 else text


def shown_number(value: Decimal | None, suffix: str = "") -> str:
    """A metric as the page shows it: 2 places, half away from zero, a real minus sign."""
    if value is None:
        return "\u2014"
    rounded = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    minus = "\u2212" if rounded < 0 else ""
    return f"{minus}{abs(rounded):,.2f}{suffix}"


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium (Playwright's own browser download cannot work here); in CI its
    absence fails the test, elsewhere it skips."""
    if not CHROMIUM.exists():
        reason = f"no {CHROMIUM}: `apt-get install -y chromium` (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium))
        try:
            yield launched
        finally:
            await launched.close()


class Watched:
    """A page with everything it requested, every JavaScript error and console error or
    warning, and how many times a document loaded in it (a reload counts)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.loads = 0
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)
        page.on("load", self._loaded)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            where = message.location.get("url", "")
            self.errors.append(f"console.{message.type}: {message.text} @ {where}")

    def expect_error(self, *fragments: str) -> None:
        """Drop the console errors a test caused on purpose (the browser logs every 404):
        exactly one error must match all `fragments`."""
        matching = [e for e in self.errors if all(f in e for f in fragments)]
        assert len(matching) == 1, self.errors
        self.errors.remove(matching[0])

    def _loaded(self, _page: Page) -> None:
        self.loads += 1

    def off_loopback(self) -> list[str]:
        """Requests for anything but this machine's loopback (data: URLs never leave)."""
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme != "data"
            and (urlsplit(url).scheme not in ("http", "ws") or urlsplit(url).hostname != LOOPBACK)
        ]

    def assert_clean(self) -> None:
        assert self.requests, "the page requested nothing"
        assert self.off_loopback() == []
        assert self.errors == []


async def open_page(browser: Browser, url: str) -> Watched:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    watched = Watched(page)
    # More than the default 250 entries, for the throttle's timings (test_live_...).
    await page.add_init_script("performance.setResourceTimingBufferSize(100000)")
    await page.goto(url)
    await page.wait_for_selector("body[data-ready='true']", timeout=LIVE_TIMEOUT_MS)
    await expect(page.get_by_test_id("live-indicator")).to_have_attribute(
        "data-state", "connected", timeout=LIVE_TIMEOUT_MS
    )
    return watched


async def bot_ids_listed(page: Page) -> list[str]:
    rows = page.get_by_test_id("bot-row")
    return [str(await rows.nth(i).get_attribute("data-bot-id")) for i in range(await rows.count())]


def bot_row(page: Page, bot_id: str) -> Locator:
    return page.locator(f"[data-testid='bot-row'][data-bot-id='{bot_id}']")


COLOUR_PIXELS = """([testid, rgb]) => {
    const canvas = document.querySelector(`[data-testid="${testid}"] canvas`);
    if (!canvas || !canvas.width || !canvas.height) return 0;
    // Read a copy: reading the chart's own canvas back makes Chromium warn.
    const { width, height } = canvas;
    const copy = Object.assign(document.createElement("canvas"), { width, height });
    const context = copy.getContext("2d", { willReadFrequently: true });
    context.drawImage(canvas, 0, 0);
    const data = context.getImageData(0, 0, width, height).data;
    const near = (i, c) => Math.abs(data[i + c] - rgb[c]) < 40;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 200 && near(i, 0) && near(i, 1) && near(i, 2)) n++;
    }
    return n;
}"""


async def assert_drawn(page: Page, testid: str, *colours: tuple[int, int, int]) -> None:
    """The chart has data points, and its canvas shows each series colour (more than a few
    pixels of it: a drawn line or bars, not an empty frame of axes and grid)."""
    chart = page.get_by_test_id(testid)
    await expect(chart).not_to_have_attribute("data-points", "0", timeout=LIVE_TIMEOUT_MS)
    for rgb in colours:
        try:
            await page.wait_for_function(
                f"(args) => ({COLOUR_PIXELS})(args) > 20",
                arg=[testid, list(rgb)],
                timeout=LIVE_TIMEOUT_MS,
            )
        except PlaywrightTimeoutError:
            counted = await page.evaluate(COLOUR_PIXELS, [testid, list(rgb)])
            raise AssertionError(f"{testid}: {counted} pixels of {rgb}") from None


# --- the tests -----------------------------------------------------------------------------


async def test_every_bot_is_listed_with_its_books(
    db_url: str, tmp_path: Path, browser: Browser
) -> None:
    trades = {f"bot_{n:02d}": 3 + n for n in range(7)} | {"idle_bot": 0}
    seeded = await seed(db_url, trades)
    async with running_dashboard(db_url, tmp_path) as server:
        watched = await open_page(browser, server.base_url)
        page = watched.page
        await expect(page.get_by_test_id("bot-row")).to_have_count(len(trades))
        assert sorted(await bot_ids_listed(page)) == sorted(trades)
        await expect(page.get_by_test_id("total-bots")).to_have_text(str(len(trades)))
        for bot_id, pnl in seeded.total_pnl.items():
            # Money as written, to the cent, with sign and colour.
            cell = bot_row(page, bot_id).locator("td").nth(5)
            await expect(cell).to_have_text(shown_money(pnl))
            colour = "none" if pnl is None else "pos" if pnl > 0 else "neg" if pnl < 0 else "zero"
            await expect(cell).to_have_class(f"num {colour}")
        watched.assert_clean()


async def test_a_bot_and_a_trade_from_another_process_appear_without_a_reload(
    db_url: str, tmp_path: Path, browser: Browser
) -> None:
    seeded = await seed(db_url, {"bot_a": 4, "bot_b": 2})
    async with running_dashboard(db_url, tmp_path) as server:
        watched = await open_page(browser, server.base_url)
        page = watched.page
        await page.evaluate("window.__sameDocument = 'kept'")
        await expect(page.get_by_test_id("bot-row")).to_have_count(2)

        # A new bot, written by another process after the page loaded.
        (written,) = await write_from_another_process(db_url, "late_bot", 1, new=True)
        await expect(bot_row(page, "late_bot")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        await expect(page.get_by_test_id("bot-row")).to_have_count(3)
        await expect(page.get_by_test_id("total-bots")).to_have_text("3")
        await expect(bot_row(page, "late_bot").locator("td").nth(5)).to_have_text(
            shown_money(Decimal(written["net_pnl"])), timeout=LIVE_TIMEOUT_MS
        )

        # The open bot's trade table takes a trade closed by another process.
        await page.evaluate("location.hash = '#bot=bot_a'")
        await expect(page.get_by_test_id("trade-row")).to_have_count(len(seeded.trades["bot_a"]))
        # Scrolled down to the trades, as a user reading them is: live updates keep the place.
        await page.get_by_test_id("trades-table").scroll_into_view_if_needed()
        scrolled = await page.evaluate("window.scrollY")
        assert scrolled > 0
        # Two seconds of commits: the server coalesces them into an event per 200 ms window.
        burst = await write_from_another_process(db_url, "bot_a", 40, pause=0.05)
        last = burst[-1]["trade_id"]
        await expect(
            page.locator(f"[data-testid='trade-row'][data-trade-id='{last}']")
        ).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
        written_here = len(seeded.trades["bot_a"]) + len(burst)
        await expect(page.get_by_test_id("trade-row")).to_have_count(written_here)
        await expect(page.get_by_test_id("bot-view")).to_have_attribute("data-bot-id", "bot_a")
        assert await page.evaluate("window.scrollY") >= scrolled

        # Same document all along: the marker survived, one load event, and the fleet was
        # refetched at most once per 300 ms during the burst (the throttle), yet more than once.
        assert await page.evaluate("window.__sameDocument") == "kept"
        assert watched.loads == 1
        starts = await page.evaluate(
            """performance.getEntriesByType("resource")
                .filter((e) => new URL(e.name).pathname === "/api/fleet")
                .map((e) => e.startTime)"""
        )
        gaps = [later - earlier for earlier, later in zip(starts[1:], starts[2:], strict=False)]
        assert len(gaps) >= 3 and all(gap >= 290 for gap in gaps), gaps
        watched.assert_clean()


async def test_a_bot_that_stops_heartbeating_is_flagged_stale(
    db_url: str, tmp_path: Path, browser: Browser
) -> None:
    await seed(db_url, {"quiet_bot": 1, "gone_bot": 1}, silent=["quiet_bot", "gone_bot"])
    options = ("--stale-after", str(STALE_AFTER_S))
    async with running_dashboard(db_url, tmp_path, *options) as server:
        watched = await open_page(browser, server.base_url)
        page = watched.page
        async with httpx.AsyncClient() as client:
            fleet = (await client.get(f"{server.base_url}/api/fleet")).json()
        assert fleet["stale_after_seconds"] == STALE_AFTER_S
        rule = page.get_by_test_id("stale-rule")
        await expect(rule).to_be_visible()
        await expect(rule).to_contain_text(fleet["stale_rule"])
        quiet_flag = bot_row(page, "quiet_bot").get_by_test_id("stale-flag")

        # Silent for an hour: flagged from the first look, on the fleet and on its own page.
        await expect(bot_row(page, "gone_bot").get_by_test_id("stale-flag")).to_be_visible()
        await expect(quiet_flag).to_be_visible()
        await expect(page.get_by_test_id("total-stale")).to_have_text("2")
        await page.evaluate("location.hash = '#bot=gone_bot'")
        await expect(page.get_by_test_id("bot-title")).to_have_text("gone_bot")
        await expect(page.get_by_test_id("bot-stale-flag")).to_be_visible()
        await page.get_by_test_id("back-link").click()

        # A heartbeat from another process clears the flag ...
        await write_from_another_process(db_url, "quiet_bot", 1)
        await expect(quiet_flag).to_have_count(0, timeout=LIVE_TIMEOUT_MS)
        await expect(page.get_by_test_id("total-stale")).to_have_text("1")
        # ... and, the bot silent again, it comes back once the threshold passes: nothing is
        # written to announce that, the page notices by itself (and no reload).
        await expect(quiet_flag).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        await expect(page.get_by_test_id("total-stale")).to_have_text("2")
        await page.evaluate("location.hash = '#bot=quiet_bot'")
        await expect(page.get_by_test_id("bot-title")).to_have_text("quiet_bot")
        await expect(page.get_by_test_id("bot-stale-flag")).to_be_visible()
        assert watched.loads == 1
        watched.assert_clean()


async def test_the_charts_draw_their_data(db_url: str, tmp_path: Path, browser: Browser) -> None:
    await seed(db_url, {"chart_bot": 30, "other_bot": 10})
    async with running_dashboard(db_url, tmp_path) as server:
        watched = await open_page(browser, server.base_url)
        page = watched.page
        # The fleet's curve appears once the server has summed the history (it then tells
        # the page to fetch the fleet again).
        await assert_drawn(page, "fleet-pnl-chart", BLUE)

        await bot_row(page, "chart_bot").click()
        await expect(page.get_by_test_id("bot-title")).to_have_text("chart_bot")
        await expect(page.get_by_test_id("trade-row")).to_have_count(30)
        await assert_drawn(page, "bot-equity-chart", BLUE)
        await assert_drawn(page, "period-chart", GREEN, RED)  # winning and losing days
        await assert_drawn(page, "metrics-history-chart", AMBER)
        # The intraday equity comes from the heartbeats (a point or more), and the uptime
        # timeline shows them.
        await assert_drawn(page, "activity-chart", GREEN)
        await expect(page.get_by_test_id("uptime-run").first).to_be_visible()

        # The period switch and the table view redraw from the same data.
        await page.get_by_test_id("period-monthly").click()
        await assert_drawn(page, "period-chart")
        await page.get_by_test_id("period-view-table").click()
        await expect(page.get_by_test_id("period-table").locator("tbody tr").first).to_be_visible()
        watched.assert_clean()


async def test_a_bots_page_pages_its_trades_and_shows_its_metrics(
    db_url: str, tmp_path: Path, browser: Browser
) -> None:
    seeded = await seed(db_url, {"busy_bot": 120, "small_bot": 2})
    metrics = seeded.metrics["busy_bot"]
    async with running_dashboard(db_url, tmp_path) as server:
        # Linkable: the bot's URL opens it directly.
        watched = await open_page(browser, f"{server.base_url}/#bot=busy_bot")
        page = watched.page
        await expect(page.get_by_test_id("bot-title")).to_have_text("busy_bot")
        await expect(page.get_by_test_id("bot-heartbeat")).to_contain_text("s ago")
        await expect(page.get_by_test_id("bot-stale-flag")).to_be_hidden()  # heartbeating
        trades = page.get_by_test_id("trade-row")
        more = page.get_by_test_id("trades-more")
        await expect(trades).to_have_count(50)
        await more.click()
        await expect(trades).to_have_count(100)
        await more.click()
        await expect(trades).to_have_count(120)
        await expect(more).to_be_hidden()
        shown = [await trades.nth(i).get_attribute("data-trade-id") for i in range(120)]
        assert sorted(map(str, shown)) == sorted(seeded.trades["busy_bot"])

        await expect(page.get_by_test_id("bot-pnl")).to_have_text(
            shown_money(seeded.total_pnl["busy_bot"])
        )
        await expect(page.get_by_test_id("metric-total_trades")).to_have_text("120")
        await expect(page.get_by_test_id("metric-win_rate")).to_have_text(
            shown_number(metrics.win_rate, " %")
        )
        await expect(page.get_by_test_id("metric-sharpe_ratio")).to_have_text(
            shown_number(metrics.sharpe_ratio)
        )
        await expect(page.get_by_test_id("metric-total_return")).to_have_text(
            shown_number(metrics.total_return, " %")
        )
        await expect(page.get_by_test_id("position-row")).to_have_count(0)
        await expect(page.get_by_test_id("by-symbol-table").locator("tbody tr")).to_have_count(3)
        await expect(page.get_by_test_id("by-strategy-table").locator("tbody tr")).to_have_count(2)

        # Back to the fleet and into the other bot by a click: the hash follows.
        await page.get_by_test_id("back-link").click()
        await bot_row(page, "small_bot").click()
        await expect(page).to_have_url(f"{server.base_url}/#bot=small_bot")
        await expect(trades).to_have_count(2)
        await expect(more).to_be_hidden()
        assert watched.loads == 1
        watched.assert_clean()


@pytest.mark.sqlite_only
async def test_off_loopback_the_token_is_required(
    db_url: str, tmp_path: Path, browser: Browser
) -> None:
    await seed(db_url, {"guarded_bot": 2})
    # Off loopback without a token, it does not even start.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCSTORE_")}
    refused = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "asyncstore.cli", "dashboard", "--url", db_url, "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and "token" in refused.stderr, refused.stderr
    token = "s3cret-token"
    async with running_dashboard(db_url, tmp_path, "--token", token, host="0.0.0.0") as server:
        # Without the token: nothing, neither the page nor the API nor the stream.
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            for path in ("/", "/api/fleet", "/api/bots/guarded_bot", "/api/stream"):
                assert (await client.get(path)).status_code == 401, path
        stranger = await browser.new_page()
        response = await stranger.goto(server.base_url)
        assert response is not None and response.status == 401
        await stranger.close()

        # With ?token=…: the page loads, its API calls and its stream work through the cookie,
        # and no other URL carries the token.
        watched = await open_page(browser, f"{server.base_url}/?token={token}")
        page = watched.page
        await expect(page.get_by_test_id("bot-row")).to_have_count(1)
        await write_from_another_process(db_url, "guarded_late_bot", 1, new=True)
        await expect(bot_row(page, "guarded_late_bot")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        assert [url for url in watched.requests if token in url] == [watched.requests[0]]
        assert token not in page.url
        watched.assert_clean()


@pytest.mark.sqlite_only
async def test_nothing_leaves_loopback_and_no_script_fails_anywhere_on_the_page(
    db_url: str, tmp_path: Path, browser: Browser
) -> None:
    """Every view and control once, with the page recording every request and error."""
    await seed(db_url, {"walk_bot": 60, "walk_silent": 1}, silent=["walk_silent"])
    async with running_dashboard(db_url, tmp_path) as server:
        watched = await open_page(browser, server.base_url)
        page = watched.page
        await bot_row(page, "walk_bot").click()
        await expect(page.get_by_test_id("trade-row")).to_have_count(50)
        await page.get_by_test_id("trades-more").click()
        await expect(page.get_by_test_id("trade-row")).to_have_count(60)
        for period in ("weekly", "monthly", "daily"):
            await page.get_by_test_id(f"period-{period}").click()
        await page.get_by_test_id("period-view-table").click()
        await page.get_by_test_id("period-view-chart").click()
        for metric in ("win_rate", "profit_factor", "max_drawdown", "total_return"):
            await page.get_by_test_id("metric-select").select_option(metric)
        await page.evaluate("location.hash = '#bot=no_such_bot'")
        await expect(page.get_by_test_id("bot-missing")).to_be_visible()
        watched.expect_error("/api/bots/no_such_bot", "404")
        await page.get_by_test_id("back-link").click()
        await expect(page.get_by_test_id("bot-row")).to_have_count(2)
        await page.set_viewport_size({"width": 700, "height": 900})
        await write_from_another_process(db_url, "walk_bot", 2)
        await expect(bot_row(page, "walk_bot").locator("td").nth(8)).not_to_have_text(
            "—", timeout=LIVE_TIMEOUT_MS
        )
        assert {urlsplit(url).path for url in watched.requests} >= {
            "/",
            "/api/fleet",
            "/api/stream",
            "/api/bots/walk_bot",
            "/api/bots/walk_bot/trades",
        }
        watched.assert_clean()


@pytest.mark.sqlite_only
async def test_the_live_indicator_follows_the_server_and_resyncs_after_it_returns(
    db_url: str, tmp_path: Path, browser: Browser
) -> None:
    await seed(db_url, {"steady_bot": 1})
    port = free_port()
    live = None
    async with running_dashboard(db_url, tmp_path, port=port) as first:
        watched = await open_page(browser, first.base_url)
        live = watched.page.get_by_test_id("live-indicator")
    # Server gone: the page says so, and keeps what it showed.
    await expect(live).to_have_attribute("data-state", "reconnecting", timeout=LIVE_TIMEOUT_MS)
    await expect(bot_row(watched.page, "steady_bot")).to_be_visible()
    # Written while nobody was streaming, then the server is back on the same port.
    await write_from_another_process(db_url, "while_away_bot", 1, new=True)
    async with running_dashboard(db_url, tmp_path, port=port):
        await expect(live).to_have_attribute("data-state", "connected", timeout=LIVE_TIMEOUT_MS)
        await expect(bot_row(watched.page, "while_away_bot")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert watched.loads == 1
    assert watched.off_loopback() == []
    # Only the failed reconnections may have logged (the browser's own network errors).
    assert all("ERR_CONNECTION_REFUSED" in e or "api/stream" in e for e in watched.errors), (
        watched.errors
    )
