"""The admin commands of `asyncstore` as an operator runs them: real processes on real files.

Every test drives `python -m asyncstore.cli` as a subprocess against a SQLite file under
tmp_path; data is put in (and read back) with the library or plain sqlite3 in this process.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from alembic import command

from asyncstore import ConfigurationError, Store, TradeRepository, admin
from asyncstore.config import load_settings, sqlite_url
from asyncstore.schema.revisions import alembic_config, head_revision
from asyncstore.sqlite.backup import backup_database
from tests.conftest import BOT_ID, count_rows, open_store_with_bot, run_cli, trade_data

# The SQLite file itself, its single writer, or SQLite processes: not (yet) on PostgreSQL.
pytestmark = pytest.mark.sqlite_only

HEAD = head_revision()
OTHER_BOT = "other_bot_002"


def _cli(db_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command on the database at `db_path` (from the folder above its own)."""
    return run_cli(db_path.parent.parent, *args, "--url", f"sqlite+aiosqlite:///{db_path}")


def _ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _query(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    assert db_path.is_file(), db_path  # sqlite3.connect would create a missing file
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(sql, params).fetchall()


def _execute(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    assert db_path.is_file(), db_path
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        conn.execute(sql, params)


def _revision(db_path: Path) -> str:
    ((version,),) = _query(db_path, "SELECT version_num FROM alembic_version")
    return str(version)


def _trade_ids(db_path: Path, bot_id: str | None = None) -> set[str]:
    if bot_id is None:
        return {row[0] for row in _query(db_path, "SELECT id FROM trades")}
    return {row[0] for row in _query(db_path, "SELECT id FROM trades WHERE bot_id = ?", (bot_id,))}


# Sync helpers: the async tests' own file checks (not loop work; keeps ASYNC240 quiet).
def _size(path: Path) -> int:
    return path.stat().st_size


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


def _is_file(path: Path) -> bool:
    return path.is_file()


def _days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def _closed(days_ago: float, bot_id: str = BOT_ID, status: str = "closed") -> dict[str, Any]:
    """A finished trade whose exit was `days_ago` days ago."""
    return trade_data(
        bot_id=bot_id,
        status=status,
        entry_time=_days_ago(days_ago + 1),
        exit_time=_days_ago(days_ago),
        exit_price=51000.0,
        exit_reason="take_profit",
        gross_pnl=100.0,
        net_pnl=95.5,
    )


def _stored(days_ago: float) -> str:
    """A time as asyncstore stores it (UTC text)."""
    return _days_ago(days_ago).strftime("%Y-%m-%d %H:%M:%S.%f")


def _flat(text: str) -> str:
    """`text` without whitespace: rich wraps long paths at the (80-column) non-tty width."""
    return "".join(text.split())


def _csv_ids(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row["id"] for row in csv.DictReader(handle)]


async def _add_trades(db_url: str, *trades: dict[str, Any]) -> list[str]:
    """Open a Store (creating the bot if needed), insert `trades`, close it; their ids."""
    store, repo = await _open(db_url)
    try:
        return [(await repo.create_trade(trade)).id for trade in trades]
    finally:
        await store.close()


async def _open(db_url: str) -> tuple[Store, TradeRepository]:
    """open_store_with_bot, also on a database that already has the bot."""
    store = Store(db_url)
    await store.start()
    await store.create_tables()
    repo = TradeRepository(store)
    if await repo.get_bot_instance(BOT_ID) is None:
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
    return store, repo


# --- init, current --------------------------------------------------------------------------


def test_init_creates_the_database_at_head_and_can_run_again(db_path: Path) -> None:
    assert not db_path.parent.exists()
    first = _ok_json(_cli(db_path, "init", "--json"))
    assert first == {"database": str(db_path), "revision": HEAD}
    assert db_path.is_file() and _revision(db_path) == HEAD
    tables = {row[0] for row in _query(db_path, "SELECT name FROM sqlite_master")}
    assert {"bot_instances", "trades", "performance_metrics"} <= tables

    again = _cli(db_path, "init")
    assert again.returncode == 0, again.stderr
    assert f"database ready at revision {HEAD}" in again.stdout
    assert _revision(db_path) == HEAD

    current = _ok_json(_cli(db_path, "current", "--json"))
    assert current == {"current": HEAD, "head": HEAD, "status": "current"}


# --- every admin command refuses a missing database ------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["upgrade"],
        ["current"],
        ["backup"],
        ["cleanup", "--days", "30"],
        ["summary"],
        ["export", "trades"],
        ["check"],
    ],
    ids=lambda args: args[0],
)
def test_a_missing_database_is_an_error_and_nothing_is_created(
    tmp_path: Path, args: list[str]
) -> None:
    missing = tmp_path / "nowhere" / "trading.db"
    before = sorted(tmp_path.rglob("*"))
    result = run_cli(tmp_path, *args, "--url", f"sqlite+aiosqlite:///{missing}")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "no database at" in result.stderr and str(missing) in result.stderr
    assert "Traceback" not in result.stderr
    assert not missing.parent.exists()
    assert sorted(tmp_path.rglob("*")) == before  # no file, folder, lock, backup or export


