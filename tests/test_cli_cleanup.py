"""`asyncstore cleanup` with care: a dry run that writes nothing and counts what a real run then
deletes, and a cleanup that would empty a table refused unless confirmed with --yes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asyncstore import Store, TradeRepository
from tests.conftest import BOT_ID, run_cli, trade_data

TABLES = ("bot_instances", "trades", "performance_metrics")


def _days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


async def _database_of_every_age(db_url: str) -> None:
    """Old and recent closed and cancelled trades, an ancient open trade, old and new metrics."""
    async with Store(db_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})

        async def finished(count: int, days: float, status: str) -> None:
            for _ in range(count):
                trade = await repo.create_trade(trade_data(entry_time=_days_ago(days + 1)))
                change = {"status": status, "exit_time": _days_ago(days)}
                if status == "closed":
                    change["exit_price"] = "50100"
                await repo.update_trade(trade.id, change)

        await finished(7, 120, "closed")
        await finished(3, 95, "cancelled")
        await finished(4, 10, "closed")
        await repo.create_trade(trade_data(entry_time=_days_ago(1000)))  # open: always kept
        for days in (400, 500, 30):
            await repo.create_performance_metrics(
                {"bot_id": BOT_ID, "calculated_at": _days_ago(days)}
            )


async def _every_row(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    async with Store(db_url) as store:
        return {
            table: await store.fetch_all(f"SELECT * FROM {table} ORDER BY id") for table in TABLES
        }


def _file_digests(path: Path | None) -> dict[str, str]:
    """The database file and its companions, byte for byte (SQLite; nothing for a server)."""
    if path is None:
        return {}
    files = sorted(path.parent.glob(path.name + "*"))
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _named(folder: Path, pattern: str) -> list[Path]:
    return list(folder.glob(pattern))


async def _database_path(db_url: str) -> Path | None:
    async with Store(db_url) as store:
        return store.path


async def test_a_dry_run_writes_nothing_and_counts_what_the_real_run_deletes(
    db_url: str, tmp_path: Path
) -> None:
    await _database_of_every_age(db_url)
    path = await _database_path(db_url)
    rows_before, files_before = await _every_row(db_url), _file_digests(path)
    archive = tmp_path / "old.csv"

    dry = run_cli(
        tmp_path, "cleanup", "--days", "90", "--dry-run", "--archive", str(archive), "--json",
        "--url", db_url,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    preview = json.loads(dry.stdout)
    assert preview["dry_run"] is True
    assert preview["would_delete"] == {"trades": 10, "performance_metrics": 2}
    assert preview["total"] == 12
    assert _file_digests(path) == files_before  # byte for byte
    assert await _every_row(db_url) == rows_before  # row for row
    assert _named(tmp_path, "old*") == []  # no archive, no staged batch

    text = run_cli(tmp_path, "cleanup", "--days", "90", "--dry-run", "--url", db_url)
    assert text.stdout.splitlines()[0] == "dry run: nothing was deleted"
    assert "would delete 10 old trades rows" in text.stdout
    assert "12 rows would be deleted in all" in text.stdout

    real = run_cli(tmp_path, "cleanup", "--days", "90", "--json", "--url", db_url)
    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout)["deleted"] == preview["would_delete"]
    after = await _every_row(db_url)
    assert len(after["trades"]) == len(rows_before["trades"]) - 10
    assert len(after["performance_metrics"]) == len(rows_before["performance_metrics"]) - 2


async def test_emptying_a_table_is_refused_unless_confirmed(db_url: str, tmp_path: Path) -> None:
    await _database_of_every_age(db_url)
    rows_before = await _every_row(db_url)

    every_trade = run_cli(tmp_path, "cleanup", "--days", "0", "--url", db_url)
    every_metric = run_cli(
        tmp_path, "cleanup", "--days", "90", "--metrics-days", "0", "--url", db_url
    )
    for refused, option in ((every_trade, "--days"), (every_metric, "--metrics-days")):
        assert refused.returncode == 2
        assert f"{option} 0 deletes every" in refused.stderr
        assert "nothing was deleted" in refused.stderr and "--yes" in refused.stderr
    assert await _every_row(db_url) == rows_before

    counted = run_cli(tmp_path, "cleanup", "--days", "0", "--dry-run", "--json", "--url", db_url)
    assert counted.returncode == 0, counted.stderr
    assert json.loads(counted.stdout)["would_delete"]["trades"] == 14
    assert await _every_row(db_url) == rows_before

    confirmed = run_cli(tmp_path, "cleanup", "--days", "0", "--yes", "--json", "--url", db_url)
    assert confirmed.returncode == 0, confirmed.stderr
    assert json.loads(confirmed.stdout)["deleted"]["trades"] == 14  # every closed/cancelled one
    (open_trade,) = (await _every_row(db_url))["trades"]
    assert "open" in open_trade  # the open trade is never deleted
