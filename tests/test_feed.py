"""The change feed (`Store.changes()`): every committed change, only after COMMIT, once, from
this process's writer and from other processes (SQLite: data_version + change log; PostgreSQL:
LISTEN/NOTIFY), on both backends."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from asyncstore import (
    Change,
    DatabaseUnavailableError,
    DuplicateError,
    LifecycleError,
    Store,
    TradeRepository,
)
from asyncstore.feed import ChangeHub, ChangeStream
from asyncstore.feed.change import changes_of
from tests.conftest import BOT_ID, fresh_postgres_database, trade_data

WAIT_S = 20.0  # a bound on every wait: a change that never comes fails the test, never hangs


async def take(feed: ChangeStream, count: int) -> list[Change]:
    """The next `count` changes (failing after WAIT_S)."""

    async def read() -> list[Change]:
        got: list[Change] = []
        async for change in feed:
            got.append(change)
            if len(got) == count:
                break
        return got

    return await asyncio.wait_for(read(), WAIT_S)


async def take_until(feed: ChangeStream, done: Callable[[Change], bool]) -> list[Change]:
    """Changes up to and including the first one `done` accepts."""

    async def read() -> list[Change]:
        got: list[Change] = []
        async for change in feed:
            got.append(change)
            if done(change):
                break
        return got

    return await asyncio.wait_for(read(), WAIT_S)


def brief(changes: list[Change]) -> list[tuple[str, str, str | None, str | None, int]]:
    return [(c.table, c.operation, c.row_id, c.bot_id, c.count) for c in changes]


async def test_each_write_is_announced_after_its_commit(store: Store) -> None:
    repo = TradeRepository(store)
    async with store.changes() as feed:
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper", "current_balance": "100"})
        await repo.heartbeat(BOT_ID)
        trade = await repo.create_trade(trade_data(entry_price="10", size="1"))
        await repo.update_trade(trade.id, {"exit_reason": "target"})
        await repo.close_trade(trade.id, {"exit_price": "12"})
        changes = await take(feed, 6)
    assert brief(changes) == [
        ("bot_instances", "insert", BOT_ID, BOT_ID, 1),
        ("bot_instances", "update", BOT_ID, BOT_ID, 1),
        ("trades", "insert", trade.id, BOT_ID, 1),
        ("trades", "update", trade.id, BOT_ID, 1),
        # close_trade: the trade and its bot's books, in one transaction
        ("trades", "update", trade.id, BOT_ID, 1),
        ("bot_instances", "update", BOT_ID, BOT_ID, 1),
    ]
    assert changes[4].committed_at == changes[5].committed_at
    assert all(c.committed_at.tzinfo is not None for c in changes)


async def test_a_change_is_readable_when_it_arrives(store: Store) -> None:
    """Delivered only after COMMIT: whoever hears of a row can read it at once."""
    repo = TradeRepository(store)
    await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
    async with store.changes() as feed:
        writes = [asyncio.ensure_future(repo.create_trade(trade_data())) for _ in range(50)]
        for change in await take(feed, 50):
            rows = await store.fetch_all("SELECT id FROM trades WHERE id = ?", [change.row_id])
            assert rows == [(change.row_id,)]
        await asyncio.gather(*writes)


async def test_failed_writes_are_not_announced(store: Store) -> None:
    repo = TradeRepository(store)
    await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
    trade = await repo.create_trade(trade_data(status="cancelled"))
    async with store.changes() as feed:
        # In one group commit: a duplicate, a refused reopen, and two good writes.
        outcomes = await asyncio.gather(
            repo.create_bot_instance({"id": BOT_ID, "type": "paper"}),
            repo.update_trade(trade.id, {"status": "open"}),
            repo.create_bot_instance({"id": "other", "type": "live"}),
            repo.heartbeat(BOT_ID),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], DuplicateError)
        assert isinstance(outcomes[1], LifecycleError)
        marker = await repo.create_bot_instance({"id": "marker", "type": "paper"})
        changes = await take_until(feed, lambda c: c.row_id == marker.id)
    assert sorted(brief(changes)) == sorted(
        [
            ("bot_instances", "insert", "other", "other", 1),
            ("bot_instances", "update", BOT_ID, BOT_ID, 1),
            ("bot_instances", "insert", "marker", "marker", 1),
        ]
    )


async def test_atomic_units_announce_all_or_nothing(store: Store) -> None:
    repo = TradeRepository(store)
    await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
    async with store.changes() as feed:
        with pytest.raises(DuplicateError):
            async with repo.atomic() as unit:
                unit.create_trade(trade_data())
                unit.create_bot_instance({"id": BOT_ID, "type": "paper"})  # fails at COMMIT
        async with repo.atomic() as unit:
            first = unit.create_trade(trade_data())
            second = unit.create_trade(trade_data())
            unit.heartbeat(BOT_ID)
        changes = await take(feed, 3)
    assert brief(changes) == [
        ("trades", "insert", first.id, BOT_ID, 1),
        ("trades", "insert", second.id, BOT_ID, 1),
        ("bot_instances", "update", BOT_ID, BOT_ID, 1),
    ]
    assert len({c.committed_at for c in changes}) == 1


async def test_bulk_writes_are_one_change_per_bot_and_chunk(db_url: str) -> None:
    async with Store(db_url, bulk_chunk_rows=1000) as store:
        await _bulk_writes(store)


async def _bulk_writes(store: Store) -> None:
    repo = TradeRepository(store)
    for bot in ("a", "b"):
        await repo.create_bot_instance({"id": bot, "type": "optimization"})
    rows = [trade_data(bot_id="ab"[n % 2], trade_type="optimization") for n in range(3000)]
    async with store.changes() as feed:
        assert await repo.bulk_create_trades(rows) == 3000
        inserted = await take(feed, 6)  # 3 chunks x 2 bots
        assert {c.operation for c in inserted} == {"insert"}
        assert {c.row_id for c in inserted} == {None}
        assert sum(c.count for c in inserted if c.bot_id == "a") == 1500
        assert sum(c.count for c in inserted if c.bot_id == "b") == 1500
        ids = [row[0] for row in await store.fetch_all("SELECT id FROM trades LIMIT 10")]
        assert await repo.bulk_update_trades([(i, {"exit_reason": "x"}) for i in ids]) == 10
        (updated,) = await take(feed, 1)
        assert (updated.table, updated.operation, updated.count) == ("trades", "update", 10)


async def test_cleanup_announces_its_deletes(store: Store) -> None:
    repo = TradeRepository(store)
    await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
    old = datetime.now(UTC) - timedelta(days=400)
    await repo.bulk_create_trades(
        [trade_data(status="closed", exit_price="1", entry_time=old, exit_time=old)] * 25
    )
    async with store.changes() as feed:
        assert await repo.cleanup_old_data(days_to_keep=30) == 25
        changes = await take(feed, 1)
    assert brief(changes) == [("trades", "delete", None, None, 25)]


async def test_another_process_s_writes_arrive_once(db_url: str) -> None:
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        async with store.changes() as feed:
            await repo.create_bot_instance({"id": "mine", "type": "paper"})
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.processes.feed_writer",
                db_url,
                "theirs",
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await asyncio.wait_for(child.communicate(), 60)
            assert child.returncode == 0
            trade_id = orjson.loads(out)["trade_id"]
            changes = await take(feed, 6)
            await repo.heartbeat("mine")
            (last,) = await take(feed, 1)
    assert brief(changes) == [
        ("bot_instances", "insert", "mine", "mine", 1),  # once, though both sources saw it
        ("bot_instances", "insert", "theirs", "theirs", 1),
        ("bot_instances", "update", "theirs", "theirs", 1),
        ("trades", "insert", trade_id, "theirs", 1),
        ("trades", "update", trade_id, "theirs", 1),  # close_trade: the trade and its bot
        ("bot_instances", "update", "theirs", "theirs", 1),
    ]
    assert changes[-1].committed_at == changes[-2].committed_at
    assert brief([last]) == [("bot_instances", "update", "mine", "mine", 1)]


def _feed_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "asyncstore-feed"]


async def _listeners(store: Store) -> int:
    ((count,),) = await store.fetch_all(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'asyncstore-feed'"
    )
    return int(count)


async def test_the_watcher_runs_only_while_someone_listens(store: Store) -> None:
    assert _feed_threads() == []
    first = store.changes()
    second = store.changes()
    await first.ready()
    await second.ready()
    if store.backend == "sqlite":
        assert len(_feed_threads()) == 1  # one watcher for every subscriber
    else:
        assert await _listeners(store) == 1
    await first.aclose()
    if store.backend == "sqlite":
        assert len(_feed_threads()) == 1
    await second.aclose()
    if store.backend == "sqlite":
        assert _feed_threads() == []
    else:
        assert await _listeners(store) == 0


async def test_streams_end_when_the_store_closes(db_url: str) -> None:
    store = Store(db_url)
    await store.start()
    repo = TradeRepository(store)
    feed = store.changes()
    await feed.ready()
    reading = asyncio.ensure_future(take(feed, 1000))
    pending = asyncio.ensure_future(repo.create_bot_instance({"id": BOT_ID, "type": "paper"}))
    await asyncio.sleep(0)  # the write is accepted (queued) before the close begins
    await store.close()
    await pending
    got = await reading  # ended, not hanging; the last commit was still delivered
    assert brief(got) == [("bot_instances", "insert", BOT_ID, BOT_ID, 1)]
    assert _feed_threads() == []


async def test_a_subscriber_that_falls_behind_is_told_to_resync() -> None:
    hub = ChangeHub(lambda publish: _NoWatcher(), backlog=10)
    stream = hub.subscribe()
    at = datetime.now(UTC)
    hub.publish_notes([("trades", "insert", str(n), "b", 1) for n in range(8)], at)
    hub.publish_notes([("trades", "insert", str(n), "b", 1) for n in range(8)], at)  # 16 > 10
    hub.publish(changes_of([("trades", "insert", "late", "b", 1)], at))
    got = await take(stream, 2)
    assert [(c.operation, c.row_id) for c in got] == [("resync", None), ("insert", "late")]
    await hub.close()


class _NoWatcher:
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


@pytest.mark.sqlite_only
async def test_the_change_log_stays_bounded_and_a_lagging_reader_resyncs(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncstore.sqlite.feed as sqlite_feed

    monkeypatch.setattr(sqlite_feed, "KEEP_COMMITS", 20)
    monkeypatch.setattr(sqlite_feed, "PRUNE_EVERY", 8)
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        for _ in range(100):
            await repo.heartbeat(BOT_ID)
        ((rows, first, last),) = await store.fetch_all(
            "SELECT count(*), min(seq), max(seq) FROM change_log"
        )
        assert last == 101 and rows <= 20 + 8 and first == last - rows + 1
        # A watcher whose watermark (seq 1) is older than what was pruned: one resync first,
        # then what is left, each once.
        assert store.path is not None
        published: list[Change] = []
        watcher = sqlite_feed.SQLiteChangeWatcher(store.path, "another origin", published.extend)
        conn = sqlite3.connect(store.path)
        try:
            loop = asyncio.get_running_loop()
            assert watcher._read_after(conn, loop, 1) == 101
        finally:
            conn.close()
        await asyncio.sleep(0)  # the thread-safe callbacks run
    assert published[0].operation == "resync"
    assert [c.operation for c in published[1:]] == ["update"] * rows


async def test_a_lost_listen_connection_comes_back_with_a_resync() -> None:
    async with fresh_postgres_database() as db_url:
        await _listen_again(db_url)


async def _listen_again(db_url: str) -> None:
    async with Store(db_url) as store, Store(db_url) as other, store.changes() as feed:
        import asyncpg

        admin = await asyncpg.connect(db_url.replace("+asyncpg", ""))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'asyncstore-feed' AND datname = current_database()"
            )
        finally:
            await admin.close()
        assert killed == 1
        (told,) = await take(feed, 1)
        assert told.operation == "resync"
        await TradeRepository(other).create_bot_instance({"id": "after", "type": "paper"})
        (after,) = await take(feed, 1)
    assert brief([after]) == [("bot_instances", "insert", "after", "after", 1)]


@pytest.mark.sqlite_only
async def test_a_watcher_that_cannot_start_leaves_no_listener_behind(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncstore.sqlite.feed as sqlite_feed

    real = sqlite_feed.read_only_connection
    failures = iter([sqlite3.OperationalError("unable to open database file")])

    def failing_once(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
        for failure in failures:
            raise failure
        return real(path, busy_timeout_ms)

    monkeypatch.setattr(sqlite_feed, "read_only_connection", failing_once)
    async with Store(db_url) as store:
        with pytest.raises(DatabaseUnavailableError, match="cannot watch"):
            async with store.changes():
                pass
        assert _feed_threads() == []
        async with store.changes() as feed:  # the next subscriber starts afresh
            await TradeRepository(store).create_bot_instance({"id": BOT_ID, "type": "paper"})
            (change,) = await take(feed, 1)
            assert change.row_id == BOT_ID
        assert _feed_threads() == []


@pytest.mark.sqlite_only
async def test_a_stream_dropped_without_aclose_stops_listening(db_url: str) -> None:
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        feed = store.changes()
        await feed.ready()
        await repo.heartbeat(BOT_ID)
        async for _ in feed:
            break  # left without aclose()
        del feed
        (watcher,) = [t for t in threading.enumerate() if t.name == "asyncstore-feed"]
        await repo.heartbeat(BOT_ID)  # the next commit finds nobody listening
        await asyncio.to_thread(watcher.join, WAIT_S)
        assert not watcher.is_alive()


@pytest.mark.sqlite_only
async def test_a_change_log_row_of_another_making_is_a_resync_not_a_dead_watcher(
    db_url: str,
) -> None:
    async with Store(db_url) as store, Store(db_url) as other:
        assert store.path is not None
        async with store.changes() as feed:
            with contextlib.closing(sqlite3.connect(store.path)) as tool, tool:
                tool.execute(
                    "INSERT INTO change_log (committed_at, origin, changes) "
                    "VALUES ('yesterday', 'a tool', 'not json')"
                )
            (told,) = await take(feed, 1)
            assert told.operation == "resync"
            await TradeRepository(other).create_bot_instance({"id": "later", "type": "paper"})
            (later,) = await take(feed, 1)
    assert brief([later]) == [("bot_instances", "insert", "later", "later", 1)]


async def test_an_insert_that_skipped_duplicates_announces_what_went_in(store: Store) -> None:
    repo = TradeRepository(store)
    await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
    first = await repo.create_trade(trade_data())
    rows = [trade_data(id=first.id), trade_data(), trade_data()]
    async with store.changes() as feed:
        assert await repo.bulk_create_trades(rows, on_conflict="ignore") == 2
        changes = await take(feed, 1)
    assert brief(changes) == [("trades", "insert", None, None, 2)]


async def test_a_backlog_is_handed_over_without_holding_the_loop() -> None:
    hub = ChangeHub(lambda publish: _NoWatcher())
    stream = hub.subscribe()
    at = datetime.now(UTC)
    hub.publish_notes([("trades", "insert", str(n), "b", 1) for n in range(2000)], at)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    before = ticks
    got = await take(stream, 2000)
    ticking.cancel()
    assert [c.row_id for c in got] == [str(n) for n in range(2000)]
    assert ticks - before >= 2000 // 256 - 1  # the loop ran other tasks during the drain
    await hub.close()


@pytest.mark.sqlite_only
async def test_the_change_log_keeps_only_recent_commits(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncstore.sqlite.feed as sqlite_feed

    monkeypatch.setattr(sqlite_feed, "KEEP_SECONDS", 0.0)  # every row older than its prune
    monkeypatch.setattr(sqlite_feed, "PRUNE_EVERY", 8)
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        for _ in range(99):
            await repo.heartbeat(BOT_ID)
        ((rows, last),) = await store.fetch_all("SELECT count(*), max(seq) FROM change_log")
    assert last == 100
    assert rows == 100 - 96 + 1  # the prune at seq 96 kept only its own row, then 97..100
