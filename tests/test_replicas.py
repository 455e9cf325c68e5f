"""Read replicas on PostgreSQL: reads go to the replicas, writes to the primary, and a caller
reads its own writes from the primary right after it wrote.

The first tests use as "replica" a second database on the server that is NOT kept in sync with
the primary: what each read returns then shows exactly which server answered it. The last ones
run a real hot standby streaming the primary's WAL (tests/streaming_standby.py), where
`pg_is_in_recovery()` shows who answered, replication lag is real, and the standby can die.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from asyncstore import AsyncStoreError, ConfigurationError, Store, TradeRepository
from asyncstore.postgres import PostgresBackend
from asyncstore.postgres.connection import asyncpg_dsn
from asyncstore.postgres.tenants import TenantSpace
from tests.conftest import BOT_ID, fresh_postgres_database, trade_data, wait_until
from tests.streaming_standby import (
    StandbyUnavailable,
    StreamingPair,
    free_port,
    streaming_standby,
)

ONLY_ON_REPLICA = "only_on_the_replica"


def postgres_backend(store: Store) -> PostgresBackend:
    backend = store._backend
    assert isinstance(backend, PostgresBackend)
    return backend


async def _replica_with_a_bot(url: str) -> None:
    async with Store(url) as replica:
        await TradeRepository(replica).create_bot_instance({"id": ONLY_ON_REPLICA, "type": "paper"})


async def test_reads_go_to_the_replica_except_right_after_the_callers_write(pg_url: str) -> None:
    async with fresh_postgres_database() as replica_url:
        await _replica_with_a_bot(replica_url)
        async with Store(pg_url, read_replica_urls=[replica_url]) as store:
            repo = TradeRepository(store)
            assert await repo.get_bot_instance(ONLY_ON_REPLICA) is not None  # a replica read

            await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})  # the primary
            # Right after its write this caller reads the primary: it sees its bot, and not
            # the replica-only one.
            assert await repo.get_bot_instance(BOT_ID) is not None
            assert await repo.get_bot_instance(ONLY_ON_REPLICA) is None

            # Another caller, which wrote nothing, still reads the replica.
            other = asyncio.create_task(
                repo.get_bot_instance(ONLY_ON_REPLICA), context=contextvars.Context()
            )
            assert await other is not None
        async with Store(replica_url) as replica:  # the write never went to the replica
            assert await TradeRepository(replica).get_bot_instance(BOT_ID) is None


async def test_without_the_window_reads_go_to_the_replica_at_once(pg_url: str) -> None:
    async with fresh_postgres_database() as replica_url:
        await _replica_with_a_bot(replica_url)
        options = {"read_replica_urls": [replica_url], "replica_read_after_write_s": 0}
        async with Store(pg_url, **options) as store:
            repo = TradeRepository(store)
            await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
            assert await repo.get_bot_instance(BOT_ID) is None  # the replica has not got it
            assert await repo.get_bot_instance(ONLY_ON_REPLICA) is not None


def test_replicas_need_a_postgresql_primary() -> None:
    with pytest.raises(ConfigurationError, match="read_replica_urls"):
        Store("sqlite+aiosqlite:///x.db", read_replica_urls=["postgresql+asyncpg://h/db"])


async def test_writes_in_child_tasks_and_bulk_inserts_are_read_from_the_primary(
    pg_url: str,
) -> None:
    async with fresh_postgres_database() as replica_url:
        await _replica_with_a_bot(replica_url)
        async with Store(pg_url, read_replica_urls=[replica_url]) as store:
            repo = TradeRepository(store)
            await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
            await asyncio.gather(*(repo.create_trade(trade_data()) for _ in range(2)))
            assert len(await repo.get_open_trades(bot_id=BOT_ID)) == 2
            await repo.bulk_create_trades([trade_data() for _ in range(5)])
            assert len(await repo.get_open_trades(bot_id=BOT_ID)) == 7


async def test_cleanup_reads_the_primary_so_the_archive_holds_what_was_deleted(
    pg_url: str, tmp_path: Path
) -> None:
    old = datetime.now(UTC) - timedelta(days=100)
    async with fresh_postgres_database() as replica_url:
        await _replica_with_a_bot(replica_url)  # a replica without any of the trades
        async with Store(pg_url, read_replica_urls=[replica_url]) as store:
            repo = TradeRepository(store)
            await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
            trades = [
                await repo.create_trade(trade_data(status="closed", exit_time=old))
                for _ in range(3)
            ]
            archive = tmp_path / "old.csv"
            assert await repo.cleanup_old_data(30, archive=archive) == 3
    archived = archive.read_text()  # noqa: ASYNC240
    assert all(trade.id in archived for trade in trades)


# --- a real hot standby ---------------------------------------------------------------------

IN_RECOVERY = "SELECT pg_is_in_recovery()"  # true only on a standby: shows who answered


@contextmanager
def _pair_or_skip() -> Iterator[StreamingPair]:
    try:
        with streaming_standby() as pair:
            yield pair
    except StandbyUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the hot standby tests: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def hot_standby() -> Iterator[StreamingPair]:
    """A private primary, and a standby streaming its WAL, shared by this module's tests."""
    with _pair_or_skip() as pair:
        yield pair


