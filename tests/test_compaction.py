"""Compaction: deleted rows' space given back while bots write, and the one-time conversion of
a SQLite file created with auto_vacuum NONE, which needs the database to itself."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from asyncstore import DatabaseInUseError, InvalidDataError, Store, TradeRepository
from asyncstore.config import load_settings
from asyncstore.operations import compact_database
from asyncstore.reports import CompactReport
from tests.conftest import BOT_ID, rows_in, run_cli, trade_data, wait_until

BOTS = 50
OLD_TRADES = 6000  # ~1,500 pages of 4 KiB once deleted


def _pragma(path: Path, name: str) -> Any:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]


def _file_bytes(path: Path) -> int:
    return path.stat().st_size


def _old_closed_trade(n: int) -> dict[str, Any]:
    entered = datetime.now(UTC) - timedelta(days=200)
    return trade_data(
        entry_time=entered,
        status="closed",
        exit_price="50100.5",
        exit_time=entered + timedelta(hours=1),
        net_pnl=f"{n % 97}.125",
        extra_metadata={"grid": n, "note": "x" * 200},
    )


async def _database_with_deleted_rows(db_url: str) -> None:
    """A database where OLD_TRADES closed trades were written and then cleaned up."""
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "optimization"})
        await repo.bulk_create_trades([_old_closed_trade(n) for n in range(OLD_TRADES)])
        assert await repo.cleanup_old_data(days_to_keep=90) == OLD_TRADES


async def _bot(repo: TradeRepository, bot_id: str, running: asyncio.Event) -> int:
    """Opens trades and heartbeats until `running` is cleared (at least 3 rounds)."""
    await repo.create_bot_instance({"id": bot_id, "type": "paper", "status": "running"})
    rounds = 0
    while running.is_set() or rounds < 3:
        await repo.create_trade(trade_data(bot_id=bot_id))
        await repo.heartbeat(bot_id)
        rounds += 1
        # A busy bot, not a flat-out loop: 50 of them flat out write megabytes a second, as
        # much as the compaction frees, and the file's size would say nothing about it.
        await asyncio.sleep(0.01)
    return rounds


async def _while_bots_write(
    store: Store, work: Callable[[], Awaitable[Any]]
) -> tuple[Any, list[int]]:
    """Run `work` while BOTS bot coroutines write through `store`; every bot write must succeed
    (gather re-raises the first failure). Returns work's result and each bot's rounds."""
    repo = TradeRepository(store)
    running = asyncio.Event()
    running.set()
    bots = [asyncio.create_task(_bot(repo, f"bot_{i:02d}", running)) for i in range(BOTS)]
    try:
        await wait_until(lambda: store.write_stats.operations > 2 * BOTS)  # all are trading
        result = await work()
    finally:
        running.clear()
        rounds = await asyncio.gather(*bots)
    return result, rounds


async def _assert_bots_rows(store: Store, rounds: list[int]) -> None:
    assert await rows_in(store, "trades") == sum(rounds)  # the old trades are gone
    assert await rows_in(store, "bot_instances") == BOTS + 1
    beats = await store.fetch_all(
        "SELECT count(*) FROM bot_instances WHERE last_heartbeat IS NOT NULL"
    )
    assert beats == [(BOTS,)]


@pytest.mark.sqlite_only
async def test_new_databases_can_be_compacted_online(db_url: str, db_path: Path) -> None:
    async with Store(db_url):
        pass
    assert _pragma(db_path, "auto_vacuum") == 2  # INCREMENTAL


@pytest.mark.sqlite_only
async def test_compaction_while_50_bots_write_frees_the_pages_and_loses_nothing(
    db_url: str, db_path: Path
) -> None:
    await _database_with_deleted_rows(db_url)
    size_before = _file_bytes(db_path)
    async with Store(db_url) as store:
        report, rounds = await _while_bots_write(store, lambda: store.compact(step_pages=32))
        assert isinstance(report, CompactReport) and report.method == "incremental"
        await _assert_bots_rows(store, rounds)
    assert report.free_pages_before is not None and report.free_pages_before > 1000
    assert report.free_pages_after == 0
    # Many short transactions, not one (bots' inserts reuse some free pages meanwhile).
    assert report.steps >= 10
    assert report.bytes_freed > 0
    assert _file_bytes(db_path) < size_before  # measured here too, not only reported
    assert _pragma(db_path, "integrity_check") == "ok"
    assert _pragma(db_path, "freelist_count") == 0


@pytest.mark.sqlite_only
async def test_asyncstore_compact_in_another_process_while_50_bots_write(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    # The command runs its own Store in its own process: its steps and the bots' writer take
    # turns on SQLite's write lock (busy_timeout).
    await _database_with_deleted_rows(db_url)

    async def command() -> dict[str, Any]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "asyncstore.cli",
            "compact",
            "--json",
            "--step-pages",
            "32",
            "--url",
            db_url,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await process.communicate()
        assert process.returncode == 0
        return dict(json.loads(out))

    async with Store(db_url) as store:
        report, rounds = await _while_bots_write(store, command)
        await _assert_bots_rows(store, rounds)
    assert report["method"] == "incremental" and report["free_pages_after"] == 0
    assert report["bytes_freed"] == report["bytes_before"] - report["bytes_after"] > 0
    assert _pragma(db_path, "integrity_check") == "ok"


async def _old_style_database(db_url: str, db_path: Path) -> None:
    """A database as asyncstore created them before: auto_vacuum NONE, with free pages."""
    async with Store(db_url):
        pass
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        conn.execute("PRAGMA auto_vacuum = NONE")
        conn.execute("VACUUM")
    await _database_with_deleted_rows(db_url)
    assert _pragma(db_path, "auto_vacuum") == 0


@pytest.mark.sqlite_only
async def test_a_database_created_before_is_converted_only_when_no_store_has_it_open(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    await _old_style_database(db_url, db_path)
    free_before = _pragma(db_path, "freelist_count")
    settings = load_settings(db_url, {})
    async with Store(db_url) as store:
        await TradeRepository(store).create_trade(trade_data())
        with pytest.raises(DatabaseInUseError, match="auto_vacuum NONE.*asyncstore compact"):
            await store.compact()
        with pytest.raises(DatabaseInUseError, match="stop the bots"):
            await compact_database(settings)
        refused = run_cli(tmp_path, "compact", "--url", db_url)
        assert refused.returncode == 1 and "full VACUUM" in refused.stderr
    assert _pragma(db_path, "auto_vacuum") == 0  # refused means untouched
    assert _pragma(db_path, "freelist_count") == free_before > 1000

    report = await compact_database(settings)
    assert report.method == "vacuum" and report.free_pages_after == 0
    assert report.bytes_freed > 0 and report.bytes_after == _file_bytes(db_path)
    assert _pragma(db_path, "auto_vacuum") == 2
    assert _pragma(db_path, "integrity_check") == "ok"
    async with Store(db_url) as store:
        assert await rows_in(store) == 1
        assert (await store.compact()).method == "incremental"  # online from now on


@pytest.mark.sqlite_only
def test_the_compact_command_prints_what_it_freed(db_path: Path, tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{db_path}"
    asyncio.run(_database_with_deleted_rows(db_url))
    done = run_cli(tmp_path, "compact", "--url", db_url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"compacted {db_path} (incremental)"
    assert lines[1].startswith("size: ") and "MiB freed" in lines[1]
    assert any(line.startswith("free pages: ") and line.split()[4] == "0" for line in lines)
    assert any(line.startswith("checkpoint: ") for line in lines)
    bad = run_cli(tmp_path, "compact", "--step-pages", "0", "--url", db_url)
    assert bad.returncode == 2 and "pages >= 1" in bad.stderr


async def test_step_pages_must_be_a_positive_whole_number(store: Store) -> None:
    for wrong in (0, -1, 1.5, True, "8"):
        with pytest.raises(InvalidDataError, match="step_pages"):
            await store.compact(step_pages=wrong)  # type: ignore[arg-type]


async def test_postgresql_compact_vacuums_the_tables_beside_bots_and_reports(
    pg_url: str, tmp_path: Path
) -> None:
    import asyncpg

    await _database_with_deleted_rows(pg_url)
    async with Store(pg_url) as store:
        report, rounds = await _while_bots_write(store, store.compact)
        await _assert_bots_rows(store, rounds)
    assert report.method == "postgresql vacuum" and report.steps == 4
    assert report.bytes_before > 0 and report.bytes_after > 0
    assert report.free_pages_before is None and report.log_bytes_after is None
    assert any("end" in note for note in report.notes)  # says what VACUUM cannot give back
    conn = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        vacuumed = (
            "SELECT count(*) FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL "
            "AND last_analyze IS NOT NULL AND relname IN "
            "('trades', 'bot_instances', 'performance_metrics', 'bot_activity')"
        )

        async def all_four() -> bool:
            return bool(await conn.fetchval(vacuumed) == 4)

        await wait_until(all_four)
    finally:
        await conn.close()
    done = run_cli(tmp_path, "compact", "--json", "--url", pg_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["method"] == "postgresql vacuum"
