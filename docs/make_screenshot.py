"""Regenerate docs/dashboard.png (the fleet) and docs/dashboard-bot.png (one bot) for the README.

    .venv/bin/python docs/make_screenshot.py

Seeds a realistic fleet into a throwaway SQLite file (12 bots, ~3,000 closed trades over 60 days
booked through close_trade, open positions, a metrics row every few days computed from the
trades so far, today's heartbeats every minute with a bot that went silent and one that
errored), starts `asyncstore dashboard` on it as a real process, and photographs the page with
Debian's Chromium through Playwright. Nothing leaves 127.0.0.1. The data is random with a fixed
seed; the ages and dates follow the clock, so two runs differ only there.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from playwright.async_api import FloatRect, Page, async_playwright

from asyncstore import Store, TradeRepository
from asyncstore.repository.performance import ClosedTrades, compute_metrics

DOCS = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CENT = Decimal("0.01")

# (id, type, starting balance, symbols, entry logic, exit logic, edge per trade in %)
BotSpec = tuple[str, str, int, list[str], str, str, float]
FLEET: list[BotSpec] = [
    ("btc_trend_01", "live", 25_000, ["BTCUSDT"], "EMACrossEntry", "ATRTrailExit", 0.18),
    ("btc_trend_02", "paper", 10_000, ["BTCUSDT"], "EMACrossEntry", "FixedRRExit", 0.05),
    ("eth_meanrev_01", "live", 15_000, ["ETHUSDT"], "RSIBBVolumeEntryMixin", "ATRExitMixin", 0.12),
    ("eth_meanrev_02", "paper", 5_000, ["ETHUSDT"], "RSIBBVolumeEntryMixin", "TimeExit", -0.04),
    ("sol_breakout", "live", 8_000, ["SOLUSDT"], "DonchianBreakout", "ATRTrailExit", 0.22),
    (
        "alt_basket_01",
        "paper",
        12_000,
        ["ADAUSDT", "DOTUSDT", "LINKUSDT"],
        "MomentumRank",
        "TimeExit",
        0.02,
    ),
    (
        "alt_basket_02",
        "paper",
        12_000,
        ["AVAXUSDT", "ATOMUSDT"],
        "MomentumRank",
        "ATRExitMixin",
        -0.08,
    ),
    ("grid_btc", "live", 30_000, ["BTCUSDT"], "GridEntry", "GridExit", 0.07),
    ("scalper_eth", "paper", 3_000, ["ETHUSDT"], "OrderBookImbalance", "TickExit", 0.01),
    ("funding_arb", "live", 50_000, ["BTCUSDT", "ETHUSDT"], "FundingSpread", "FundingFlip", 0.09),
    (
        "opt_rsi_sweep",
        "optimization",
        10_000,
        ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
        "RSIBBVolumeEntryMixin",
        "ATRExitMixin",
        0.0,
    ),
    ("macd_swing", "paper", 7_500, ["SOLUSDT", "BTCUSDT"], "MACDSwingEntry", "FixedRRExit", 0.1),
]
# minutes since their last heartbeat (the errored bot stopped beating when it failed)
SILENT = {"eth_meanrev_02": 25, "scalper_eth": 95, "alt_basket_02": 6}
ERRORED = "alt_basket_02"
PRICES = {
    "BTCUSDT": 97_000,
    "ETHUSDT": 3_600,
    "SOLUSDT": 230,
    "ADAUSDT": 1.05,
    "DOTUSDT": 9.2,
    "LINKUSDT": 24,
    "AVAXUSDT": 48,
    "ATOMUSDT": 9.8,
}


def money(value: float, places: str = "0.00000001") -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places))


# The metrics table's scales: DECIMAL(10,4) ratios, (5,2) win rate, (20,8) money.
SCALES = {"win_rate": Decimal("0.01"), "avg_win": Decimal("1E-8"), "avg_loss": Decimal("1E-8")}


def metrics_of(exits: list[datetime], pnls: list[Decimal], start: Decimal) -> dict[str, object]:
    """The metrics of the trades so far, by asyncstore's own definitions (what
    calculate_performance_metrics would have stored then), rounded to their columns."""
    figures = compute_metrics(ClosedTrades(list(exits), list(pnls)), start)
    return {
        key: value.quantize(SCALES.get(key, Decimal("0.0001")))
        if isinstance(value, Decimal) and key not in ("largest_win", "largest_loss")
        else value
        for key, value in figures.items()
        if value is not None
    }


async def seed_bot(repo: TradeRepository, spec: BotSpec, rng: random.Random, now: datetime) -> None:
    bot_id, kind, start, symbols, entry_logic, exit_logic, edge = spec
    began = now - timedelta(days=60)
    await repo.create_bot_instance(
        {
            "id": bot_id,
            "type": kind,
            "status": "running",
            "current_balance": start,
            "started_at": began,
        }
    )
    t = began + timedelta(minutes=rng.randint(0, 600))
    pnls: list[Decimal] = []
    exits: list[datetime] = []
    next_metrics = began + timedelta(days=3)
    while True:
        t += timedelta(minutes=rng.expovariate(1 / 340) + 5)  # ~250 trades in 60 days
        hold = timedelta(minutes=rng.randint(10, 600))
        if t + hold >= now - timedelta(minutes=20):
            break
        symbol = rng.choice(symbols)
        price = PRICES[symbol] * (1 + rng.uniform(-0.15, 0.15))
        size = start * rng.uniform(0.05, 0.2) / price
        direction = rng.choice(["long", "short"])
        move = rng.gauss(edge / 100, 1.2 / 100)
        exit_price = price * (1 + (move if direction == "long" else -move))
        trade = await repo.create_trade(
            {
                "bot_id": bot_id,
                "trade_type": kind,
                "strategy_name": f"{entry_logic}/{exit_logic}",
                "entry_logic_name": entry_logic,
                "exit_logic_name": exit_logic,
                "symbol": symbol,
                "interval": rng.choice(["5m", "15m", "1h"]),
                "direction": direction,
                "status": "open",
                "entry_time": t,
                "entry_price": money(price, "0.0001"),
                "size": money(size, "0.0001"),
            }
        )
        closed = await repo.close_trade(
            trade.id,
            {
                "exit_price": money(exit_price, "0.0001"),
                "exit_time": t + hold,
                "commission": money(price * size * 0.0004, "0.0001"),
                "exit_reason": rng.choice(["take_profit", "stop_loss", "signal", "time"]),
            },
        )
        assert closed.net_pnl is not None
        pnls.append(closed.net_pnl)
        exits.append(t + hold)
        if t + hold >= next_metrics and len(pnls) > 5:
            # Trades overlap: the figures as of this exit count the trades exited by then.
            done = sorted((e, p) for e, p in zip(exits, pnls, strict=True) if e <= t + hold)
            figures = metrics_of([e for e, _ in done], [p for _, p in done], Decimal(start))
            await repo.create_performance_metrics(
                {"bot_id": bot_id, **figures, "calculated_at": t + hold}
            )
            next_metrics += timedelta(days=3)
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        symbol = rng.choice(symbols)
        price = PRICES[symbol]
        await repo.create_trade(
            {
                "bot_id": bot_id,
                "trade_type": kind,
                "strategy_name": f"{entry_logic}/{exit_logic}",
                "entry_logic_name": entry_logic,
                "exit_logic_name": exit_logic,
                "symbol": symbol,
                "interval": "1h",
                "direction": rng.choice(["long", "short"]),
                "status": "open",
                "entry_time": now - timedelta(minutes=rng.randint(5, 300)),
                "entry_price": money(price, "0.0001"),
                "size": money(start * 0.1 / price, "0.0001"),
            }
        )
    await repo.calculate_performance_metrics(bot_id, starting_balance=start)
    await heartbeats_today(repo, bot_id, rng, now)


async def heartbeats_today(
    repo: TradeRepository, bot_id: str, rng: random.Random, now: datetime
) -> None:
    """A heartbeat a minute since 8 hours ago (the database's trigger turns them into the
    activity buckets), the balance wandering and arriving at the booked one, with the odd
    restart (25 minutes without a heartbeat) and the silent bots' silence at the end."""
    bot = await repo.get_bot_instance(bot_id)
    assert bot is not None and bot.current_balance is not None
    booked = bot.current_balance
    silent_for = SILENT.get(bot_id, 0)
    start = now - timedelta(hours=8)
    minutes = int((now - start).total_seconds() // 60) - silent_for
    walk, drift = [], Decimal(0)
    for _ in range(minutes):
        drift += money(float(booked) * rng.gauss(0, 0.0006), "0.01")
        walk.append(drift)
    restart = rng.randint(60, 400) if rng.random() < 0.4 else None
    for minute, step in enumerate(walk[:-1]):
        if restart is not None and restart <= minute < restart + 25:
            continue
        balance = booked + step - walk[-1]  # ends at the booked balance
        beat = start + timedelta(minutes=minute, seconds=rng.randint(0, 50))
        await repo.update_bot_instance(bot_id, {"last_heartbeat": beat, "current_balance": balance})
    last = now - timedelta(minutes=silent_for) if silent_for else now
    status = "error" if bot_id == ERRORED else "running"
    await repo.update_bot_instance(
        bot_id, {"last_heartbeat": last, "current_balance": booked, "status": status}
    )


async def seed(url: str) -> int:
    rng = random.Random(15)
    now = datetime.now(UTC)
    async with Store(url) as store:
        await store.create_tables()
        repo = TradeRepository(store)
        await asyncio.gather(
            *(seed_bot(repo, spec, random.Random(rng.random()), now) for spec in FLEET)
        )
        ((count,),) = await store.fetch_all("SELECT count(*) FROM trades")
    return int(count)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while True:
            if process.poll() is not None:
                raise SystemExit("the dashboard exited")
            try:
                if (await client.get(f"{url}/api/fleet")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the dashboard did not answer within 30 s")
            await asyncio.sleep(0.1)


async def settle(page: Page) -> None:
    await page.wait_for_selector("body[data-ready='true']")
    await page.wait_for_selector("[data-testid='live-indicator'][data-state='connected']")
    await page.wait_for_function(
        "[...document.querySelectorAll('.chart:not([hidden])')]"
        ".filter((c) => c.offsetParent).every((c) => c.querySelector('canvas'))"
    )
    await page.evaluate("document.fonts.ready")


async def photograph(url: str, fleet_png: Path, bot_png: Path, bot_id: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = await browser.new_page(
                viewport={"width": 1440, "height": 900}, device_scale_factor=1
            )
            await page.goto(url)
            await settle(page)
            await page.screenshot(path=str(fleet_png), full_page=True)
            await page.evaluate(f"location.hash = '#bot={bot_id}'")
            await page.wait_for_selector("[data-testid='trade-row']")
            await settle(page)
            # The top of the bot's page: its books, curves, periods, metrics and activity.
            top: FloatRect = {"x": 0, "y": 0, "width": 1440, "height": 1560}
            await page.screenshot(path=str(bot_png), full_page=True, clip=top)
        finally:
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DOCS / "dashboard.png")
    parser.add_argument("--bot-output", type=Path, default=DOCS / "dashboard-bot.png")
    parser.add_argument("--bot", default="sol_breakout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite+aiosqlite:///{workdir}/db/trading.db"
        print(f"seeded {asyncio.run(seed(url))} trades", flush=True)
        port = free_port()
        command = [sys.executable, "-m", "asyncstore.cli", "dashboard", "--url", url]
        server = subprocess.Popen([*command, "--port", str(port)], cwd=workdir)
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_for(base, server))
            asyncio.run(photograph(base, args.output, args.bot_output, args.bot))
        finally:
            server.terminate()
            server.wait(15)
    print(f"wrote {args.output} and {args.bot_output}")


if __name__ == "__main__":
    main()
