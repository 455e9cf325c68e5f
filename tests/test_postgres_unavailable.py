"""A lost or refused PostgreSQL connection is a DatabaseUnavailableError that says whether the
write may have committed, and the same Store works again by itself once the server answers.

The faults are real: sessions killed by the server (pg_terminate_backend) under concurrent load
on the test server, one killed just after its call was answered, and a private cluster
(tests/streaming_standby.py) that dies with `pg_ctl stop -m immediate` while calls wait on it
(mid-statement, or in COMMIT), is down, and comes back. The last tests check the translation
itself on the exceptions asyncpg raises.
"""

from __future__ import annotations

import asyncio
import os
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from asyncstore import (
    AsyncStoreError,
    ConfigurationError,
    DatabaseUnavailableError,
    Store,
    TradeRepository,
)
from asyncstore.ids import new_id
from asyncstore.postgres.connection import asyncpg_dsn
from asyncstore.postgres.errors import is_connection_loss, translate_postgres_error
from tests.conftest import BOT_ID, trade_data, wait_until
from tests.streaming_standby import ClusterUnavailable, PrivateServer, private_server

# Every session of the test's database but the asking one: what a DBA's cleanup, a failover
# or a server restart does to a running bot's connections.
END_OTHER_SESSIONS = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@asynccontextmanager
async def admin_connection(url: str) -> AsyncIterator[Any]:
    """A plain asyncpg connection beside the Store's pools (to kill, lock, watch)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        yield conn
    finally:
        conn.terminate()  # not close(): its server may be gone


async def stored_trade_ids(url: str) -> set[str]:
    async with admin_connection(url) as conn:
        return {row[0] for row in await conn.fetch("SELECT id::text FROM trades")}


# --- sessions killed under load ---------------------------------------------------------------

CALLERS = 24  # more than the pool's 10 connections: callers also wait for one
KILL_ROUNDS = 5


@dataclass
class Seen:
    """What the callers got back, as they got it."""

    acknowledged: list[str] = field(default_factory=list)
    reads: int = 0
    unavailable_writes: list[tuple[str, DatabaseUnavailableError]] = field(default_factory=list)
    unavailable_reads: list[DatabaseUnavailableError] = field(default_factory=list)
    other_errors: list[AsyncStoreError] = field(default_factory=list)
    escaped: list[str] = field(default_factory=list)  # tracebacks of errors outside the tree
    unreadable_writes: list[str] = field(default_factory=list)  # acknowledged, then not read
    streak: int = 0  # calls in a row that succeeded

    def acknowledged_reach(self, count: int) -> Callable[[], bool]:
        return lambda: len(self.acknowledged) >= count

    @property
    def lost_before_commit(self) -> bool:
        """A write failed and was told it was not committed (its session died before COMMIT)."""
        return any(not exc.may_have_committed for _, exc in self.unavailable_writes)

    def unavailable_writes_reach(self, count: int) -> Callable[[], bool]:
        return lambda: len(self.unavailable_writes) >= count

    def error(self, exc: Exception, trade_id: str | None) -> None:
        self.streak = 0
        if isinstance(exc, DatabaseUnavailableError):
            if trade_id is None:
                self.unavailable_reads.append(exc)
            else:
                self.unavailable_writes.append((trade_id, exc))
        elif isinstance(exc, AsyncStoreError):
            self.other_errors.append(exc)
        else:
            self.escaped.append("".join(traceback.format_exception(exc)))


async def call_until(stop: asyncio.Event, repo: TradeRepository, seen: Seen, symbol: str) -> None:
    """A bot's loop: open a trade, reload its open trades, again and again."""
    mine: set[str] = set()
    while not stop.is_set():
        trade_id = new_id()
        try:
            await repo.create_trade(trade_data(id=trade_id, symbol=symbol))
        except Exception as exc:
            seen.error(exc, trade_id)
        else:
            mine.add(trade_id)
            seen.acknowledged.append(trade_id)
            seen.streak += 1
        try:
            trades = await repo.get_open_trades(symbol=symbol)
        except Exception as exc:
            seen.error(exc, None)
        else:
            seen.reads += 1
            seen.streak += 1
            # Reads go to the primary: every write this caller saw acknowledged is there.
            seen.unreadable_writes.extend(mine - {trade.id for trade in trades})


