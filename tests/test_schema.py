"""The spec's tables, columns, constraints and named indexes exist, and SQLite enforces them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from asyncstore import Store

SPEC_COLUMNS = {
    "trades": [
        "id",
        "bot_id",
        "trade_type",
        "strategy_name",
        "entry_logic_name",
        "exit_logic_name",
        "symbol",
        "interval",
        "entry_time",
        "exit_time",
        "buy_order_created",
        "buy_order_closed",
        "sell_order_created",
        "sell_order_closed",
        "entry_price",
        "exit_price",
        "entry_value",
        "exit_value",
        "size",
        "direction",
        "commission",
        "gross_pnl",
        "net_pnl",
        "pnl_percentage",
        "exit_reason",
        "status",
        "extra_metadata",
        "created_at",
        "updated_at",
    ],
    "bot_instances": [
        "id",
        "type",
        "config_file",
        "status",
        "current_balance",
        "total_pnl",
        "started_at",
        "last_heartbeat",
        "extra_metadata",
        "created_at",
        "updated_at",
    ],
    "performance_metrics": [
        "id",
        "bot_id",
        "sharpe_ratio",
        "win_rate",
        "profit_factor",
        "max_drawdown",
        "total_return",
        "total_trades",
        "winning_trades",
        "losing_trades",
        "avg_win",
        "avg_loss",
        "largest_win",
        "largest_loss",
        "calculated_at",
        "extra_metadata",
        "created_at",
    ],
}


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@pytest.mark.sqlite_only  # reads the SQLite file's own catalogue
async def test_tables_and_columns_match_the_spec(store: Store, db_path: Path) -> None:
    conn = _connect(db_path)
    for table, columns in SPEC_COLUMNS.items():
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        assert [row[1] for row in info] == columns
        by_name = {row[1]: row for row in info}
        assert by_name["id"][5] == 1  # primary key
        assert by_name["created_at"][3] == 1  # NOT NULL
    trades = {row[1]: row for row in conn.execute("PRAGMA table_info(trades)")}
    for not_null in [
        "bot_id",
        "entry_logic_name",
        "exit_logic_name",
        "symbol",
        "interval",
        "status",
    ]:
        assert trades[not_null][3] == 1, not_null
    assert trades["trade_type"][2] == "VARCHAR(20)"  # the spec's (10) cannot hold 'optimization'
    assert trades["entry_price"][2] == "DECIMAL_TEXT(20,8)"
    assert trades["pnl_percentage"][2] == "DECIMAL_TEXT(10,4)"
    conn.close()


@pytest.mark.sqlite_only  # reads the SQLite file's own catalogue
async def test_named_indexes_exist(store: Store, db_path: Path) -> None:
    conn = _connect(db_path)
    expected = {
        "idx_symbol_status": ["symbol", "status"],
        "idx_entry_time": ["entry_time"],
        "idx_strategy": ["entry_logic_name", "exit_logic_name"],
        "idx_bot_trade_type": ["bot_id", "trade_type"],
    }
    for name, columns in expected.items():
        assert [row[2] for row in conn.execute(f"PRAGMA index_info({name})")] == columns
    conn.close()


@pytest.mark.sqlite_only  # reads the SQLite file's own catalogue
async def test_foreign_keys_point_at_bot_instances(store: Store, db_path: Path) -> None:
    conn = _connect(db_path)
    for table in ["trades", "performance_metrics"]:
        fks = conn.execute(f"PRAGMA foreign_key_list({table})").fetchall()
        assert [(fk[2], fk[3], fk[4]) for fk in fks] == [("bot_instances", "bot_id", "id")]
    conn.close()


@pytest.mark.parametrize(
    ("column", "value"),
    [("trade_type", "swing"), ("direction", "up"), ("status", "pending")],
)
@pytest.mark.sqlite_only  # reads the SQLite file's own catalogue
async def test_check_constraints_guard_enumerations_even_outside_asyncstore(
    store: Store, db_path: Path, column: str, value: str
) -> None:
    conn = _connect(db_path)
    conn.execute("INSERT INTO bot_instances (id, type, status) VALUES ('b', 'paper', 'running')")
    row = {
        "id": "t",
        "bot_id": "b",
        "trade_type": "paper",
        "entry_logic_name": "e",
        "exit_logic_name": "x",
        "symbol": "S",
        "interval": "1h",
        "direction": "long",
        "status": "open",
        column: value,
    }
    names = ", ".join(row)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        conn.execute(
            f"INSERT INTO trades ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values())
        )
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        conn.execute("INSERT INTO bot_instances (id, type, status) VALUES ('c', 'paper', 'paused')")
    conn.close()


@pytest.mark.sqlite_only  # reads the SQLite file's own catalogue
async def test_create_tables_is_idempotent_and_keeps_data(store: Store, db_path: Path) -> None:
    conn = _connect(db_path)
    conn.execute("INSERT INTO bot_instances (id, type, status) VALUES ('b', 'paper', 'running')")
    await store.create_tables()
    assert conn.execute("SELECT count(*) FROM bot_instances").fetchone() == (1,)
    conn.close()


@pytest.mark.sqlite_only  # reads the SQLite file's own catalogue
async def test_wal_and_pragmas(store: Store, db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    report = await store.health()
    assert report.ok and report.journal_mode == "wal" and report.write_queue_depth == 0


async def test_postgresql_has_the_same_schema_and_enforces_it(pg_url: str) -> None:
    import asyncpg

    async with Store(pg_url):
        pass  # builds the schema by the revisions
    conn = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        for table, columns in SPEC_COLUMNS.items():
            found = await conn.fetch(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_name = $1 ORDER BY ordinal_position",
                table,
            )
            assert [row["column_name"] for row in found] == columns
            types = {row["column_name"]: row["data_type"] for row in found}
            assert types["created_at"] == "timestamp with time zone"
            assert types["extra_metadata"] == "json"
        indexes = {row[0] for row in await conn.fetch("SELECT indexname FROM pg_indexes")}
        assert {"idx_symbol_status", "idx_entry_time", "idx_strategy", "idx_bot_trade_type"} <= (
            indexes
        )
        await conn.execute(
            "INSERT INTO bot_instances (id, type, status) VALUES ('b', 'paper', 'running')"
        )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO trades (id, bot_id, trade_type, entry_logic_name, exit_logic_name, "
                "symbol, interval, direction, status) "
                "VALUES ('t', 'b', 'paper', 'e', 'x', 'S', '1h', 'up', 'open')"
            )
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                "INSERT INTO trades (id, bot_id, trade_type, entry_logic_name, exit_logic_name, "
                "symbol, interval, direction, status) "
                "VALUES ('t', 'nobody', 'paper', 'e', 'x', 'S', '1h', 'long', 'open')"
            )
    finally:
        await conn.close()