@pytest.fixture
def standby_to_lose() -> Iterator[StreamingPair]:
    """A pair of this test's own: the test stops its standby."""
    with _pair_or_skip() as pair:
        yield pair


async def test_a_hot_standby_serves_reads_and_a_writer_reads_its_own_writes(
    hot_standby: StreamingPair,
) -> None:
    primary, standby = hot_standby.primary_url, hot_standby.standby_url
    async with Store(primary, read_replica_urls=[standby]) as store:
        repo = TradeRepository(store)
        backend = postgres_backend(store)
        # The schema this Store just built must reach the standby before it can answer reads.
        await _standby_replayed_the_primary(primary, standby)
        assert await store.fetch_all(IN_RECOVERY) == [(True,)]  # a read goes to the standby
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        trade = await repo.create_trade(trade_data())
        # Right after its writes this caller reads the primary, so replication lag cannot hide
        # them from it.
        assert await store.fetch_all(IN_RECOVERY) == [(False,)]
        assert [t.id for t in await repo.get_open_trades()] == [trade.id]

        async def another_bot_reads() -> list[str]:
            assert await store.fetch_all(IN_RECOVERY) == [(True,)]  # it wrote nothing
            fallbacks = backend.replica_fallbacks

            async def standby_has_it() -> bool:  # once the standby has replayed the WAL
                return bool(await repo.get_open_trades())

            await wait_until(standby_has_it, limit_s=60)
            trades = await repo.get_open_trades()
            # The standby itself answered, not the primary in its place.
            assert backend.replica_fallbacks == fallbacks
            return [t.id for t in trades]

        reader = asyncio.create_task(another_bot_reads(), context=contextvars.Context())
        assert await asyncio.wait_for(reader, timeout=60) == [trade.id]


async def test_a_store_pointed_at_the_standby_as_primary_is_refused(
    hot_standby: StreamingPair,
) -> None:
    with pytest.raises(ConfigurationError, match="is a read-only standby: give the primary's URL"):
        await Store(hot_standby.standby_url).start()


async def test_reads_carry_on_from_the_primary_when_the_standby_goes_down(
    standby_to_lose: StreamingPair, caplog: pytest.LogCaptureFixture
) -> None:
    pair = standby_to_lose
    async with Store(pair.primary_url, read_replica_urls=[pair.standby_url]) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})

        async def read_as_a_bot_that_wrote_nothing() -> tuple[bool, int]:
            ((in_recovery,),) = await store.fetch_all(IN_RECOVERY)
            return in_recovery, len(await repo.get_bot_instances())

        def another_bot() -> asyncio.Task[tuple[bool, int]]:
            coro = read_as_a_bot_that_wrote_nothing()
            return asyncio.create_task(coro, context=contextvars.Context())

        assert (await another_bot())[0] is True  # served by the standby
        pair.stop_standby()  # its pooled connections break, new ones are refused
        for _ in range(3):  # the broken pooled connection, then refused new ones
            assert await another_bot() == (False, 1)  # the primary answers: no error, all there
    assert "read replica could not answer" in caplog.text