# --- summary, --echo -------------------------------------------------------------------------


async def test_summary_counts_rows_per_table_and_per_bot(db_url: str, db_path: Path) -> None:
    store, repo = await open_store_with_bot(db_url)
    try:
        await repo.create_bot_instance({"id": OTHER_BOT, "type": "live", "status": "stopped"})
        for _ in range(2):
            await repo.create_trade(trade_data())
        await repo.create_trade(_closed(1))
        await repo.create_trade(_closed(2, status="cancelled"))
        await repo.create_trade(trade_data(bot_id=OTHER_BOT))
        await repo.create_performance_metrics({"bot_id": BOT_ID, "sharpe_ratio": 1.5})
        beat = await repo.heartbeat(BOT_ID)
    finally:
        await store.close()

    result = _cli(db_path, "summary", "--json")
    summary = _ok_json(result)
    assert "SELECT" not in result.stderr  # no --echo, no SQL
    assert summary["path"] == str(db_path)
    assert summary["revision"] == HEAD
    assert summary["file_bytes"] > 0 and summary["file_bytes"] == _size(db_path)
    assert summary["rows"] == {"bot_instances": 2, "trades": 5, "performance_metrics": 1}
    assert summary["open_trades"] == 3
    bots = {bot["id"]: bot for bot in summary["bots"]}
    assert set(bots) == {BOT_ID, OTHER_BOT}
    mine, other = bots[BOT_ID], bots[OTHER_BOT]
    assert (mine["type"], mine["status"], mine["trades"], mine["open_trades"]) == (
        "paper",
        "running",
        4,
        2,
    )
    assert datetime.fromisoformat(mine["last_heartbeat"]) == beat
    assert (other["type"], other["status"], other["trades"], other["open_trades"]) == (
        "live",
        "stopped",
        1,
        1,
    )
    assert other["last_heartbeat"] is None

    rich = _cli(db_path, "summary", "--echo")
    assert rich.returncode == 0, rich.stderr
    for name in ("bot_instances", "trades", "performance_metrics", "Tables", "Bots"):
        assert name in rich.stdout
    assert "{" not in rich.stdout  # the rich tables, not JSON
    assert "SELECT" in rich.stderr and "FROM trades" in rich.stderr  # --echo logs the SQL


# --- backup ----------------------------------------------------------------------------------


