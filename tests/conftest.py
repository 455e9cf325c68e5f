"""Fixtures: every test gets its own real SQLite file under tmp_path, closed when the test ends."""

from __future__ import annotations

import asyncio
import inspect
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from asyncstore import Store, TradeRepository
from asyncstore.write_queue import WriteQueue

BOT_ID = "my_bot_001"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db" / "trading.db"


BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses `db_url` (or `store`, `repo`, …) runs on both backends, unless it is
    marked sqlite_only (it checks the SQLite file itself, or SQLite's single writer)."""
    if "backend" in metafunc.fixturenames:
        sqlite_only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("backend", BACKENDS[:1] if sqlite_only else BACKENDS)


@pytest.fixture
async def db_url(backend: str, db_path: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{db_path}"
    else:
        async with fresh_postgres_database() as url:
            yield url


PG_SERVER = os.environ.get("ASYNCSTORE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database on the test server, dropped afterwards.

    Without a server the test skips, saying how to start one; in CI (CI set) it fails instead:
    CI must run the PostgreSQL tests for real.
    """
    import asyncpg

    try:
        admin = await asyncpg.connect(PG_SERVER, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        reason = (
            f"no PostgreSQL server at {PG_SERVER} ({exc}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"asyncstore_test_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(PG_SERVER).set(drivername="postgresql+asyncpg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_postgres_database() as url:
        yield url


async def rows_in(store: Store, table: str = "trades") -> int:
    """Count through the Store's own read path: what is committed, on either backend."""
    ((count,),) = await store.fetch_all(f"SELECT count(*) FROM {table}")
    return int(count)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    async with Store(db_url) as opened:
        await opened.create_tables()
        yield opened


async def open_store_with_bot(db_url: str, **options: Any) -> tuple[Store, TradeRepository]:
    """A started Store (the test closes it) with the schema and the bot BOT_ID."""
    store = Store(db_url, **options)
    await store.start()
    await store.create_tables()
    repo = TradeRepository(store)
    await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
    return store, repo


@pytest.fixture
async def repo(store: Store) -> TradeRepository:
    return TradeRepository(store)


@pytest.fixture
async def bot(repo: TradeRepository) -> str:
    await repo.create_bot_instance(
        {"id": BOT_ID, "type": "paper", "status": "running", "current_balance": 1000.0}
    )
    return BOT_ID


def trade_data(**overrides: Any) -> dict[str, Any]:
    """The spec's example trade (DESIGN §3), with any field overridden."""
    data: dict[str, Any] = {
        "bot_id": BOT_ID,
        "trade_type": "paper",
        "entry_logic_name": "RSIBBVolumeEntryMixin",
        "exit_logic_name": "ATRExitMixin",
        "symbol": "BTCUSDT",
        "interval": "1h",
        "entry_time": datetime.now(UTC),
        "entry_price": 50000.0,
        "size": 0.1,
        "direction": "long",
        "status": "open",
    }
    data.update(overrides)
    # A closed trade as a bot writes it (the lifecycle rules want an exit price, and an exit
    # no earlier than the entry): tests that age a trade by its exit_time move its entry too.
    if data["status"] == "closed" and "exit_price" not in overrides:
        data["exit_price"] = 50500.0
    exit_time = overrides.get("exit_time")
    aware = isinstance(exit_time, datetime) and exit_time.utcoffset() is not None
    if aware and "entry_time" not in overrides:
        data["entry_time"] = min(data["entry_time"], exit_time)
    return data


def run_python(program: str) -> subprocess.CompletedProcess[str]:
    """`python -c PROGRAM` as a real process: what a user's own script prints and exits with."""
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False
    )


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`asyncstore ARGS` as a real process in `cwd`, with no ASYNCSTORE_* settings inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCSTORE_")}
    return subprocess.run(
        [sys.executable, "-m", "asyncstore.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def count_rows(db_path: Path, table: str = "trades") -> int:
    """Count straight from the file with a separate connection: what is really committed."""
    with sqlite3.connect(db_path) as conn:
        (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    conn.close()
    return int(count)


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], limit_s: float = 10.0
) -> None:
    """Yield to the loop until `predicate()` holds (it may be a query to await); fail the test
    if it never does."""
    deadline = time.monotonic() + limit_s
    while not await _holds(predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached within the timeout")
        await asyncio.sleep(0.001)


async def _holds(outcome: bool | Awaitable[bool]) -> bool:
    return bool(await outcome) if inspect.isawaitable(outcome) else bool(outcome)


def queue_depth(store: Store) -> int:
    """Writes accepted and not yet taken into a batch."""
    return store.write_queue_depth


def writer_queue(store: Store) -> WriteQueue:
    """The SQLite Store's write queue itself (for tests that stop its task)."""
    writer = store._backend._writer  # type: ignore[attr-defined]
    assert isinstance(writer, WriteQueue)
    return writer


async def writer_took_everything(store: Store, accepted: int) -> None:
    """Wait until `accepted` more ops were queued since the last batch and all were taken."""
    target = store.write_stats.operations + accepted
    await wait_until(lambda: store.write_stats.accepted >= target and queue_depth(store) == 0)


@contextmanager
def write_lock_held(db_path: Path) -> Iterator[sqlite3.Connection]:
    """Hold the SQLite write lock from another connection, as another process would.

    The Store's writer then blocks in BEGIN IMMEDIATE (busy_timeout) with the batch it took, which
    lets a test line up operations behind it deterministically.
    """
    blocker = sqlite3.connect(db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        yield blocker
    finally:
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name any non-daemon thread still alive: it would keep this pytest process from exiting."""
    lingering = [
        t.name
        for t in threading.enumerate()
        if t is not threading.main_thread() and not t.daemon and t.is_alive()
    ]
    if lingering:
        terminalreporter.write_line(f"threads still alive at exit: {', '.join(lingering)}")