async def test_a_standby_stopped_and_restarted_under_read_load(
    standby_to_lose: StreamingPair,
) -> None:
    """Readers that never write keep reading while the standby goes down and comes back: the
    primary answers meanwhile, the standby again once it is back (after its rest), no read
    fails, and a bot that writes reads its own writes throughout."""
    pair = standby_to_lose
    async with Store(pair.primary_url, read_replica_urls=[pair.standby_url]) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        await _standby_replayed_the_primary(pair.primary_url, pair.standby_url)
        served_by: list[bool] = []  # True: the standby answered
        errors: list[BaseException] = []
        done = asyncio.Event()

        async def read_once() -> None:
            ((in_recovery,),) = await store.fetch_all(IN_RECOVERY)
            assert len(await repo.get_bot_instances()) == 1
            served_by.append(bool(in_recovery))

        async def reader() -> None:
            while not done.is_set():
                task = asyncio.create_task(read_once(), context=contextvars.Context())
                try:
                    await task
                except Exception as exc:  # any failure fails the test below
                    errors.append(exc)
                await asyncio.sleep(0.01)

        async def writer() -> int:  # a bot that writes, then reads what it wrote
            written = 0
            while not done.is_set():
                trade = await repo.create_trade(trade_data())
                written += 1
                assert await repo.get_trade_by_id(trade.id) is not None
                assert len(await repo.get_open_trades()) == written
                await asyncio.sleep(0.02)
            return written

        readers = [asyncio.create_task(reader()) for _ in range(4)]
        writing = asyncio.create_task(writer())
        try:
            await wait_until(lambda: sum(served_by) >= 10, limit_s=60)
            pair.stop_standby()
            stopped_at = len(served_by)
            await wait_until(lambda: len(served_by) >= stopped_at + 40, limit_s=60)
            during_outage = served_by[stopped_at + 8 :]  # after the broken pooled connections
            pair.start_standby()
            restarted_at = len(served_by)
            # Back to the standby once it answers again and its rest (5 s) is over.
            await wait_until(lambda: any(served_by[restarted_at:]), limit_s=90)
        finally:
            done.set()
            await asyncio.gather(*readers)
            written = await writing
    assert errors == []
    assert during_outage and not any(during_outage)  # the primary answered meanwhile
    assert written > 0


async def test_a_replica_down_at_start_does_not_stop_the_store(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    nobody = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres"
    async with Store(pg_url, read_replica_urls=[nobody]) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        for _ in range(3):  # bots that wrote nothing, one after another
            read = asyncio.create_task(repo.get_bot_instances(), context=contextvars.Context())
            assert len(await read) == 1  # the primary answered
        # The dead replica is tried once, then rested: reads do not each wait for it.
        assert postgres_backend(store).replica_fallbacks == 1
    assert caplog.text.count("read replica could not answer") == 1


async def _standby_replayed_the_primary(primary: str, standby: str) -> None:
    import asyncpg

    primary_conn = await asyncpg.connect(asyncpg_dsn(primary))
    standby_conn = await asyncpg.connect(asyncpg_dsn(standby))
    try:
        target = await primary_conn.fetchval("SELECT pg_current_wal_lsn()")

        async def replayed() -> bool:
            return bool(
                await standby_conn.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", target)
            )

        await wait_until(replayed, limit_s=60)
    finally:
        await primary_conn.close()
        await standby_conn.close()


async def test_a_query_wrong_everywhere_is_not_blamed_on_the_replica(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with fresh_postgres_database() as replica_url:
        await _replica_with_a_bot(replica_url)
        async with Store(pg_url, read_replica_urls=[replica_url]) as store:
            with pytest.raises(AsyncStoreError, match="no_such_column"):
                await store.fetch_all("SELECT no_such_column FROM trades")
            assert postgres_backend(store).replica_fallbacks == 0
            # The replica is not rested for the caller's mistake: it still serves reads.
            assert await TradeRepository(store).get_bot_instance(ONLY_ON_REPLICA) is not None
    assert "read replica could not answer" not in caplog.text


async def test_a_tenant_s_reads_on_a_hot_standby_see_only_that_tenant(
    hot_standby: StreamingPair,
) -> None:
    """The standby replays the tenants' schemas and roles: a tenant's replica sessions run as
    its role in its schema, as on the primary."""
    primary, standby = hot_standby.primary_url, hot_standby.standby_url
    alice, bob = TenantSpace.of("replica-alice"), TenantSpace.of("replica-bob")
    async with (
        Store(primary, tenant=alice.tenant, read_replica_urls=[standby]) as alice_store,
        Store(primary, tenant=bob.tenant) as bob_store,
    ):
        for store, trades in ((alice_store, 2), (bob_store, 5)):
            repo = TradeRepository(store)
            await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
            for _ in range(trades):
                await repo.create_trade(trade_data())
        await _standby_replayed_the_primary(primary, standby)

        async def read_as_a_bot_that_wrote_nothing() -> None:
            who = "SELECT pg_is_in_recovery(), current_user, (SELECT count(*) FROM trades)"
            assert await alice_store.fetch_all(who) == [(True, alice.role, 2)]
            with pytest.raises(AsyncStoreError, match="permission denied"):
                await alice_store.fetch_all(f'SELECT count(*) FROM "{bob.schema}".trades')

        fresh = contextvars.Context()  # a caller with no writes: its reads go to the standby
        reader = asyncio.create_task(read_as_a_bot_that_wrote_nothing(), context=fresh)
        await asyncio.wait_for(reader, timeout=60)