def start_callers(
    stop: asyncio.Event, repo: TradeRepository, seen: Seen
) -> list[asyncio.Task[None]]:
    """CALLERS bots, each at `call_until` on a symbol of its own, until `stop` is set."""
    return [
        asyncio.create_task(call_until(stop, repo, seen, f"SYM{number}"))
        for number in range(CALLERS)
    ]


async def test_sessions_killed_under_load_raise_unavailable_and_the_store_carries_on(
    pg_url: str,
) -> None:
    seen = Seen()
    stop = asyncio.Event()
    async with Store(pg_url) as store, admin_connection(pg_url) as admin:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        callers = start_callers(stop, repo, seen)
        try:
            rounds = 0
            # Kill in the middle of traffic: each round after 30 more acknowledged writes; on
            # past KILL_ROUNDS (a few more at most) until a kill has caught a write before its
            # COMMIT, whose promise is checked below (where a kill lands is the machine's luck).
            while rounds < KILL_ROUNDS or (
                not seen.lost_before_commit and rounds < 4 * KILL_ROUNDS
            ):
                await wait_until(seen.acknowledged_reach(len(seen.acknowledged) + 30), limit_s=30)
                assert await admin.fetchval(END_OTHER_SESSIONS) > 0
                rounds += 1
            # The same Store works again by itself: the pools replace every killed connection,
            # and then calls succeed one after another.
            await wait_until(lambda: seen.streak >= 200, limit_s=30)
        finally:
            stop.set()
            await asyncio.gather(*callers)

    assert not seen.escaped, f"{len(seen.escaped)} errors outside the tree; the first:\n" + (
        seen.escaped[0] if seen.escaped else ""
    )
    assert not seen.other_errors, [repr(exc) for exc in seen.other_errors[:5]]
    assert seen.unavailable_writes, "no write was under way when its session was killed"
    unavailable = [exc for _, exc in seen.unavailable_writes] + seen.unavailable_reads
    assert all(exc.__cause__ is not None for exc in unavailable)  # the driver's error kept
    assert not any(exc.may_have_committed for exc in seen.unavailable_reads)
    assert not seen.unreadable_writes
    stored = await stored_trade_ids(pg_url)
    assert set(seen.acknowledged) <= stored
    # "Not committed" is a promise: none of those writes is in the table.
    said_not_committed = {t for t, exc in seen.unavailable_writes if not exc.may_have_committed}
    assert said_not_committed, "no write lost its session before COMMIT"
    assert not (said_not_committed & stored)


@dataclass
class SessionEndsOnHandBack:
    """The next time a pooled connection is handed back (its COMMIT or its rows already came),
    the server ends that session first, and the pool's reset of it fails for real."""

    admin: Any
    armed: bool = False
    fired: int = 0


