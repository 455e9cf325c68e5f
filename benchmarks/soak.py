"""Soak run (not in CI): many bots writing and heartbeating for minutes under an optimizer load.

    python -m benchmarks.soak --bots 500 --seconds 600 [--postgresql] [--dashboard]

Every interval it prints RSS, the WAL file's size (SQLite) or the server connections of the
database (PostgreSQL), the writes and the p99 latencies of that interval (samples are dropped
after each interval, so RSS shows the store, not the measurement); at the end, the growth of
each, the worst interval p99 and the error count (which must be zero). Retention runs all along
(the optimizer's batches are pruned). `--dashboard`: an `asyncstore dashboard` process watches
the database, and a client reads its fleet page every second (its failures count as errors).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from asyncstore import Store, TradeRepository
from benchmarks.harness import BOT, LoopLag, free_port, percentile, row_stream, trade_row
from benchmarks.postgres import fresh_database


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _wal_mb(db: Path) -> float:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size / 1e6 if wal.exists() else 0.0


async def _server_connections(store: Store) -> float:
    rows = await store.fetch_all(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    )
    return float(rows[0][0])


async def _watch_dashboard(
    url: str, stop: asyncio.Event, errors: list[BaseException], pages: list[float]
) -> None:
    """An `asyncstore dashboard` process on the database, its fleet page read every second."""
    import httpx

    port = free_port()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asyncstore.cli", "dashboard", "--url", url, "--port", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    (await client.get("/api/fleet")).raise_for_status()
                    pages.append(time.perf_counter() - started)
                except httpx.ConnectError:
                    pass  # still starting
                except httpx.HTTPError as exc:
                    errors.append(exc)
                await asyncio.sleep(1.0)
    finally:
        child.terminate()
        await child.wait()


async def soak(
    bots: int, seconds: float, interval: float, url: str, db: Path | None, dashboard: bool
) -> int:
    names = [f"soak_bot_{n:04d}" for n in range(bots)]
    errors: list[BaseException] = []
    writes: list[float] = []
    beats: list[float] = []
    stop = asyncio.Event()
    async with Store(url) as store:
        await store.create_tables()
        repo = TradeRepository(store)
        for name in [*names, BOT]:
            await repo.create_bot_instance({"id": name, "type": "paper"})

        async def guarded(latencies: list[float], call: object) -> object:
            started = time.perf_counter()
            try:
                result = await call  # type: ignore[misc]
            except Exception as exc:  # counted, and the soak goes on
                errors.append(exc)
                return None
            latencies.append(time.perf_counter() - started)
            return result

        async def trading(bot_id: str) -> None:
            rng = random.Random(bot_id)
            while not stop.is_set():
                trade = await guarded(writes, repo.create_trade(trade_row(0, bot_id)))
                await asyncio.sleep(rng.uniform(0.5, 1.5))
                if trade is not None:
                    close = repo.close_trade(trade.id, {"exit_price": "50100"})  # type: ignore[attr-defined]
                    await guarded(writes, close)
                await asyncio.sleep(rng.uniform(0.5, 1.5))

        async def heartbeat(bot_id: str) -> None:
            await asyncio.sleep(random.random())
            while not stop.is_set():
                await guarded(beats, repo.heartbeat(bot_id))
                await asyncio.sleep(1.0)

        async def optimizer() -> None:
            while not stop.is_set():
                await guarded([], repo.bulk_create_trades(row_stream(50_000)))
                await repo.cleanup_old_data(days_to_keep=0)  # keep the file from growing forever

        tasks = [asyncio.create_task(trading(n)) for n in names]
        tasks += [asyncio.create_task(heartbeat(n)) for n in names]
        tasks.append(asyncio.create_task(optimizer()))
        pages: list[float] = []  # the dashboard's fleet page, each read's seconds
        if dashboard:
            tasks.append(asyncio.create_task(_watch_dashboard(url, stop, errors, pages)))

        async def log_size() -> float:  # SQLite: the WAL's MB; PostgreSQL: server connections
            return _wal_mb(db) if db is not None else await _server_connections(store)

        await asyncio.sleep(interval)  # warm-up: caches and pools reach their working size
        start_rss, start = _rss_mb(), time.monotonic()
        wal_peak = worst_write = worst_beat = worst_lag = 0.0
        total_writes = total_beats = 0
        print(
            f"{'t s':>6} {'RSS MB':>8} {'WAL MB' if db else 'conns':>8} {'writes':>8} "
            f"{'write p99 ms':>13} "
            f"{'beat p99 ms':>12} {'lag p99 ms':>11} {'errors':>7}",
            flush=True,
        )
        while time.monotonic() - start < seconds:
            writes.clear()
            beats.clear()
            async with LoopLag() as lag:
                await asyncio.sleep(interval)
            write_p99 = percentile(writes, 0.99) * 1000
            beat_p99 = percentile(beats, 0.99) * 1000
            lag_p99 = percentile(lag.samples, 0.99) * 1000
            worst_write, worst_beat = max(worst_write, write_p99), max(worst_beat, beat_p99)
            worst_lag = max(worst_lag, lag_p99)
            total_writes, total_beats = total_writes + len(writes), total_beats + len(beats)
            size = await log_size()
            wal_peak = max(wal_peak, size)
            print(
                f"{time.monotonic() - start:6.0f} {_rss_mb():8.1f} {size:8.1f} "
                f"{len(writes):8d} {write_p99:13.1f} {beat_p99:12.1f} {lag_p99:11.2f} "
                f"{len(errors):7d}",
                flush=True,
            )
        stop.set()
        await asyncio.gather(*tasks)
        if dashboard and not pages:
            errors.append(RuntimeError("the dashboard never served its fleet page"))
        print(
            f"\nsoak: {bots} bots, {seconds:.0f} s after a warm-up interval: {total_writes} "
            f"writes, {total_beats} heartbeats, {len(errors)} errors; RSS growth "
            f"{_rss_mb() - start_rss:.1f} MB; "
            f"{'WAL peak MB' if db else 'peak server connections'} {wal_peak:.1f}; "
            "worst interval p99: "
            f"write {worst_write:.1f} ms, heartbeat {worst_beat:.1f} ms, "
            f"loop lag {worst_lag:.2f} ms"
        )
    if dashboard:
        page_p99 = percentile(pages, 0.99) * 1000
        print(f"dashboard: {len(pages)} fleet pages read, p99 {page_p99:.1f} ms")
    for error in errors[:5]:
        print(f"error: {error!r}")
    return len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--bots", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--interval", type=float, default=60)
    parser.add_argument("--postgresql", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--dashboard", action="store_true", help="a dashboard process watching")
    args = parser.parse_args()
    failures = asyncio.run(_run(args))
    raise SystemExit(1 if failures else 0)


async def _run(args: argparse.Namespace) -> int:
    if args.postgresql:
        async with fresh_database() as url:
            return await soak(args.bots, args.seconds, args.interval, url, None, args.dashboard)
    with tempfile.TemporaryDirectory(prefix="asyncstore-soak-") as tmp:
        db = Path(tmp) / "soak.db"
        url = f"sqlite+aiosqlite:///{db}"
        return await soak(args.bots, args.seconds, args.interval, url, db, args.dashboard)


if __name__ == "__main__":
    main()