async def test_backup_to_a_path_to_the_backups_folder_and_never_over_a_file(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    await _add_trades(db_url, trade_data(), _closed(3), trade_data(symbol="ETHUSDT"))
    source_ids = _trade_ids(db_path)
    assert len(source_ids) == 3

    target = tmp_path / "copies" / "manual.db"
    info = _ok_json(_cli(db_path, "backup", str(target), "--json"))
    assert info["path"] == str(target) and info["size_bytes"] == target.stat().st_size
    assert _query(target, "PRAGMA integrity_check") == [("ok",)]
    assert _trade_ids(target) == source_ids
    assert _revision(target) == HEAD
    assert not list(target.parent.glob("*.partial"))

    default = _cli(db_path, "backup")
    assert default.returncode == 0, default.stderr
    assert "backup verified" in default.stdout
    (made,) = list((db_path.parent / "backups").glob("*.db"))
    assert made.name.startswith(db_path.stem)
    assert _query(made, "PRAGMA integrity_check") == [("ok",)]
    assert _trade_ids(made) == source_ids

    taken = tmp_path / "taken.db"
    taken.write_bytes(b"precious bytes")
    refused = _cli(db_path, "backup", str(taken))
    assert refused.returncode == 1
    assert "already exists" in refused.stderr and str(taken) in refused.stderr
    assert taken.read_bytes() == b"precious bytes"


async def test_a_backup_that_fails_its_integrity_check_is_not_kept(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    """The backup API copies pages as they are, so a damaged index reaches the copy; the copy's
    integrity_check catches it, and no file is left that looks like a good backup."""
    await _add_trades(db_url, trade_data(), _closed(3), trade_data(symbol="ETHUSDT"))
    # Damage the file the way a bad tool (or bad disk) could: the index's declared columns no
    # longer match its entries. The file still opens; integrity_check reports the index.
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute(
            "UPDATE sqlite_schema SET sql = 'CREATE INDEX idx_symbol_status ON trades "
            "(status, symbol)' WHERE name = 'idx_symbol_status'"
        )
    assert _query(db_path, "PRAGMA integrity_check") != [("ok",)]

    target = tmp_path / "copies" / "manual.db"
    refused = _cli(db_path, "backup", str(target))
    assert refused.returncode == 1, refused.stdout
    assert "failed its integrity check" in refused.stderr and "idx_symbol_status" in refused.stderr
    assert not target.exists() and not list(target.parent.glob("*"))  # no copy, no .partial
    into_folder = _cli(db_path, "backup")
    assert into_folder.returncode == 1 and "integrity check" in into_folder.stderr
    assert not list((db_path.parent / "backups").glob("*"))


# --- restore ---------------------------------------------------------------------------------


async def test_restore_brings_back_the_backup_and_saves_the_database_first(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    kept = set(await _add_trades(db_url, trade_data(), _closed(2)))
    backup = tmp_path / "before-changes.db"
    assert _cli(db_path, "backup", str(backup)).returncode == 0
    newer = set(await _add_trades(db_url, trade_data(symbol="ETHUSDT"), _closed(1)))
    assert _trade_ids(db_path) == kept | newer

    report = _ok_json(_cli(db_path, "restore", str(backup), "--json"))
    assert _trade_ids(db_path) == kept
    assert _query(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert report["restored_from"] == str(backup)
    saved = Path(report["previous_saved_to"])
    assert _is_file(saved) and saved.parent == db_path.parent / "backups"
    assert _trade_ids(saved) == kept | newer  # the restore can be undone

    # A Store opens the restored file as usual and sees the backup's trades.
    store, repo = await _open(db_url)
    try:
        assert {trade.id for trade in await repo.get_open_trades()} < kept
    finally:
        await store.close()


async def test_restore_is_refused_while_a_store_has_the_database_open(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    store, repo = await open_store_with_bot(db_url)
    try:
        await repo.create_trade(trade_data())
        backup = tmp_path / "good.db"
        await asyncio.to_thread(backup_database, db_path, backup)
        await repo.create_trade(_closed(1))
        before = _trade_ids(db_path)

        result = _cli(db_path, "restore", str(backup))
        assert result.returncode == 1
        assert "in use" in result.stderr and "Traceback" not in result.stderr
        assert _trade_ids(db_path) == before and len(before) == 2
        # The store is still usable after the refused restore.
        await repo.create_trade(trade_data(symbol="ETHUSDT"))
        assert count_rows(db_path) == 3
    finally:
        await store.close()
    assert not list((db_path.parent / "backups").glob("*before-restore*"))


async def test_restore_of_a_missing_or_damaged_file_changes_nothing(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    ids = set(await _add_trades(db_url, trade_data(), _closed(5)))
    content = _bytes(db_path)

    missing = tmp_path / "no-such-backup.db"
    absent = _cli(db_path, "restore", str(missing))
    assert absent.returncode == 1
    assert "no backup file at" in absent.stderr and str(missing) in absent.stderr
    assert not missing.exists()

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(8192))
    damaged = _cli(db_path, "restore", str(garbage))
    assert damaged.returncode == 1
    assert "not a sound database" in damaged.stderr and "Traceback" not in damaged.stderr
    assert _trade_ids(db_path) == ids
    assert _bytes(db_path) == content
    assert _query(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert not (db_path.parent / "backups").exists()  # not even the safety copy was written


# --- cleanup ---------------------------------------------------------------------------------


async def test_cleanup_archives_exactly_the_deleted_rows(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    store, repo = await open_store_with_bot(db_url)
    try:
        old = [(await repo.create_trade(_closed(100))).id for _ in range(3)]
        old.append((await repo.create_trade(_closed(120, status="cancelled"))).id)
        recent = [(await repo.create_trade(_closed(5))).id for _ in range(2)]
        old_open = [
            (await repo.create_trade(trade_data(entry_time=_days_ago(200)))).id for _ in range(2)
        ]
        old_metrics = await repo.create_performance_metrics(
            {"bot_id": BOT_ID, "calculated_at": _days_ago(100)}
        )
        new_metrics = await repo.create_performance_metrics(
            {"bot_id": BOT_ID, "calculated_at": _days_ago(1)}
        )
    finally:
        await store.close()
    for trade_id in old_open:  # opened long ago (created_at is set by asyncstore: age it)
        _execute(db_path, "UPDATE trades SET created_at = ? WHERE id = ?", (_stored(300), trade_id))

    archive = tmp_path / "archive" / "old.csv"
    report = _ok_json(
        _cli(
            db_path,
            "cleanup",
            "--days",
            "30",
            "--metrics-days",
            "30",
            "--archive",
            str(archive),
            "--json",
        )
    )
    assert report["deleted"] == {"trades": 4, "performance_metrics": 1}
    assert report["total"] == 5
    metrics_archive = archive.with_name("old.metrics.csv")
    assert report["archives"] == [str(archive), str(metrics_archive)]
    assert _trade_ids(db_path) == set(recent) | set(old_open)
    archived = _csv_ids(archive)
    assert sorted(archived) == sorted(old)  # exactly the deleted ones, each once
    assert _csv_ids(metrics_archive) == [old_metrics.id]
    assert {row[0] for row in _query(db_path, "SELECT id FROM performance_metrics")} == {
        new_metrics.id
    }

    # Again, to Parquet, with the rich output.
    older = await _add_trades(db_url, _closed(40), _closed(400), _closed(3))
    parquet = tmp_path / "archive" / "old.parquet"
    rich = _cli(db_path, "cleanup", "--days", "30", "--archive", str(parquet))
    assert rich.returncode == 0, rich.stderr
    assert "deleted 2 old trades rows" in rich.stdout
    assert _flat(f"archived to {parquet}") in _flat(rich.stdout)
    table = pq.read_table(parquet)
    assert sorted(table.column("id").to_pylist()) == sorted(older[:2])
    assert set(table.column("bot_id").to_pylist()) == {BOT_ID}
    assert _trade_ids(db_path) == set(recent) | set(old_open) | {older[2]}
    assert not parquet.with_name("old.parquet.parts").exists()
    # No metrics were old this time: no empty metrics archive is left behind.
    assert not parquet.with_name("old.metrics.parquet").exists()


async def test_cleanup_bad_arguments(db_url: str, db_path: Path, tmp_path: Path) -> None:
    ids = set(await _add_trades(db_url, _closed(100), _closed(200)))

    negative = _cli(db_path, "cleanup", "--days", "-1")
    assert negative.returncode == 2 and "--days" in negative.stderr

    no_days = _cli(db_path, "cleanup")
    assert no_days.returncode == 2 and "--days" in no_days.stderr

    text_file = tmp_path / "x.txt"
    unknown = _cli(db_path, "cleanup", "--days", "30", "--archive", str(text_file))
    assert unknown.returncode == 1
    assert "unknown format" in unknown.stderr and ".csv or .parquet" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    assert not text_file.exists()

    assert _trade_ids(db_path) == ids  # nothing deleted by any of them


# --- export ----------------------------------------------------------------------------------


async def test_export_trades_of_one_bot_to_csv_and_parquet(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    store, repo = await open_store_with_bot(db_url)
    try:
        await repo.create_bot_instance({"id": OTHER_BOT, "type": "live"})
        mine = [(await repo.create_trade(trade_data())).id for _ in range(3)]
        mine.append((await repo.create_trade(_closed(10))).id)
        theirs = [(await repo.create_trade(trade_data(bot_id=OTHER_BOT))).id for _ in range(2)]
    finally:
        await store.close()
    assert set(theirs).isdisjoint(mine)

    out_csv = tmp_path / "mine.csv"
    export = _cli(db_path, "export", "trades", "--bot", BOT_ID, "--output", str(out_csv), "--json")
    assert _ok_json(export) == {"rows": 4, "path": str(out_csv), "format": "csv"}
    with out_csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["id"] for row in rows) == sorted(mine)
    assert {row["bot_id"] for row in rows} == {BOT_ID}
    (closed,) = [row for row in rows if row["status"] == "closed"]
    assert closed["net_pnl"].startswith("95.5") and closed["exit_reason"] == "take_profit"

    out_parquet = tmp_path / "mine.parquet"
    parquet = _cli(
        db_path,
        "export",
        "trades",
        "--bot",
        BOT_ID,
        "--format",
        "parquet",
        "--output",
        str(out_parquet),
    )
    assert parquet.returncode == 0, parquet.stderr
    assert _flat(f"exported 4 trades to {out_parquet}") in _flat(parquet.stdout)
    table = pq.read_table(out_parquet)
    assert sorted(table.column("id").to_pylist()) == sorted(mine)
    assert set(table.column("bot_id").to_pylist()) == {BOT_ID}

    content = out_csv.read_bytes()
    again = _cli(db_path, "export", "trades", "--bot", OTHER_BOT, "--output", str(out_csv))
    assert again.returncode == 1
    assert "exists" in again.stderr and str(out_csv) in again.stderr
    assert out_csv.read_bytes() == content


# --- check -----------------------------------------------------------------------------------


async def test_check_reports_health_schema_and_foreign_key_problems(
    db_url: str, db_path: Path
) -> None:
    (trade_id,) = await _add_trades(db_url, trade_data())

    healthy = _cli(db_path, "check")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "healthy" in healthy.stdout and "PROBLEMS" not in healthy.stdout
    report = _ok_json(_cli(db_path, "check", "--json"))
    assert report["ok"] is True and report["problems"] == []
    assert report["integrity"] == [] and report["foreign_key_violations"] == []

    _execute(db_path, "UPDATE alembic_version SET version_num = '0001'")
    behind = _cli(db_path, "check", "--json")
    assert behind.returncode == 3, behind.stderr
    report = json.loads(behind.stdout)
    assert report["ok"] is False
    assert [p for p in report["problems"] if p.startswith("schema")] == report["problems"]
    assert len(report["problems"]) == 1 and "0001" in report["problems"][0]

    _execute(db_path, "UPDATE alembic_version SET version_num = ?", (HEAD,))
    _execute(db_path, "UPDATE trades SET bot_id = 'ghost_bot' WHERE id = ?", (trade_id,))
    orphan = _cli(db_path, "check")
    assert orphan.returncode == 3, orphan.stderr
    assert "PROBLEMS FOUND" in orphan.stdout and "healthy" not in orphan.stdout
    assert "foreign key" in orphan.stdout and "1 violations" in orphan.stdout


# --- upgrade ---------------------------------------------------------------------------------


async def test_upgrade_backs_up_then_brings_an_old_database_to_head(
    db_url: str, db_path: Path
) -> None:
    ids = set(await _add_trades(db_url, trade_data(), _closed(7)))
    await asyncio.to_thread(command.downgrade, alembic_config(sqlite_url(db_path)), "0001")
    assert _revision(db_path) == "0001"

    behind = _ok_json(_cli(db_path, "current", "--json"))
    assert behind == {"current": "0001", "head": HEAD, "status": "behind"}

    report = _ok_json(_cli(db_path, "upgrade", "--json"))
    assert (report["before"], report["after"]) == ("0001", HEAD)
    backup = Path(report["backup"]["path"])
    assert _is_file(backup) and backup.parent == db_path.parent / "backups"
    assert _revision(backup) == "0001" and _trade_ids(backup) == ids
    assert _query(backup, "PRAGMA integrity_check") == [("ok",)]
    assert _revision(db_path) == HEAD and _trade_ids(db_path) == ids

    now = _ok_json(_cli(db_path, "current", "--json"))
    assert now == {"current": HEAD, "head": HEAD, "status": "current"}

    nothing = _cli(db_path, "upgrade")
    assert nothing.returncode == 0, nothing.stderr
    assert f"already at revision {HEAD}" in nothing.stdout
    assert list((db_path.parent / "backups").glob("*.db")) == [backup]

    _execute(db_path, "UPDATE alembic_version SET version_num = 'ffff'")
    ahead = _cli(db_path, "upgrade")
    assert ahead.returncode == 1
    assert "ffff" in ahead.stderr and HEAD in ahead.stderr and "Traceback" not in ahead.stderr
    assert "newer asyncstore" in ahead.stderr  # refused up front, not a failed migration
    assert _revision(db_path) == "ffff" and _trade_ids(db_path) == ids
    assert list((db_path.parent / "backups").glob("*.db")) == [backup]  # nor backed up


# --- usage -----------------------------------------------------------------------------------


def test_unknown_or_missing_subcommand_exits_2(tmp_path: Path) -> None:
    unknown = run_cli(tmp_path, "frobnicate")
    assert unknown.returncode == 2 and "frobnicate" in unknown.stderr
    nothing = run_cli(tmp_path)
    assert nothing.returncode == 2 and "usage" in nothing.stderr
    assert list(tmp_path.iterdir()) == []


async def test_a_killed_bot_does_not_leave_the_database_locked(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    backup = tmp_path / "before-the-bot.db"
    ids = set(await _add_trades(db_url, trade_data()))
    assert _cli(db_path, "backup", str(backup)).returncode == 0
    bot = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "tests.processes.steady_writer", db_url, "killed_bot", "60"],
        cwd=Path(__file__).parent.parent,
    )
    try:
        # Wait (bounded) until the bot has committed trades, i.e. its Store holds the lock.
        for _ in range(600):
            if len(_trade_ids(db_path)) > len(ids):
                break
            await asyncio.sleep(0.05)
        assert len(_trade_ids(db_path)) > len(ids)
        refused = _cli(db_path, "restore", str(backup))
        assert refused.returncode == 1 and "in use" in refused.stderr
    finally:
        bot.kill()  # SIGKILL: no close(), no cleanup; the kernel drops its lock
        await bot.wait()
    restored = _cli(db_path, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert _trade_ids(db_path) == ids
    assert _cli(db_path, "check").returncode == 0


async def test_restore_recreates_a_lost_database_from_its_backup(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    ids = set(await _add_trades(db_url, trade_data(), _closed(5)))
    backup = tmp_path / "offsite.db"
    assert _cli(db_path, "backup", str(backup)).returncode == 0
    for suffix in ("", "-wal", "-shm"):
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    restored = _cli(db_path, "restore", str(backup), "--json")
    assert restored.returncode == 0, restored.stderr
    report = json.loads(restored.stdout)
    assert report["previous_saved_to"] is None and report["revision"]["current"] == HEAD
    assert _trade_ids(db_path) == ids
    assert _cli(db_path, "check").returncode == 0


async def test_restore_over_a_damaged_database_moves_it_aside(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    ids = set(await _add_trades(db_url, trade_data()))
    backup = tmp_path / "good.db"
    assert _cli(db_path, "backup", str(backup)).returncode == 0
    damaged = os.urandom(4096) * 3
    db_path.write_bytes(damaged)  # noqa: ASYNC240
    check = _cli(db_path, "check")
    assert check.returncode == 3 and "Traceback" not in check.stderr
    restored = _cli(db_path, "restore", str(backup), "--json")
    assert restored.returncode == 0, restored.stderr
    aside = Path(json.loads(restored.stdout)["damaged_moved_to"])
    assert aside.read_bytes() == damaged  # noqa: ASYNC240  (kept for inspection)
    assert _trade_ids(db_path) == ids


def test_the_admin_functions_of_0_1_still_work_blocking(db_path: Path, tmp_path: Path) -> None:
    """Scripts written for asyncstore 0.1 call `asyncstore.admin`'s blocking functions."""
    settings = load_settings(f"sqlite+aiosqlite:///{db_path}", {})
    with pytest.raises(ConfigurationError, match="no database"):
        admin.require_database(settings)
    assert _cli(db_path, "init").returncode == 0
    assert admin.require_database(settings) == db_path
    assert admin.schema_state(settings).status == "current"
    assert admin.check_database(settings).ok
    info = admin.take_backup(settings, tmp_path / "copy.db")
    assert _query(info.path, "PRAGMA integrity_check") == [("ok",)]
