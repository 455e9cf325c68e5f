"""Tenants on PostgreSQL: the server enforces them, whatever SQL a tenant's Store is given.

The known traps, each tried here: the test server's URL names a superuser (who would bypass
everything), a session-level SET survives on a pooled connection, and a caller's SQL may name
another tenant's schema outright. See asyncstore.postgres.tenants for the mechanism.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from asyncstore import AsyncStoreError, Store, TradeRepository
from asyncstore.postgres.tenants import TenantSpace
from asyncstore.writes import AtomicStatements
from tests.conftest import rows_in, trade_data

ALICE, BOB = TenantSpace.of("alice"), TenantSpace.of("bob")


async def _tenant(url: str, tenant: str, trades: int) -> None:
    async with Store(url, tenant=tenant) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": "bot", "type": "paper"})
        for _ in range(trades):
            await repo.create_trade(trade_data(bot_id="bot"))


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def test_a_superuser_url_still_runs_as_the_tenant_s_plain_role(pg_url: str) -> None:
    await _tenant(pg_url, "alice", 1)
    async with Store(pg_url, tenant="alice") as alice:
        ((current, session, schema),) = await alice.fetch_all(
            "SELECT current_user, session_user, current_schema()"
        )
        assert (current, schema) == (ALICE.role, ALICE.schema)
        assert session == "postgres"  # the URL's superuser logged in; it is not who reads
        ((superuser, bypass_rls, can_login),) = await alice.fetch_all(
            "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = current_user"
        )
        assert (superuser, bypass_rls, can_login) == (False, False, False)
        # The writer's connection is the tenant's role too.
        await alice.submit(
            AtomicStatements(
                [(text("UPDATE bot_instances SET config_file = current_user"), {})], subject="who"
            )
        )
        assert await alice.fetch_all("SELECT config_file FROM bot_instances") == [(ALICE.role,)]


@pytest.mark.parametrize(
    "query",
    [
        f"SELECT count(*) FROM {BOB.schema}.trades",
        f'SELECT count(*) FROM "{BOB.schema}".bot_instances',
        "SELECT count(*) FROM public.trades",  # the database's own (tenant-less) data
    ],
)
async def test_naming_another_schema_is_refused_by_the_server(pg_url: str, query: str) -> None:
    await _tenant(pg_url, "alice", 1)
    await _tenant(pg_url, "bob", 2)
    await _tenant_less(pg_url)
    async with Store(pg_url, tenant="alice") as alice:
        with pytest.raises(AsyncStoreError, match="permission denied"):
            await alice.fetch_all(query)
        with pytest.raises(AsyncStoreError, match="permission denied"):
            await alice.submit(
                AtomicStatements(
                    [(text(query.replace("SELECT count(*) FROM", "DELETE FROM")), {})],
                    subject="delete another's rows",
                )
            )
    async with Store(pg_url, tenant="bob") as bob:
        assert await rows_in(bob) == 2


async def _tenant_less(url: str) -> None:
    async with Store(url) as own:
        await TradeRepository(own).create_bot_instance({"id": "own", "type": "paper"})


async def test_one_pooled_connection_never_carries_a_caller_s_set_into_the_next_call(
    pg_url: str,
) -> None:
    await _tenant(pg_url, "alice", 3)
    await _tenant(pg_url, "bob", 1)
    # One read connection: every read below runs on the same server session.
    async with Store(pg_url, tenant="alice", pg_pool_size=1) as alice:
        ((pid,),) = await alice.fetch_all("SELECT pg_backend_pid()")
        changes = [
            f'SET ROLE "{BOB.role}"',  # allowed: the URL's superuser is the session's user
            f'SET search_path TO "{BOB.schema}"',
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
            "RESET ROLE",
            "RESET ALL",
            f"SELECT set_config('search_path', '\"{BOB.schema}\"', false)",
        ]
        for change in changes:
            await alice.fetch_all(change)
            (same_pid, user, schema, trades) = (
                await alice.fetch_all(
                    "SELECT pg_backend_pid(), current_user, current_schema(), "
                    "(SELECT count(*) FROM trades)"
                )
            )[0]
            assert same_pid == pid, "the pool opened another connection"
            assert (user, schema, trades) == (ALICE.role, ALICE.schema, 3), change


async def test_two_tenants_calls_alternating_never_share_a_connection(pg_url: str) -> None:
    await _tenant(pg_url, "alice", 3)
    await _tenant(pg_url, "bob", 1)
    who = "SELECT pg_backend_pid(), current_user, (SELECT count(*) FROM trades)"
    async with (
        Store(pg_url, tenant="alice", pg_pool_size=1) as alice,
        Store(pg_url, tenant="bob", pg_pool_size=1) as bob,
    ):
        seen: dict[str, set[tuple[object, ...]]] = {"alice": set(), "bob": set()}
        for _ in range(20):  # alternating, and at once
            for name, store in (("alice", alice), ("bob", bob)):
                seen[name].update(await store.fetch_all(who))
            both = await asyncio.gather(alice.fetch_all(who), bob.fetch_all(who))
            seen["alice"].update(both[0])
            seen["bob"].update(both[1])
    ((alice_pid, alice_user, alice_rows),) = seen["alice"]  # one session, always Alice's
    ((bob_pid, bob_user, bob_rows),) = seen["bob"]
    assert alice_pid != bob_pid
    assert (alice_user, alice_rows, bob_user, bob_rows) == (ALICE.role, 3, BOB.role, 1)


async def test_a_tenant_s_role_writes_rows_and_nothing_else(pg_url: str) -> None:
    await _tenant(pg_url, "alice", 1)
    refused = [
        "CREATE TABLE sneaky (x int)",
        "DROP TABLE trades",
        "ALTER TABLE trades ADD COLUMN sneaky int",
        "UPDATE alembic_version SET version_num = '0001'",
        "TRUNCATE trades",
    ]
    async with Store(pg_url, tenant="alice") as alice:
        for statement in refused:
            with pytest.raises(AsyncStoreError) as caught:
                await alice.submit(AtomicStatements([(text(statement), {})], subject=statement))
            message = str(caught.value)
            assert "permission denied" in message or "must be owner" in message, message
        # Granting what it does not own grants nothing (the server only warns).
        grant = f'GRANT SELECT ON trades TO "{BOB.role}"'
        await alice.submit(AtomicStatements([(text(grant), {})], subject="grant"))
        assert await alice.fetch_all(
            f"SELECT has_table_privilege('{BOB.role}', '{ALICE.schema}.trades', 'SELECT')"
        ) == [(False,)]
        assert await rows_in(alice) == 1
        assert await alice.fetch_all("SELECT version_num FROM alembic_version") == [("0005",)]


async def test_logging_in_as_the_tenant_s_role_leaves_no_role_to_switch_to(pg_url: str) -> None:
    """The stronger set-up for bot code that is not trusted: the URL's user is the tenant's
    own role, so even SQL that says SET ROLE has nowhere to go."""
    # Roles belong to the server, not to this test's database: a name of this test's own.
    carol = TenantSpace.of(f"carol-{uuid.uuid4().hex[:8]}")
    await _tenant(pg_url, carol.tenant, 2)
    await _tenant(pg_url, "bob", 1)
    admin = await asyncpg.connect(_libpq(pg_url))
    try:
        await admin.execute(f'ALTER ROLE "{carol.role}" LOGIN')
        as_carol = make_url(pg_url).set(username=carol.role).render_as_string(hide_password=False)
        async with Store(as_carol, tenant=carol.tenant) as store:
            await TradeRepository(store).create_trade(trade_data(bot_id="bot"))
            assert await rows_in(store) == 3
            for escape in ("SET ROLE postgres", "SET SESSION AUTHORIZATION postgres"):
                with pytest.raises(AsyncStoreError, match="permission denied"):
                    await store.fetch_all(escape)
            with pytest.raises(AsyncStoreError, match="permission denied"):
                await store.fetch_all(f'SELECT count(*) FROM "{BOB.schema}".trades')
    finally:
        await admin.execute(f'ALTER ROLE "{carol.role}" NOLOGIN')
        await admin.close()


async def test_tenant_names_of_63_characters_sharing_a_long_head_stay_apart(pg_url: str) -> None:
    first, second = "a" * 50 + "-first-tenant", "a" * 50 + "-other-tenant"
    assert len(first) == len(second) == 63
    spaces = TenantSpace.of(first), TenantSpace.of(second)
    assert spaces[0].schema != spaces[1].schema and spaces[0].role != spaces[1].role
    await _tenant(pg_url, first, 2)
    await _tenant(pg_url, second, 5)
    async with Store(pg_url, tenant=first) as one, Store(pg_url, tenant=second) as other:
        assert (await rows_in(one), await rows_in(other)) == (2, 5)
        ((schema,),) = await one.fetch_all("SELECT current_schema()")
        assert schema == spaces[0].schema and len(schema.encode()) <= 63


async def test_a_read_only_tenant_store_reads_only_that_tenant(pg_url: str) -> None:
    await _tenant(pg_url, "alice", 2)
    await _tenant(pg_url, "bob", 4)
    async with Store(pg_url, tenant="bob", read_only=True) as observer:
        assert await rows_in(observer) == 4
        with pytest.raises(AsyncStoreError, match="permission denied"):
            await observer.fetch_all(f"SELECT count(*) FROM {ALICE.schema}.trades")


async def test_compacting_a_tenant_vacuums_its_tables_as_their_owner(pg_url: str) -> None:
    await _tenant(pg_url, "alice", 2)
    async with Store(pg_url, tenant="alice") as alice:
        await alice.compact()
        vacuumed = await alice.fetch_all(
            "SELECT relname FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() AND last_vacuum IS NOT NULL ORDER BY relname"
        )
    assert vacuumed == [
        ("bot_activity",),
        ("bot_instances",),
        ("performance_metrics",),
        ("trades",),
    ]


async def test_a_tenant_s_cleanup_vacuums_its_own_tables_as_their_owner(pg_url: str) -> None:
    await _tenant(pg_url, "alice", 0)
    await _tenant(pg_url, "bob", 0)
    async with Store(pg_url, tenant="alice") as alice:
        repo = TradeRepository(alice)
        await repo.bulk_create_trades([trade_data(bot_id="bot", status="closed")] * 3)
        report = await repo.cleanup(days_to_keep=0)
    assert report.deleted["trades"] == 3 and report.vacuumed == ["trades"]
    async with Store(pg_url) as own:
        vacuumed = await own.fetch_all(
            "SELECT schemaname FROM pg_stat_user_tables "
            "WHERE relname = 'trades' AND last_vacuum IS NOT NULL"
        )
    assert vacuumed == [(ALICE.schema,)]  # Alice's trades, not Bob's nor the database's own


async def test_what_a_caller_s_sql_sets_on_the_writer_ends_with_its_batch(pg_url: str) -> None:
    """SQL given to Store.submit runs on the tenant's writer connection: whatever it SETs (with
    the superuser URL of the tests, even the role), takes or creates there is undone once its
    batch has committed, and the next writes land in the tenant's schema again."""
    await _tenant(pg_url, "alice", 0)
    await _tenant_less(pg_url)
    async with Store(pg_url, tenant="bob") as bob_first:
        bob_lock = postgres_tenant_lock(bob_first)
    async with Store(pg_url, tenant="alice") as alice:
        escapes = [
            "SELECT set_config('role', 'postgres', false), "
            "set_config('search_path', 'public', false)",
            f"SELECT pg_advisory_lock({bob_lock})",  # would stop Bob's Stores from starting
            "CREATE TEMPORARY TABLE bot_instances (LIKE trades)",  # would shadow the real one
        ]
        for escape in escapes:
            await alice.submit(AtomicStatements([(text(escape), {})], subject="escape"))
        await TradeRepository(alice).create_bot_instance({"id": "after", "type": "paper"})
        assert await alice.fetch_all("SELECT id FROM bot_instances ORDER BY id") == [
            ("after",),
            ("bot",),
        ]
        async with asyncio.timeout(30), Store(pg_url, tenant="bob") as bob:
            assert await rows_in(bob, "bot_instances") == 0  # it started: the lock was let go
    async with Store(pg_url) as own:
        assert await own.fetch_all("SELECT id FROM bot_instances") == [("own",)]


