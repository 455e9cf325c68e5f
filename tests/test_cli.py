"""`asyncstore demo` as a user runs it: a real process, in a fresh folder, on the default URL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import run_cli

# The SQLite file itself, its single writer, or SQLite processes: not (yet) on PostgreSQL.
pytestmark = pytest.mark.sqlite_only


def test_demo_runs_twice_on_the_default_database(tmp_path: Path) -> None:
    first = run_cli(tmp_path, "demo", "--bots", "3", "--seconds", "1", "--optimizer-rows", "2000")
    assert first.returncode == 0, first.stderr
    assert "asyncstore demo finished" in first.stdout
    assert "optimizer rows (bulk, streamed): 2000" in first.stdout
    # It crashes while holding a committed position, which the restarted bot recovers.
    assert "crashed and restarted one bot: it recovered 1 open trade(s)" in first.stdout
    assert "Sharpe" in first.stdout  # the final table
    db = tmp_path / "db" / "trading.db"
    with sqlite3.connect(db) as conn:
        bots = conn.execute(
            "SELECT count(*) FROM bot_instances WHERE status = 'stopped'"
        ).fetchone()
        trades = conn.execute("SELECT count(*) FROM trades").fetchone()
    conn.close()
    assert bots == (4,) and trades[0] > 2000

    second = run_cli(tmp_path, "demo", "--bots", "3", "--seconds", "1", "--optimizer-rows", "10")
    assert second.returncode == 0, second.stderr
    assert "recovered open trades from an earlier run" in second.stdout


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "demo", "--bots", "0")
    assert result.returncode == 2 and "--bots" in result.stderr
    assert not (tmp_path / "db").exists()


def test_bad_url_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "demo", "--url", "mysql://x/y")
    assert result.returncode == 1 and "unsupported database URL" in result.stderr