@pytest.fixture
def session_ends_on_hand_back(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionEndsOnHandBack]:
    from asyncpg.connection import Connection

    hook = SessionEndsOnHandBack(admin=None)
    real_reset = Connection.reset

    # asyncpg's own signature, timeout included.
    async def reset(conn: Any, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if hook.armed:
            hook.armed = False
            # The second argument waits until that server process has exited.
            ended = "SELECT pg_terminate_backend($1, 10000)"
            assert await hook.admin.fetchval(ended, conn.get_server_pid())
            hook.fired += 1
        await real_reset(conn, timeout=timeout)

    monkeypatch.setattr(Connection, "reset", reset)
    yield hook


async def test_a_session_ended_right_after_the_answer_does_not_fail_the_read(
    pg_url: str, session_ends_on_hand_back: SessionEndsOnHandBack
) -> None:
    hook = session_ends_on_hand_back
    async with Store(pg_url) as store, admin_connection(pg_url) as admin:
        hook.admin = admin
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        trade = await repo.create_trade(trade_data())
        hook.armed = True
        assert [t.id for t in await repo.get_open_trades()] == [trade.id]
        assert hook.fired == 1
        assert await repo.get_trade_by_id(trade.id) is not None  # and the pools carry on
    assert await stored_trade_ids(pg_url) == {trade.id}


def writer_connection(store: Store) -> Any:
    """The PostgreSQL writer's own connection (to end its session from outside)."""
    return store._backend._runner._conn  # type: ignore[attr-defined]


async def test_the_writer_session_ended_between_writes_reconnects_without_failing_a_call(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncpg.connection import Connection

    unnoticed_deaths: set[int] = set()  # connections that still claim to be open
    real_is_closed = Connection.is_closed
    monkeypatch.setattr(
        Connection, "is_closed", lambda c: id(c) not in unnoticed_deaths and real_is_closed(c)
    )

    # A server restart, a DBA's cleanup or a proxy's idle timeout ends the writer's session
    # while it idles; the next group commit finds out at BEGIN, before anything is sent, and
    # runs on a fresh connection: the caller never hears of it.
    async with Store(pg_url) as store, admin_connection(pg_url) as admin:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        written = []
        for unnoticed in (False, True, False, True):
            conn = writer_connection(store)
            pid = conn.get_server_pid()
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)
            if unnoticed:
                # The race where the loop has not yet read the socket's end when the next
                # batch starts: the dead connection still claims to be open, BEGIN finds out.
                unnoticed_deaths.add(id(conn))
            written.append((await repo.create_trade(trade_data())).id)
            assert writer_connection(store).get_server_pid() != pid
    assert await stored_trade_ids(pg_url) == set(written)


# --- a private server that dies and comes back ------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateServer]:
    """One private cluster for this module's tests, which stop and start it."""
    try:
        with private_server() as started:
            yield started
    except ClusterUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the server-loss tests: {exc}")
        pytest.skip(str(exc))


@pytest.fixture
async def private_url(server: PrivateServer) -> AsyncIterator[str]:
    """A new database on the private server (running: a failed test may have left it down)."""
    await asyncio.to_thread(server.start)
    name = f"asyncstore_test_{uuid.uuid4().hex[:12]}"
    async with admin_connection(server.url) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    yield make_url(server.url).set(database=name).render_as_string(hide_password=False)


async def unavailable(call: Awaitable[object]) -> DatabaseUnavailableError:
    """The DatabaseUnavailableError that `call` raises; anything else fails the test."""
    try:
        await call
    except DatabaseUnavailableError as exc:
        return exc
    except Exception as exc:
        # Named in one line: a long chain of driver errors is no help in the report.
        cause = f" (from {exc.__cause__!r})" if exc.__cause__ else ""
        raise AssertionError(f"not a DatabaseUnavailableError: {exc!r}{cause}") from None
    raise AssertionError("the call succeeded")


async def sessions_waiting(watcher: Any, wait_event: str, count: int) -> bool:
    """`count` of the Store's sessions wait on `wait_event` (the pools name themselves)."""
    waiting = await watcher.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'asyncstore' "
        "AND (wait_event_type = $1 OR wait_event = $1)",
        wait_event,
    )
    return bool(waiting == count)