def postgres_tenant_lock(store: Store) -> int:
    """The advisory lock key of a tenant's schema work."""
    assert store.tenant is not None
    return TenantSpace.of(store.tenant).lock_key


async def test_a_tenant_s_change_feed_channel_is_a_secret_of_its_own(pg_url: str) -> None:
    """PostgreSQL lets any session NOTIFY or LISTEN on any channel: a tenant's channel is a
    random name only its role can read, so other tenants can neither forge nor hear it."""
    await _tenant(pg_url, "alice", 0)
    await _tenant(pg_url, "bob", 0)
    async with Store(pg_url, tenant="alice") as alice, Store(pg_url, tenant="bob") as bob:
        ((alice_channel,),) = await alice.fetch_all("SELECT channel FROM asyncstore_feed_channel")
        ((bob_channel,),) = await bob.fetch_all("SELECT channel FROM asyncstore_feed_channel")
        assert alice_channel != bob_channel and "bob" not in bob_channel
        with pytest.raises(AsyncStoreError, match="permission denied"):
            await alice.fetch_all(f'SELECT channel FROM "{BOB.schema}".asyncstore_feed_channel')
        with pytest.raises(AsyncStoreError, match="permission denied"):
            await alice.submit(
                AtomicStatements(
                    [(text("UPDATE asyncstore_feed_channel SET channel = 'x'"), {})],
                    subject="rename",
                )
            )
