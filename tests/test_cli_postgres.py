"""The admin commands on a PostgreSQL database, as real processes."""

from __future__ import annotations

import json
from pathlib import Path

from asyncstore import Store, TradeRepository
from asyncstore.schema.revisions import head_revision
from tests.conftest import BOT_ID, run_cli, trade_data


async def test_the_commands_work_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    assert (
        json.loads(run_cli(tmp_path, "current", "--json", "--url", pg_url).stdout)["status"]
        == "empty"
    )
    init = run_cli(tmp_path, "init", "--url", pg_url)
    assert init.returncode == 0 and f"revision {head_revision()}" in init.stdout
    async with Store(pg_url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        trade = await repo.create_trade(trade_data())
        await repo.update_trade(
            trade.id, {"status": "closed", "exit_price": "51000", "net_pnl": "1.5"}
        )
        await repo.create_trade(trade_data())

    summary = json.loads(run_cli(tmp_path, "summary", "--json", "--url", pg_url).stdout)
    assert summary["rows"]["trades"] == 2 and summary["open_trades"] == 1
    assert summary["bots"][0]["id"] == BOT_ID and summary["file_bytes"] > 0

    check = run_cli(tmp_path, "check", "--json", "--url", pg_url)
    assert check.returncode == 0 and json.loads(check.stdout)["ok"] is True
    check = run_cli(tmp_path, "check", "--url", pg_url)  # in the server's terms, not SQLite's
    assert check.returncode == 0 and "pg_amcheck" in check.stdout
    assert "integrity_check" not in check.stdout and "journal mode" not in check.stdout

    archive = tmp_path / "old.csv"
    cleanup = run_cli(
        tmp_path,
        "cleanup",
        "--days",
        "0",
        "--yes",
        "--archive",
        str(archive),
        "--json",
        "--url",
        pg_url,
    )
    assert cleanup.returncode == 0, cleanup.stderr
    cleaned = json.loads(cleanup.stdout)
    assert cleaned["deleted"]["trades"] == 1 and cleaned["vacuumed"] == ["trades"]
    assert trade.id in archive.read_text()  # noqa: ASYNC240

    export = run_cli(tmp_path, "export", "trades", "--output", "t.csv", "--url", pg_url)
    assert export.returncode == 0 and "exported 1 trades" in export.stdout

    for command in (["backup"], ["restore", "x.dump"]):
        refused = run_cli(tmp_path, *command, "--url", pg_url)
        assert refused.returncode == 1 and "pg_dump" in refused.stderr
