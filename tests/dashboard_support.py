"""Fixtures of the dashboard's tests (tests/test_dashboard_api.py): a seeded fleet whose
figures are known to the last digit, the app driven in-process, and a real `asyncstore
dashboard` process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson

from asyncstore import Store, TradeRepository
from asyncstore.dashboard import DashboardOptions, create_app

STALE_AFTER = 30.0
NOW = datetime.now(UTC)
MIDNIGHT = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
YESTERDAY_NOON = MIDNIGHT - timedelta(hours=12)


def trade(bot_id: str, **values: Any) -> dict[str, Any]:
    return {
        "bot_id": bot_id,
        "trade_type": "paper",
        "entry_logic_name": "RSIEntry",
        "exit_logic_name": "ATRExit",
        "symbol": "BTCUSDT",
        "interval": "1h",
        "direction": "long",
        "entry_price": "50000.12345678",
        "size": "0.00123457",
        **values,
    }


@dataclass
class Seeded:
    net_pnl: dict[str, list[Decimal]]  # per bot, every closed trade's net PnL
    today: dict[str, Decimal]  # per bot, closed since midnight
    total_pnl: dict[str, Decimal | None]  # per bot, its books (bot_instances.total_pnl)
    closed_ids: dict[str, set[str]]


async def close_at(
    repo: TradeRepository,
    bot_id: str,
    seeded: Seeded,
    exit_time: datetime,
    exit_price: str = "50010.87654321",
    **values: Any,
) -> None:
    """A trade of `bot_id` opened an hour before `exit_time` and closed then (close_trade
    books its PnL on the bot)."""
    entry_time = exit_time - timedelta(hours=1)
    opened = await repo.create_trade(trade(bot_id, entry_time=entry_time, **values))
    closed = await repo.close_trade(
        opened.id, {"exit_price": exit_price, "exit_time": exit_time, "commission": "0.00000001"}
    )
    assert closed.net_pnl is not None
    seeded.net_pnl.setdefault(bot_id, []).append(closed.net_pnl)
    seeded.closed_ids.setdefault(bot_id, set()).add(closed.id)
    if exit_time >= MIDNIGHT:
        seeded.today[bot_id] = seeded.today.get(bot_id, Decimal(0)) + closed.net_pnl


async def seed(db_url: str) -> Seeded:
    """alpha beats now; beta beat an hour ago; gamma is stopped; delta never beat. Trades are
    closed today, yesterday and three days ago, with PnL to the 8th decimal."""
    seeded = Seeded({}, {}, {}, {})
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        for bot_id, status in (
            ("alpha", "running"),
            ("beta", "running"),
            ("gamma", "stopped"),
            ("delta", "running"),
        ):
            await repo.create_bot_instance(
                {"id": bot_id, "type": "paper", "status": status, "current_balance": "1000"}
            )
        await repo.heartbeat("alpha")
        await repo.update_bot_instance("beta", {"last_heartbeat": NOW - timedelta(hours=1)})
        await repo.update_bot_instance("gamma", {"last_heartbeat": NOW - timedelta(hours=1)})
        await close_at(repo, "alpha", seeded, NOW - timedelta(seconds=5))
        await close_at(repo, "alpha", seeded, NOW, exit_price="49990.00000003", symbol="ETHUSDT")
        await close_at(repo, "alpha", seeded, YESTERDAY_NOON, exit_price="50123.45678901")
        await close_at(repo, "beta", seeded, NOW, direction="short")
        await close_at(repo, "beta", seeded, MIDNIGHT - timedelta(days=3))
        for _ in range(2):
            await repo.create_trade(trade("alpha", entry_time=NOW))
        cancelled = await repo.create_trade(trade("alpha", entry_time=NOW))
        await repo.update_trade(cancelled.id, {"status": "cancelled"})
        for bot in await repo.get_bot_instances():
            seeded.total_pnl[bot.id] = bot.total_pnl
    return seeded


@contextlib.asynccontextmanager
async def dashboard_client(db_url: str, **store_options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan (Store open, change feed followed), the fleet's daily history
    summed, and a client that calls it in-process. Afterwards: the dashboard wrote nothing."""
    options = DashboardOptions(stale_after=STALE_AFTER, window=0.05, figures_interval=0.5)
    app = create_app(db_url, options=options, store_options=store_options)
    async with app.router.lifespan_context(app):
        dashboard = app.state.dashboard
        await dashboard.history.first()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
        assert dashboard.store.settings.read_only  # a Store without a writer
        assert dashboard.store.write_stats.accepted == 0  # read-only: not one write submitted


# --- a real `asyncstore dashboard` process --------------------------------------------------

WRITER = """
import asyncio, sys
from asyncstore import Store, TradeRepository

async def main(url, bot_id):
    async with Store(url) as store:
        trade = await TradeRepository(store).create_trade({
            "bot_id": bot_id, "trade_type": "paper", "entry_logic_name": "E",
            "exit_logic_name": "X", "symbol": "BTCUSDT", "interval": "1m",
            "direction": "long", "entry_price": "50000", "size": "0.1"})
    print(trade.id)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def plain_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCSTORE_")}
    return env | extra


@dataclass(frozen=True)
class Server:
    base: str  # http://127.0.0.1:PORT
    pid: int

    def niceness(self) -> int:
        """The process's nice value (Linux /proc)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(stat[16])


@contextlib.asynccontextmanager
async def dashboard_process(
    db_url: str, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[Server]:
    """`asyncstore dashboard` on a free port, once it listens."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "asyncstore.cli", "dashboard", "--url", db_url),
        *("--port", str(port), *args),
        cwd=cwd,
        env=env or plain_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output: list[bytes] = []
    listening = asyncio.Event()

    async def read_output() -> None:  # drained all along: a full pipe would stall the server
        assert process.stdout is not None
        async for line in process.stdout:
            output.append(line)
            if line.startswith(b"asyncstore dashboard: http://"):
                listening.set()

    reader = asyncio.create_task(read_output())
    try:
        waiting = asyncio.create_task(listening.wait())
        await asyncio.wait({waiting, reader}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        assert listening.is_set(), b"".join(output).decode()
        yield Server(f"http://127.0.0.1:{port}", process.pid)
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)  # stops with streams still open
        await reader


async def next_event(lines: AsyncIterator[str]) -> dict[str, Any]:
    """The data of the next `changes` event on the stream."""
    event = None
    async for line in lines:
        if line == "event: changes":
            event = "changes"
        elif line.startswith("data: ") and event == "changes":
            return dict(orjson.loads(line[len("data: ") :]))
    raise AssertionError("the stream ended")
