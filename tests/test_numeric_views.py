"""The *_numeric views: other tools read money as numbers, with one query on both backends.

On SQLite the check runs the real `sqlite3` command-line shell, as a user with Datasette or
Grafana would reach the file, and shows that the base table answers the same query wrong.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from asyncstore import Store, TradeRepository
from asyncstore.schema.numeric_views import NUMERIC_VIEWS
from tests.conftest import BOT_ID, trade_data

# Text order and numeric order disagree on these: '9.99…' > '19.5…' > '100.…' as text.
NET_PNLS = [
    "9.99020000",
    "19.54850000",
    "-3.50000000",
    "100.00000001",
    "-120.12345678",
    "2.50000000",
    "10.00000000",
    "10.00000001",
    "0.00000001",
]
EIGHT_PLACES = Decimal("0.00000001")

# The dashboard's queries, the same text on both backends.
MAX_SQL = "SELECT MAX(net_pnl) FROM {table}"
ORDER_SQL = "SELECT id FROM {table} WHERE net_pnl IS NOT NULL ORDER BY net_pnl DESC"
OVER_TEN_SQL = "SELECT count(*) FROM {table} WHERE net_pnl > 10"
SUM_SQL = "SELECT SUM(net_pnl) FROM {table}"
BALANCE_SQL = "SELECT id FROM {table} ORDER BY current_balance DESC"
WIN_RATE_SQL = "SELECT MAX(win_rate) FROM {table}"


async def _write_trades(url: str) -> dict[str, Decimal]:
    """Closed trades with NET_PNLS, an open one without pnl, two bots and two metrics rows;
    returns net_pnl by trade id, as written."""
    entry = datetime.now(UTC) - timedelta(hours=2)
    written: dict[str, Decimal] = {}
    async with Store(url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper", "current_balance": "9.5"})
        await repo.create_bot_instance({"id": "rich", "type": "paper", "current_balance": "10.25"})
        for pnl in NET_PNLS:
            trade = await repo.create_trade(
                trade_data(
                    entry_time=entry,
                    status="closed",
                    exit_price="50100",
                    exit_time=entry + timedelta(hours=1),
                    net_pnl=pnl,
                )
            )
            written[trade.id] = Decimal(pnl)
        await repo.create_trade(trade_data(entry_time=entry))  # open: net_pnl NULL
        for win_rate in ("9.50", "55.00"):
            await repo.create_performance_metrics({"bot_id": BOT_ID, "win_rate": win_rate})
    return written


def _sqlite3_cli(path: Path, sql: str) -> list[str]:
    """The lines the sqlite3 shell prints for `sql` on the file."""
    binary = shutil.which("sqlite3")
    if binary is None:
        reason = "the sqlite3 command-line shell is missing (apt-get install sqlite3)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    done = subprocess.run(
        [binary, "-batch", str(path), sql], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.splitlines()


@pytest.mark.sqlite_only
async def test_the_sqlite3_shell_reads_money_right_from_the_views_and_wrong_from_the_tables(
    db_path: Path, db_url: str
) -> None:
    written = await _write_trades(db_url)
    highest = max(written.values())
    by_pnl_desc = sorted(written, key=written.__getitem__, reverse=True)
    over_ten = sum(1 for pnl in written.values() if pnl > 10)

    def ask(sql: str, table: str = "trades_numeric") -> list[str]:
        return _sqlite3_cli(db_path, sql.format(table=table))

    assert Decimal(ask(MAX_SQL)[0]) == highest
    assert ask(ORDER_SQL) == by_pnl_desc
    assert ask(OVER_TEN_SQL) == [str(over_ten)]
    view_sum = Decimal(ask(SUM_SQL)[0]).quantize(EIGHT_PLACES)  # a double, so rounded
    assert view_sum == sum(written.values(), Decimal(0))
    assert ask(BALANCE_SQL, "bot_instances_numeric") == ["rich", BOT_ID]
    assert ask(WIN_RATE_SQL, "performance_metrics_numeric") == ["55.0"]

    # The same queries on the exact text compare strings: this is why the views exist.
    # (SUM alone converts the text and agrees.)
    assert ask(MAX_SQL, "trades") == ["9.99020000"]
    assert ask(ORDER_SQL, "trades") != by_pnl_desc
    assert ask(OVER_TEN_SQL, "trades") != [str(over_ten)]
    assert ask(BALANCE_SQL, "bot_instances") == [BOT_ID, "rich"]
    assert ask(WIN_RATE_SQL, "performance_metrics") == ["9.50"]


@pytest.mark.sqlite_only
async def test_the_views_have_their_tables_columns_in_order_and_money_as_real(
    db_path: Path, db_url: str
) -> None:
    await _write_trades(db_url)
    for view, table in NUMERIC_VIEWS.items():
        assert _sqlite3_cli(db_path, f"SELECT name FROM pragma_table_info('{view}')") == [
            column.name for column in table.columns
        ]
    types = _sqlite3_cli(
        db_path,
        "SELECT DISTINCT typeof(net_pnl), typeof(entry_price), typeof(symbol) "
        "FROM trades_numeric WHERE status = 'closed'",
    )
    assert types == ["real|real|text"]


async def test_postgresql_answers_the_same_queries_from_the_same_views(pg_url: str) -> None:
    import asyncpg

    written = await _write_trades(pg_url)
    conn = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        for table in ("trades_numeric", "trades"):  # NUMERIC already: both answer right
            assert await conn.fetchval(MAX_SQL.format(table=table)) == max(written.values())
            ids = [row[0] for row in await conn.fetch(ORDER_SQL.format(table=table))]
            assert ids == sorted(written, key=written.__getitem__, reverse=True)
            over_ten = sum(1 for pnl in written.values() if pnl > 10)
            assert await conn.fetchval(OVER_TEN_SQL.format(table=table)) == over_ten
            assert await conn.fetchval(SUM_SQL.format(table=table)) == sum(written.values())
        balances = await conn.fetch(BALANCE_SQL.format(table="bot_instances_numeric"))
        assert [row[0] for row in balances] == ["rich", BOT_ID]
        win_rate = WIN_RATE_SQL.format(table="performance_metrics_numeric")
        assert await conn.fetchval(win_rate) == Decimal("55.00")
        for view, table in NUMERIC_VIEWS.items():
            columns = await conn.fetch(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = $1 ORDER BY ordinal_position",
                view,
            )
            assert [row[0] for row in columns] == [column.name for column in table.columns]
            assert dict(columns)["created_at"] == "timestamp with time zone"
        types = await conn.fetch(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'trades_numeric' AND column_name = 'net_pnl'"
        )
        assert [row[0] for row in types] == ["numeric"]
    finally:
        await conn.close()
