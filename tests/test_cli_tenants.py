"""The admin commands with tenants, as real processes: `--tenant` on each, `asyncstore tenants`,
and `asyncstore upgrade` bringing every tenant of an older database to head."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy.engine import make_url

from asyncstore import SchemaVersionError, Store, TradeRepository
from asyncstore.config import sqlite_url
from asyncstore.postgres.tenants import TenantSpace
from asyncstore.schema.revisions import alembic_config, head_revision
from tests.conftest import run_cli, trade_data

HEAD = head_revision()
OLDER = "0004"  # before bot_activity (0005): its table must reach each tenant's role too


async def _tenant(url: str, tenant: str, *, bots: list[str], old_trades: int = 0) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=400)
    async with Store(url, tenant=tenant) as store:
        repo = TradeRepository(store)
        for bot in bots:
            await repo.create_bot_instance({"id": bot, "type": "paper"})
        for _ in range(old_trades):
            await repo.create_trade(trade_data(bot_id=bots[0], status="closed", exit_time=long_ago))


def _json(cwd: Path, *args: str) -> Any:
    done = run_cli(cwd, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _tenant_files(root: Path) -> dict[str, bool]:
    return {p.parent.name: p.is_file() for p in (root / "db" / "tenants").glob("*/trading.db")}


async def _downgrade(url: str, schema: str | None, revision: str) -> None:
    # Alembic's env.py runs its own event loop: on a worker thread, as asyncstore runs it.
    config = alembic_config(url, schema=schema)
    await asyncio.to_thread(command.downgrade, config, revision)


async def test_sqlite_tenants_through_every_command(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db' / 'trading.db'}"
    for tenant in ("alice", "bob"):
        made = run_cli(tmp_path, "init", "--tenant", tenant, "--url", url)
        assert made.returncode == 0 and f"tenants/{tenant}/trading.db" in made.stdout
    await _tenant(url, "alice", bots=["shared", "alice-only"], old_trades=2)
    await _tenant(url, "bob", bots=["shared"], old_trades=1)
    assert _tenant_files(tmp_path) == {"alice": True, "bob": True}

    listed = _json(tmp_path, "tenants", "--url", url)["tenants"]
    assert [t["name"] for t in listed] == ["alice", "bob"] and all(t["bytes"] > 0 for t in listed)

    summary = _json(tmp_path, "summary", "--tenant", "alice", "--url", url)
    assert sorted(b["id"] for b in summary["bots"]) == ["alice-only", "shared"]
    assert summary["rows"]["trades"] == 2

    export = run_cli(
        tmp_path, "export", "trades", "--tenant", "bob", "--output", "bob.csv", "--url", url
    )
    assert export.returncode == 0 and "exported 1 trades" in export.stdout

    cleanup = _json(tmp_path, "cleanup", "--days", "30", "--tenant", "bob", "--url", url)
    assert cleanup["deleted"]["trades"] == 1
    assert _json(tmp_path, "summary", "--tenant", "alice", "--url", url)["rows"]["trades"] == 2

    backup = _json(tmp_path, "backup", "--tenant", "alice", "--url", url)
    assert Path(backup["path"]).parent == tmp_path / "db" / "tenants" / "alice" / "backups"

    refused = run_cli(tmp_path, "summary", "--tenant", "../bob", "--url", url)
    assert refused.returncode == 1 and "tenant" in refused.stderr
    missing = run_cli(tmp_path, "summary", "--tenant", "carol", "--url", url)
    assert missing.returncode == 1 and "--tenant carol" in missing.stderr
    assert _tenant_files(tmp_path) == {"alice": True, "bob": True}  # nothing made by mistake


async def test_upgrade_brings_every_sqlite_tenant_to_head_and_reports_each(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db' / 'trading.db'}"
    for tenant in ("alice", "bob", "carol"):
        await _tenant(url, tenant, bots=["shared"])
        tenant_file = tmp_path / "db" / "tenants" / tenant / "trading.db"
        await _downgrade(sqlite_url(tenant_file), None, OLDER)
    report = _json(tmp_path, "upgrade", "--url", url)
    assert "before" not in report  # the database's own file does not exist: not created
    assert sorted(report["tenants"]) == ["alice", "bob", "carol"]
    for facts in report["tenants"].values():
        assert (facts["before"], facts["after"]) == (OLDER, HEAD)
        assert facts["backup"] is not None  # each verified backup taken first
    printed = run_cli(tmp_path, "upgrade", "--url", url)
    for tenant in ("alice", "bob", "carol"):
        assert f"tenant {tenant}: already at revision {HEAD}" in printed.stdout
    for tenant in ("alice", "bob", "carol"):
        async with Store(url, tenant=tenant) as store:
            assert store.schema is not None and store.schema.current == HEAD
            await TradeRepository(store).heartbeat("shared")  # writes bot_activity (0005)


async def test_upgrade_brings_every_postgresql_tenant_to_head_with_its_grants(
    pg_url: str, tmp_path: Path
) -> None:
    await _tenant(pg_url, "alice", bots=["shared"])
    await _tenant(pg_url, "bob", bots=["shared"])
    async with Store(pg_url) as own:  # the database's own data, beside the tenants
        await TradeRepository(own).create_bot_instance({"id": "own", "type": "paper"})
    for name in ("alice", "bob"):
        await _downgrade(pg_url, TenantSpace.of(name).schema, OLDER)
    with pytest.raises(SchemaVersionError, match="tenant alice"):
        async with Store(pg_url, tenant="alice"):
            pass
    assert _json(tmp_path, "current", "--tenant", "bob", "--url", pg_url)["current"] == OLDER
    report = _json(tmp_path, "upgrade", "--url", pg_url)
    assert report["before"] == HEAD  # the database's own schema was at head already
    assert {name: (f["before"], f["after"]) for name, f in report["tenants"].items()} == {
        "alice": (OLDER, HEAD),
        "bob": (OLDER, HEAD),
    }
    # The upgrade itself gave each tenant's role the table it brought back.
    assert await _may_write_bot_activity(pg_url) == {"alice": True, "bob": True}
    listed = _json(tmp_path, "tenants", "--url", pg_url)["tenants"]
    assert [t["name"] for t in listed] == ["alice", "bob"] and all(t["bytes"] > 0 for t in listed)
    for tenant in ("alice", "bob"):
        async with Store(pg_url, tenant=tenant) as store:
            # bot_activity came back with the upgrade: the tenant's role may write it (the
            # heartbeat's trigger does).
            await TradeRepository(store).heartbeat("shared")
            assert await store.fetch_all("SELECT count(*) FROM bot_activity") == [(1,)]


async def _may_write_bot_activity(url: str) -> dict[str, bool]:
    import asyncpg

    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        granted = {}
        for tenant in ("alice", "bob"):
            space = TenantSpace.of(tenant)
            granted[tenant] = await conn.fetchval(
                "SELECT has_table_privilege($1, $2, 'INSERT')",
                space.role,
                f"{space.schema}.bot_activity",
            )
        return granted
    finally:
        await conn.close()
