"""Store lifecycle, configuration, and restart with data on a real file."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from asyncstore import (
    AsyncStoreError,
    ConfigurationError,
    InvalidDataError,
    NotFoundError,
    Store,
    StoreClosedError,
    StoreState,
    TradeRepository,
)
from asyncstore.postgres.raw_sql import numbered_placeholders
from tests.conftest import BOT_ID, open_store_with_bot, run_python, trade_data


async def test_states_and_double_close(db_url: str) -> None:
    store = Store(db_url)
    assert store.state is StoreState.UNOPENED
    with pytest.raises(StoreClosedError):
        await store.create_tables()
    await store.start()
    assert store.state is StoreState.OPENED
    await store.close()
    await store.close()  # a no-op
    assert store.state is StoreState.CLOSED
    with pytest.raises(StoreClosedError):
        await store.start()  # re-opening raises
    with pytest.raises(StoreClosedError):
        await TradeRepository(store).get_open_trades()
    with pytest.raises(StoreClosedError):
        await TradeRepository(store).heartbeat(BOT_ID)


async def test_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "trading.db"
    async with Store(f"sqlite+aiosqlite:///{path}") as store:
        await store.create_tables()
    assert path.is_file()


async def test_default_url_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCSTORE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/env.db")
    assert Store().path == tmp_path / "env.db"
    monkeypatch.delenv("ASYNCSTORE_DATABASE_URL")
    monkeypatch.chdir(tmp_path)
    store = Store()
    assert store.path == tmp_path / "db" / "trading.db"  # the spec's development location
    async with store:
        await store.create_tables()
    assert (tmp_path / "db" / "trading.db").is_file()


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("sqlite+aiosqlite:///:memory:", {}, "database file"),
        ("sqlite+aiosqlite://", {}, "database file"),
        ("mysql://localhost/x", {}, "unsupported"),
        ("postgresql+psycopg://localhost/x", {}, r"use postgresql\+asyncpg"),
        ("not a url", {}, "not a database URL"),
        ("bots/mybot.db", {}, r"for a SQLite file: sqlite\+aiosqlite:///bots/mybot.db"),
        ("sqlite+aiosqlite:///x.db", {"durability": "maybe"}, "durability"),
        ("sqlite+aiosqlite:///x.db", {"write_queue_size": 0}, "write_queue_size"),
        ("sqlite+aiosqlite:///x.db", {"no_such_option": 1}, "no_such_option"),
    ],
)
def test_bad_configuration(url: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Store(url, **options)


async def test_store_dropped_while_open_warns(db_url: str) -> None:
    store = Store(db_url)
    await store.start()
    try:
        with pytest.warns(ResourceWarning, match="never closed"):
            store.__del__()
    finally:
        await store.close()


async def test_unopened_store_dropped_does_not_warn(db_url: str) -> None:
    Store(db_url)
    gc.collect()  # filterwarnings=error would fail the test on a ResourceWarning


async def test_restart_keeps_open_trades_exactly(db_url: str) -> None:
    async with Store(db_url, durability="full") as store:
        await store.create_tables()
        repo = TradeRepository(store)
        await repo.create_bot_instance(
            {"id": BOT_ID, "type": "live", "current_balance": "1234.56789012"}
        )
        opened = [
            await repo.create_trade(trade_data(entry_price=f"{n}.00000001")) for n in range(5)
        ]
        await repo.update_trade(opened[0].id, {"status": "closed", "exit_price": "51000"})
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        assert await repo.get_open_trades(bot_id=BOT_ID) == [
            await repo.get_trade_by_id(t.id) for t in opened[1:]
        ]
        assert [t.entry_price for t in await repo.get_open_trades()] == [
            t.entry_price for t in opened[1:]
        ]
        bot = await repo.get_bot_instance(BOT_ID)
        assert bot is not None and str(bot.current_balance) == "1234.56789012"


@pytest.mark.sqlite_only  # reads the SQLite file itself
async def test_durability_setting_reaches_the_connection(db_url: str, db_path: Path) -> None:
    async with Store(db_url, durability="full") as store:
        await store.create_tables()
        report = await store.health()
        assert report.ok
    assert db_path.stat().st_size > 0  # noqa: ASYNC240  (a test's own check, not loop work)


async def test_opening_an_empty_database_creates_the_schema(db_url: str) -> None:
    # The spec's setup calls create_tables(); a bot that forgets it still finds its tables.
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        assert await repo.get_open_trades() == []
        with pytest.raises(NotFoundError):
            await repo.heartbeat(BOT_ID)


async def test_close_during_a_burst_reports_every_write_truthfully(db_url: str) -> None:
    # Few connections, many writers: close() begins while calls still wait for a connection.
    store, repo = await open_store_with_bot(db_url, pg_pool_size=2)
    calls = [asyncio.create_task(repo.create_trade(trade_data())) for _ in range(50)]
    await asyncio.sleep(0)
    await store.close()
    results = await asyncio.gather(*calls, return_exceptions=True)
    written = [r for r in results if not isinstance(r, BaseException)]
    assert all(isinstance(r, StoreClosedError) for r in results if isinstance(r, BaseException))
    async with Store(db_url) as reopened:  # every acknowledged write is there, and no other
        stored = {t.id for t in await TradeRepository(reopened).get_open_trades()}
    assert stored == {t.id for t in written}


async def test_fetch_all_placeholders_skip_quotes_and_comments(store: Store) -> None:
    # A `?` in a literal, a quoted identifier or a comment is text, on both backends.
    sql = """-- what? nothing
        SELECT ? AS "price?", '?' AS literal, /* nor ? */ ? AS second"""
    assert await store.fetch_all(sql, ("a", "b")) == [("a", "?", "b")]


async def test_fetch_all_takes_sqlalchemy_statements_with_named_values(store: Store) -> None:
    """A statement object is compiled for the Store's own dialect; a bind left without a value
    is an error naming it, never a silent NULL."""
    query = text("SELECT :bot AS bot, :symbol AS symbol")
    assert await store.fetch_all(query, {"bot": "b1", "symbol": "BTCUSDT"}) == [("b1", "BTCUSDT")]
    with pytest.raises(InvalidDataError, match=":symbol"):
        await store.fetch_all(query, {"bot": "b1"})


# What a caller might try in order to write through the read path, per backend: switch the
# protection off for the session first, then write.
_SWITCH_READ_ONLY_OFF = {
    "sqlite": "PRAGMA query_only = OFF",
    "postgresql": "SELECT set_config('default_transaction_read_only', 'off', false)",
}


async def test_reads_run_on_read_only_connections(db_url: str, backend: str) -> None:
    """`fetch_all` is the read path: a write there is refused on both backends, even after
    trying to switch the read-only mode off (one connection, so the attempt and the write meet
    on it), and writes never bypass the writer."""
    store, repo = await open_store_with_bot(db_url, read_pool_size=1, pg_pool_size=1)
    try:
        trade = await repo.create_trade(trade_data())
        with contextlib.suppress(AsyncStoreError):
            await store.fetch_all(_SWITCH_READ_ONLY_OFF[backend])
        writes = [
            "DELETE FROM trades",
            "UPDATE trades SET symbol = 'HACKED'",
            "INSERT INTO bot_instances (id, type, status) VALUES ('sneaky', 'paper', 'running')",
        ]
        for sql in writes:
            with pytest.raises(AsyncStoreError, match="read"):
                await store.fetch_all(sql)
        stored = await repo.get_trade_by_id(trade.id)
        assert stored is not None and stored.symbol == trade.symbol
        assert [bot.id for bot in await repo.get_bot_instances()] == [BOT_ID]
    finally:
        await store.close()


def test_numbered_placeholders_leave_dollar_quoted_text_alone() -> None:
    sql = "SELECT $$ ? $$, $fn$ '?' $fn$, ?, 'it''s ?', ?"
    assert numbered_placeholders(sql) == "SELECT $$ ? $$, $fn$ '?' $fn$, $1, 'it''s ?', $2"
    # A `$` inside an identifier starts no dollar quote.
    assert numbered_placeholders("SELECT a$b$ FROM t$b$ WHERE x = ?") == (
        "SELECT a$b$ FROM t$b$ WHERE x = $1"
    )


async def test_using_a_store_before_opening_it_says_how_to_open_it(db_url: str) -> None:
    repo = TradeRepository(Store(db_url))
    for call in (repo.heartbeat(BOT_ID), repo.get_open_trades()):
        with pytest.raises(StoreClosedError, match=r"not open yet.*async with Store\(\.\.\.\)"):
            await call


def test_postgresql_without_asyncpg_says_how_to_install_it(tmp_path: Path) -> None:
    # A real process in which asyncpg cannot be imported, as after `pip install asyncstore`
    # without the postgresql extra: a one-line error naming the extra, for the API and the CLI.
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    program = f"""
import asyncio, sys
sys.modules["asyncpg"] = None  # what an environment without asyncpg looks like to imports
from asyncstore import ConfigurationError, Store
from asyncstore.cli import main

