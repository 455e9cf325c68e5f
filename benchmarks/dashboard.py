"""The live dashboard at scale: its first load, and what ten watching browsers cost the bots.

    python -m benchmarks.dashboard [--trades 1000000] [--bots 100] [--quick]
        [--backend sqlite|postgresql|both] [--url URL] [--seconds 20] [--rounds 2] [--pause 0.5]

Per backend, one database filled through bulk_create_trades: `--bots` bots, `--trades` full
trades (every column set) over the last 365 days, three open per bot, 20 symbols, 20
strategies, 50 metrics rows and a heartbeat per bot. Then `asyncstore dashboard` runs as its
own process (uvicorn), and:

1. First load, as a browser makes it: index.html, its assets wave by wave (module imports, 6
   connections), then /api/fleet beside /api/bots/{id}; then (timed apart) that bot's first
   page of trades, which the page asks for next.
   Once right after the server announced itself (nothing summed or remembered yet), then
   `LOADS` cold-ish loads: each a new client (new connections, no cookie), after a write to
   the database (so the fleet is read again), on a bot not viewed before (its figures read).
2. Writes with 0 and with 10 watchers: 100 bots in a writer process of their own open a trade,
   close it (close_trade) and heartbeat, pausing `--pause` s between writes, for `--seconds`
   per round; each write's latency is timed in that process. Watchers are SSE clients in this
   process that do what the page does on every `changes` event: refetch /api/fleet, and their
   bot's page and trades when the event names it, at most every 300 ms (the page's throttle);
   each watches a different bot. Rounds alternate 0 / 10 watchers (rotated), side by side on
   the same database and the same server; the table gives the write p99 of each and the ratio.
   p99 is the median of the rounds' (their range beside it: how noisy the machine is). The
   dashboard runs as users run it (`asyncstore dashboard`, so at --nice 10: it yields the CPU
   to the bots). Its CPU seconds per second of round are read from /proc (on PostgreSQL also
   those of the local server's processes, where its queries run); "event delay" is from a
   change's commit to its event reaching a watcher.
No threshold is asserted: figures are machine-dependent; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from asyncstore import Store, TradeRepository
from benchmarks.harness import CLOSING_COLUMNS, Table, free_port, full_trade_row, percentile
from benchmarks.postgres import fresh_database, server_reachable
from benchmarks.sizes import Sizes

LOADS = 7
WATCHERS = 10
PAGE_GAP_S = 0.3  # the page refreshes at most this often (asyncstore/dashboard/static/live.js)
SYMBOLS = [f"SYM{n}USDT" for n in range(20)]
_ASSET = re.compile(r'(?:href|src)="(static/[^"]+)"|from "\./([^"]+)"')


def bot_ids(count: int) -> list[str]:
    return [f"dash_bot_{n:03d}" for n in range(count)]


# --- the data ------------------------------------------------------------------------------


async def _trades(count: int, bots: list[str], now: datetime) -> AsyncIterator[dict[str, Any]]:
    start, span = now - timedelta(days=365), timedelta(days=365) - timedelta(hours=1)
    for n in range(count):
        row = full_trade_row(n, bots[n % len(bots)])
        entry = start + span * (n / count)
        is_open = n >= count - 3 * len(bots)
        status = "open" if is_open else ("cancelled" if n % 50 == 3 else "closed")
        row.update(
            symbol=SYMBOLS[(n * 7 + n // len(bots)) % len(SYMBOLS)],
            entry_logic_name=f"Entry{n % 5}",
            exit_logic_name=f"Exit{(n // 7) % 4}",
            status=status,
            entry_time=entry,
            buy_order_created=entry,
            buy_order_closed=entry,
            net_pnl=Decimal((n * 7919) % 20001 - 10000) / 100 + Decimal(n % 997) / 10**8,
        )
        if is_open:  # the exit half of the row is not there yet
            row.update(dict.fromkeys(set(CLOSING_COLUMNS) - {"status", "commission"}))
        else:
            exit_at = entry + timedelta(minutes=30)
            row.update(exit_time=exit_at, sell_order_created=exit_at, sell_order_closed=exit_at)
            if status == "cancelled":
                row.update(gross_pnl=None, net_pnl=None, pnl_percentage=None)
        yield row


async def fill(url: str, trades: int, bots: list[str]) -> float:
    """The database of the module docstring; returns the seconds it took."""
    started, now = time.perf_counter(), datetime.now(UTC)
    async with Store(url, bulk_chunk_rows=2000) as store:
        repo = TradeRepository(store)
        books = {"type": "paper", "current_balance": "10000", "total_pnl": "0"}
        await asyncio.gather(*(repo.create_bot_instance({"id": bot, **books}) for bot in bots))
        await repo.bulk_create_trades(_trades(trades, bots, now))

        async def metrics(bot: str) -> None:
            for n in range(50):
                at = now - timedelta(hours=50 - n)
                await repo.create_performance_metrics(
                    {"bot_id": bot, "sharpe_ratio": f"1.{n:02d}", "calculated_at": at}
                )
            await repo.heartbeat(bot)

        await asyncio.gather(*(metrics(bot) for bot in bots))
        if store.backend == "postgresql":
            await store.compact()  # VACUUM (ANALYZE): the planner's statistics, as autovacuum would
    return time.perf_counter() - started


# --- the dashboard process -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def dashboard(url: str) -> AsyncIterator[tuple[str, int]]:
    """`asyncstore dashboard` on a free port: (base URL, pid) once it listens."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCSTORE_")}
    command = [sys.executable, "-m", "asyncstore.cli", "dashboard", "--url", url]
    process = await asyncio.create_subprocess_exec(
        *command, "--port", str(port), env=env, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 120)
        if not line.startswith(b"asyncstore dashboard: http://"):
            raise RuntimeError(f"the dashboard did not start: {line!r}")
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of every process of a local PostgreSQL server (its backends run the queries)."""
    pids = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()]
    return sum(cpu_seconds(int(pid)) for pid in pids if _comm(pid) == "postgres")


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


# --- 1. the first load ---------------------------------------------------------------------


async def page_load(base: str, bot: str) -> dict[str, float]:
    """Seconds of one load as a browser makes it, with its parts."""
    limits = httpx.Limits(max_connections=6)  # a browser's connections per host
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as browser:
        started = time.perf_counter()
        index = await browser.get("/")
        index.raise_for_status()
        seen: set[str] = set()
        wave = _assets(index.text, "")
        while wave:  # what the browser finds in each answer, it asks for next
            seen |= wave
            paths = sorted(wave)
            answers = await asyncio.gather(*(browser.get(f"/{path}") for path in paths))
            wave = set()
            for path, answer in zip(paths, answers, strict=True):
                answer.raise_for_status()
                if path.endswith(".js"):
                    wave |= _assets(answer.text, "static/") - seen
        assets = time.perf_counter()
        fleet, page = await asyncio.gather(
            browser.get("/api/fleet"), browser.get(f"/api/bots/{bot}")
        )
        fleet.raise_for_status()
        page.raise_for_status()
        api = time.perf_counter()
        # The page then asks for the bot's first page of trades: timed apart.
        trades = await browser.get(f"/api/bots/{bot}/trades", params={"status": "closed"})
        trades.raise_for_status()
        done = time.perf_counter()
    return {"total": api - started, "api": api - assets, "trades": done - api}


def _assets(text: str, folder: str) -> set[str]:
    return {tag or f"{folder}{module}" for tag, module in _ASSET.findall(text)}


async def first_loads(url: str, base: str, bots: list[str]) -> dict[str, list[float]]:
    first = await page_load(base, bots[0])
    loads: dict[str, list[float]] = {"first": [first["total"]], "total": [], "api": []}
    loads["trades"] = []
    async with Store(url) as store:
        repo = TradeRepository(store)
        for n in range(1, LOADS + 1):
            await repo.heartbeat(bots[n])  # a write: the fleet is read again
            await asyncio.sleep(0.5)  # the change reaches the dashboard's feed meanwhile
            load = await page_load(base, bots[n])
            for part in ("total", "api", "trades"):
                loads[part].append(load[part])
    return loads


# --- 2. writes with and without watchers ---------------------------------------------------


async def writer(url: str, seconds: float, bots: list[str], pause: float) -> dict[str, Any]:
    """The bots' loop (run in its own process): open, close, heartbeat, each write timed."""
    latencies: list[float] = []
    async with Store(url) as store:
        repo = TradeRepository(store)
        deadline = time.monotonic() + seconds

        async def timed(call: Any) -> Any:
            started = time.perf_counter()
            result = await call
            latencies.append(time.perf_counter() - started)
            return result

        async def bot(n: int, bot_id: str) -> None:
            await asyncio.sleep(pause * n / len(bots))  # spread out, as real bots are
            while time.monotonic() < deadline:
                row = full_trade_row(n, bot_id)
                opened = {k: v for k, v in row.items() if k not in CLOSING_COLUMNS}
                trade = await timed(repo.create_trade(opened))
                await asyncio.sleep(pause)
                await timed(repo.close_trade(trade.id, {"exit_price": row["exit_price"]}))
                await timed(repo.heartbeat(bot_id))
                await asyncio.sleep(pause)

        await asyncio.gather(*(bot(n, bot_id) for n, bot_id in enumerate(bots)))
    return {
        "writes": len(latencies),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


async def run_writer(url: str, seconds: float, bots: int, pause: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.dashboard", "--writer", url]
    command += ["--seconds", str(seconds), "--bots", str(bots), "--pause", str(pause)]
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the writer failed ({process.returncode})")
    return dict(json.loads(out.decode().splitlines()[-1]))


class Watcher:
    """One browser on the page: its event stream, and the page's refreshes."""

    def __init__(self, base: str, bot: str) -> None:
        self.client = httpx.AsyncClient(base_url=base, timeout=60)
        self.bot = bot
        self.pending: set[str] | None = None
        self.wake = asyncio.Event()
        self.requests: list[float] = []
        self.delays: list[float] = []  # from a change's commit to its event here
        self.events = 0

    async def run(self) -> None:
        async with self.client, asyncio.TaskGroup() as tasks:
            tasks.create_task(self._listen())
            tasks.create_task(self._refresh())

    async def _listen(self) -> None:
        async with self.client.stream("GET", "/api/stream") as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    data = json.loads(line[6:])
                    self.events += 1
                    at = datetime.fromisoformat(data["at"])
                    self.delays.append((datetime.now(UTC) - at).total_seconds())
                    pending = self.pending if self.pending is not None else set()
                    pending |= {"*"} if data["resync"] else set(data["bots"])
                    self.pending = pending
                    self.wake.set()

    async def _refresh(self) -> None:
        last = 0.0
        while True:
            await self.wake.wait()
            await asyncio.sleep(max(0.0, last + PAGE_GAP_S - time.monotonic()))
            self.wake.clear()
            work, self.pending = self.pending or set(), None
            last = time.monotonic()
            calls = [self._get("/api/fleet")]
            if self.bot in work or "*" in work:
                calls.append(self._bot())
            await asyncio.gather(*calls)

    async def _bot(self) -> None:
        await self._get(f"/api/bots/{self.bot}")
        await self._get(f"/api/bots/{self.bot}/trades?status=closed&limit=50")

    async def _get(self, path: str) -> None:
        started = time.perf_counter()
        (await self.client.get(path)).raise_for_status()
        self.requests.append(time.perf_counter() - started)


async def write_rounds(
    url: str, base: str, pid: int, bots: list[str], args: argparse.Namespace
) -> dict[int, list[dict[str, Any]]]:
    order = [0, WATCHERS, WATCHERS, 0] * args.rounds
    results: dict[int, list[dict[str, Any]]] = {0: [], WATCHERS: []}
    for watchers in order[: 2 * args.rounds]:
        browsers = [Watcher(base, bot) for bot in bots[:watchers]]
        watching = [asyncio.create_task(browser.run()) for browser in browsers]
        cpu_before, database_before = cpu_seconds(pid), postgres_cpu_seconds()
        started, watchers_before = time.monotonic(), time.process_time()
        result = await run_writer(url, args.seconds, len(bots), args.pause)
        took = time.monotonic() - started
        result["dashboard_cpu"] = (cpu_seconds(pid) - cpu_before) / took
        result["postgres_cpu"] = (postgres_cpu_seconds() - database_before) / took
        result["watchers_cpu"] = (time.process_time() - watchers_before) / took
        for task in watching:
            task.cancel()
        await asyncio.gather(*watching, return_exceptions=True)
        requests = [seconds for browser in browsers for seconds in browser.requests]
        result["requests"] = len(requests)
        result["request_p99_ms"] = percentile(requests, 0.99) * 1000 if requests else 0.0
        result["events"] = sum(browser.events for browser in browsers)
        delays = [seconds for browser in browsers for seconds in browser.delays]
        result["event_p99_ms"] = percentile(delays, 0.99) * 1000 if delays else 0.0
        results[watchers].append(result)
        print(f"  {watchers} watchers: {result}", file=sys.stderr, flush=True)
    return results


# --- the tables ----------------------------------------------------------------------------


async def measure(label: str, url: str, args: argparse.Namespace, tables: list[Table]) -> None:
    bots = bot_ids(args.bots)
    filled = await fill(url, args.trades, bots)
    print(f"{label}: filled in {filled:.0f} s", file=sys.stderr, flush=True)
    async with dashboard(url) as (base, pid):
        loads = await first_loads(url, base, bots)
        rounds = await write_rounds(url, base, pid, bots, args)
    size = f"{args.trades:,} / {args.bots}"
    median_ms = [statistics.median(loads[part]) * 1000 for part in ("total", "api", "trades")]
    first, worst = loads["first"][0] * 1000, max(loads["total"]) * 1000
    tables[0].add(label, size, f"{first:.0f}", *(f"{ms:.0f}" for ms in median_ms[:1]),
                  f"{worst:.0f}", *(f"{ms:.0f}" for ms in median_ms[1:]))  # fmt: skip
    base_p99 = statistics.median(r["p99_ms"] for r in rounds[0])
    for watchers, results in rounds.items():

        def median(name: str) -> float:
            return statistics.median(float(r[name]) for r in results)  # noqa: B023

        p99, p99s = median("p99_ms"), [r["p99_ms"] for r in results]
        tables[1].add(
            label,
            size,
            str(watchers),
            f"{median('writes') / args.seconds:,.0f}",
            f"{median('p50_ms'):.2f}",
            f"{p99:.2f} ({min(p99s):.1f}-{max(p99s):.1f})",
            f"{p99 / base_p99:.2f}x",
            f"{median('request_p99_ms'):.0f}",
            f"{median('event_p99_ms'):.0f}",
            f"{median('dashboard_cpu'):.2f}",
            f"{median('postgres_cpu'):.2f}" if url.startswith("postgresql") else "-",
        )


def new_tables() -> list[Table]:
    loads = "backend, trades / bots, first after start, cold-ish median, max, of which API, "
    loads += "then trades page"
    writes = "backend, trades / bots, watchers, writes/s, p50 ms, p99 ms (rounds' range), "
    writes += "p99 ratio, "
    writes += "page request p99 ms, event delay p99 ms, dashboard CPU s/s, postgres CPU s/s"
    return [
        Table(
            "dashboard first load (index + assets + /api/fleet beside /api/bots/ID); "
            f"ms, cold-ish: median of {LOADS}",
            loads.split(", "),
        ),
        Table(
            f"bots' writes (open, close_trade, heartbeat) with 0 and {WATCHERS} watching browsers",
            writes.split(", "),
        ),
    ]


async def run(args: argparse.Namespace) -> list[Table]:
    tables = new_tables()
    if args.url:
        await measure(args.url.split(":", 1)[0].split("+")[0], args.url, args, tables)
        return tables
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="asyncstore-dashboard-") as folder:
            await measure("SQLite", f"sqlite+aiosqlite:///{folder}/dashboard.db", args, tables)
    if args.backend in ("postgresql", "both"):
        if not await server_reachable():
            tables[0].add("PostgreSQL", "-", "server unreachable", "-", "-", "-", "-")
        else:
            async with fresh_database() as url:
                await measure("PostgreSQL", url, args, tables)
    return tables


async def scenario(folder: Path, sizes: Sizes) -> Table:
    """`python -m benchmarks --only dashboard`: the quick size in --quick runs, else 1M trades;
    SQLite (PostgreSQL: python -m benchmarks.dashboard --backend both)."""
    quick = sizes == Sizes.for_mode(quick=True)
    args = argparse.Namespace(url=None, backend="sqlite", bots=100, pause=0.5)
    args.trades, args.seconds, args.rounds = (20_000, 4.0, 1) if quick else (1_000_000, 20.0, 2)
    first, writes = await run(args)
    print(first.render(), flush=True)
    return writes


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard", description=__doc__)
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--url", help="an empty database to use instead (SQLite or PostgreSQL)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per write round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each (0 and 10 watchers)")
    parser.add_argument("--pause", type=float, default=0.5, help="a bot's pause between writes")
    parser.add_argument("--quick", action="store_true", help="20,000 trades, 4 s rounds")
    parser.add_argument("--writer", help=argparse.SUPPRESS)  # the writer process's own mode
    args = parser.parse_args()
    if args.writer:
        result = asyncio.run(writer(args.writer, args.seconds, bot_ids(args.bots), args.pause))
        print(json.dumps(result))
        return
    if args.quick:
        args.trades, args.seconds, args.rounds = 20_000, 4.0, 1
    started = time.perf_counter()
    for table in asyncio.run(run(args)):
        print(table.render(), flush=True)
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