async def test_a_server_that_dies_fails_calls_as_unavailable_and_the_same_store_recovers(
    server: PrivateServer, private_url: str
) -> None:
    async with Store(private_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        before = await repo.create_trade(trade_data())
        lost_id = new_id()
        async with admin_connection(private_url) as locker, admin_connection(private_url) as w:
            # A write and a read stopped mid-statement, behind a lock, when the server dies.
            await locker.execute("BEGIN; LOCK TABLE trades IN ACCESS EXCLUSIVE MODE")
            write = asyncio.create_task(repo.create_trade(trade_data(id=lost_id)))
            read = asyncio.create_task(repo.get_open_trades())
            await wait_until(lambda: sessions_waiting(w, "Lock", 2), limit_s=30)
            await asyncio.to_thread(server.stop)
        lost_write = await unavailable(write)
        assert lost_write.may_have_committed is False
        assert "nothing of this call was committed" in str(lost_write)
        assert (await unavailable(read)).may_have_committed is False

        # While it is down, each call is refused at once: nothing was sent.
        refused = await unavailable(repo.create_trade(trade_data()))
        assert refused.may_have_committed is False
        assert isinstance(refused.__cause__, OSError)  # connection refused
        assert (await unavailable(repo.get_open_trades())).may_have_committed is False

        # Back up: the same Store, never reopened, writes and reads again at the first call.
        await asyncio.to_thread(server.start)
        after = await repo.create_trade(trade_data())
        assert {t.id for t in await repo.get_open_trades()} == {before.id, after.id}
        assert await repo.get_trade_by_id(lost_id) is None


CRASH_CYCLES = 5


async def test_bots_writing_through_immediate_stops_lose_nothing_acknowledged(
    server: PrivateServer, private_url: str
) -> None:
    # The server crashes (pg_ctl stop -m immediate) again and again while bots write and read
    # through group commits: every call either succeeds or raises in the tree, nothing
    # acknowledged is lost, nothing said "not committed" is there, and the same Store writes
    # again by itself once the server is back.
    seen = Seen()
    stop = asyncio.Event()
    async with Store(private_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        callers = start_callers(stop, repo, seen)
        try:
            for _ in range(CRASH_CYCLES):
                await wait_until(seen.acknowledged_reach(len(seen.acknowledged) + 50), limit_s=60)
                await asyncio.to_thread(server.stop)
                await wait_until(seen.unavailable_writes_reach(len(seen.unavailable_writes) + 1))
                await asyncio.to_thread(server.start)
            await wait_until(lambda: seen.streak >= 200, limit_s=60)
        finally:
            stop.set()
            await asyncio.gather(*callers)
        reconnects = store._backend._runner.reconnects  # type: ignore[attr-defined]

    assert not seen.escaped, f"{len(seen.escaped)} errors outside the tree; the first:\n" + (
        seen.escaped[0] if seen.escaped else ""
    )
    assert not seen.other_errors, [repr(exc) for exc in seen.other_errors[:5]]
    assert not seen.unreadable_writes
    assert reconnects >= CRASH_CYCLES
    stored = await stored_trade_ids(private_url)
    assert set(seen.acknowledged) <= stored
    said_not_committed = {t for t, exc in seen.unavailable_writes if not exc.may_have_committed}
    assert not (said_not_committed & stored)


async def test_a_start_that_failed_can_be_tried_again(
    server: PrivateServer, private_url: str
) -> None:
    """A bot started before its database server: start() fails clearly, and once the server
    is up the same Store starts and works (nothing of the failed attempt lingers)."""
    await asyncio.to_thread(server.stop)
    store = Store(private_url)
    with pytest.raises(ConfigurationError, match="cannot connect"):
        await store.start()
    await asyncio.to_thread(server.start)
    async with store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        assert (await repo.create_trade(trade_data())).bot_id == BOT_ID


async def require_a_standby_that_never_answers(server_url: str) -> None:
    """Every COMMIT then waits for a synchronous standby, after it is in the WAL."""
    async with admin_connection(server_url) as admin:
        await admin.execute("ALTER SYSTEM SET synchronous_standby_names = 'no_such_standby'")
        await admin.execute("SELECT pg_reload_conf()")

    async def postmaster_reloaded() -> bool:  # new sessions then start with it
        async with admin_connection(server_url) as fresh:
            shown = await fresh.fetchval("SHOW synchronous_standby_names")
            return bool(shown == "no_such_standby")

    await wait_until(postmaster_reloaded, limit_s=30)


async def commit_without_a_standby(server: PrivateServer) -> None:
    """Undo require_a_standby_that_never_answers (also if the test failed half-way)."""
    await asyncio.to_thread(server.start)
    async with admin_connection(server.url) as admin:
        await admin.execute("ALTER SYSTEM RESET synchronous_standby_names")
        await admin.execute("SELECT pg_reload_conf()")  # releases a COMMIT still waiting


async def test_a_connection_lost_during_commit_says_the_write_may_have_committed(
    server: PrivateServer, private_url: str
) -> None:
    async with Store(private_url) as setup:  # the schema and the bot, committed at once
        await TradeRepository(setup).create_bot_instance({"id": BOT_ID, "type": "paper"})
    await require_a_standby_that_never_answers(server.url)
    async with AsyncExitStack() as stack:
        # Opened now, so each of its sessions starts with commits waiting for the standby.
        store = await stack.enter_async_context(Store(private_url))
        stack.push_async_callback(commit_without_a_standby, server)  # before the Store closes
        watcher = await stack.enter_async_context(admin_connection(private_url))
        repo = TradeRepository(store)
        trade_id = new_id()
        write = asyncio.create_task(repo.create_trade(trade_data(id=trade_id)))
        await wait_until(lambda: sessions_waiting(watcher, "SyncRep", 1), limit_s=30)
        # On disk only: the server comes back without the standby requirement.
        await watcher.execute("ALTER SYSTEM RESET synchronous_standby_names")
        await asyncio.to_thread(server.stop)  # while COMMIT waits for the standby's answer
        lost = await unavailable(write)
        assert lost.may_have_committed is True
        assert "MAY have been committed" in str(lost)

        await asyncio.to_thread(server.start)
        # It had committed (its COMMIT record was in the WAL before the wait), which is why
        # the error could not say "not committed". The same Store carries on.
        assert await repo.get_trade_by_id(trade_id) is not None
        await repo.create_trade(trade_data())


# --- the translation itself -------------------------------------------------------------------


def _asyncpg_errors() -> dict[str, BaseException]:
    import asyncpg

    return {
        "reset": ConnectionResetError(),
        "refused": ConnectionRefusedError(111, "Connect call failed"),
        "lost mid-operation": asyncpg.ConnectionDoesNotExistError(
            "connection was closed in the middle of operation"
        ),
        "closed": asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        "ended between statements": asyncpg.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
        "terminated": asyncpg.AdminShutdownError("terminating connection"),
        "starting up": asyncpg.CannotConnectNowError("the database system is starting up"),
        "full": asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    }


@pytest.mark.parametrize("kind", list(_asyncpg_errors()))
def test_only_a_loss_while_committing_may_have_committed(kind: str) -> None:
    exc = _asyncpg_errors()[kind]
    assert is_connection_loss(exc)
    outcomes = {
        (phase, write): translate_postgres_error(exc, "create_trade", phase=phase, write=write)
        for phase in ("before_commit", "commit")
        for write in (True, False)
    }
    for (phase, write), error in outcomes.items():
        assert isinstance(error, DatabaseUnavailableError)
        # A read never committed anything; a write only may have while COMMIT was on its way.
        assert error.may_have_committed is (write and phase == "commit"), (phase, write)


def test_asyncpg_errors_that_are_not_about_the_connection_are_not_a_loss() -> None:
    import asyncpg

    for exc in (
        asyncpg.InternalClientError("no encoder for OID 1234"),  # a codec, not the connection
        asyncpg.OutdatedSchemaCacheError("cached statement plan is invalid"),
        asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
        asyncpg.UniqueViolationError("duplicate key value"),
    ):
        assert not is_connection_loss(exc), exc
        assert not isinstance(translate_postgres_error(exc, "x"), DatabaseUnavailableError)


async def test_close_ends_a_batch_stuck_behind_a_lock_after_its_grace(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncstore.postgres.backend as postgres_backend

    monkeypatch.setattr(postgres_backend, "CLOSE_GRACE_S", 0.5)
    store = Store(pg_url)
    await store.start()
    repo = TradeRepository(store)
    await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
    async with admin_connection(pg_url) as locker:
        await locker.execute("BEGIN; LOCK TABLE trades IN ACCESS EXCLUSIVE MODE")
        stuck = asyncio.create_task(repo.create_trade(trade_data()))
        await wait_until(lambda: sessions_waiting(locker, "Lock", 1), limit_s=30)
        await asyncio.wait_for(store.close(), 30)  # returns: it does not wait for the lock
        lost = await unavailable(stuck)
        await locker.execute("ROLLBACK")
    assert lost.may_have_committed is False
    assert await stored_trade_ids(pg_url) == set()