async def open_store() -> None:
    async with Store({url!r}):
        pass

try:
    asyncio.run(open_store())
except ConfigurationError as exc:
    print("API:", exc)
print("CLI exit:", main(["summary", "--url", {url!r}]))
"""
    done = run_python(program)
    hint = "pip install 'asyncstore[postgresql]'"
    assert (
        f"API: PostgreSQL needs the asyncpg driver, which is not installed: {hint}" in done.stdout
    )
    assert "CLI exit: 1" in done.stdout, done.stderr
    assert hint in done.stderr and "Traceback" not in done.stderr


@pytest.mark.sqlite_only  # files that are not databases
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: path.write_bytes(b"not a database, " * 64), "file is not a database"),
        (lambda path: path.mkdir(), "unable to open database file"),
    ],
)
async def test_a_file_that_cannot_be_a_database_is_a_configuration_error(
    db_path: Path, make: Callable[[Path], object], reason: str
) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    make(db_path)
    with pytest.raises(ConfigurationError, match=f"cannot open the SQLite database .*{reason}"):
        await Store(f"sqlite+aiosqlite:///{db_path}").start()


async def test_reports_and_warnings_never_show_the_password(pg_url: str) -> None:
    # The test server trusts local connections, so any password gets in.
    url = make_url(pg_url).set(password="s3cret-pw").render_as_string(hide_password=False)
    store = Store(url)
    await store.start()
    try:
        assert "s3cret-pw" not in (await store.health()).database
        with pytest.warns(ResourceWarning) as warned:
            store.__del__()
        assert "s3cret-pw" not in str(warned[0].message) and "***" in str(warned[0].message)
    finally:
        await store.close()
