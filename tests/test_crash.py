"""Crash harness: SIGKILL a writing process at random moments; nothing acknowledged is lost,
on SQLite (the file stays intact) and on PostgreSQL, and every bot's balance still equals the
sum of its closed trades (close_trade books both in one transaction).

Run alone with `pytest -m crash -s` to see the figures.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from asyncstore import Store
from tests.processes.crash_writer import START_BALANCE

pytestmark = pytest.mark.crash

CYCLES = int(os.environ.get("ASYNCSTORE_CRASH_CYCLES", "6"))


def _run_and_kill(url: str, seed: int, kill_after_acks: int) -> list[str]:
    """Start the child, SIGKILL it once it has acknowledged `kill_after_acks` writes."""
    with subprocess.Popen(
        [sys.executable, "-m", "tests.processes.crash_writer", url, str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    ) as child:  # closes the pipes and reaps the child, whatever happens
        assert child.stdout is not None and child.stderr is not None
        lines: list[str] = []
        try:
            for line in child.stdout:
                lines.append(line.strip())
                if len(lines) > kill_after_acks:
                    break
        finally:
            child.send_signal(signal.SIGKILL)
        # The lines flushed before the kill are read through the same buffered reader:
        # communicate() reads the raw pipe and would skip what this reader already buffered
        # (and could split a line there).
        lines += child.stdout.read().splitlines()
        errors = child.stderr.read()
    assert "READY" in lines, errors
    assert child.returncode == -signal.SIGKILL, errors  # it was writing, not dead already
    return lines


async def test_sigkill_loses_nothing_acknowledged(db_url: str, backend: str, db_path: Path) -> None:
    rng = random.Random(20261124)
    created: set[str] = set()
    closed: dict[str, Decimal] = {}
    for cycle in range(CYCLES):
        kill_after = rng.randint(50, 1500)
        for line in await asyncio.to_thread(_run_and_kill, db_url, cycle, kill_after):
            # Each line is one write() of at most PIPE_BUF bytes, so never torn by the kill.
            match line.split():
                case ["T", trade_id]:
                    created.add(trade_id)
                case ["U", trade_id, net_pnl]:
                    closed[trade_id] = Decimal(net_pnl)
                case ["READY"]:
                    pass
                case _:
                    raise AssertionError(f"cycle {cycle}: unexpected line {line!r}")
        if backend == "sqlite":  # the file is intact after every crash
            conn = sqlite3.connect(db_path)
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
            conn.close()
        async with Store(db_url) as store:  # and opens without a manual step
            rows = dict(await store.fetch_all("SELECT id, status FROM trades"))
            pnl = dict(
                await store.fetch_all(
                    "SELECT id, net_pnl FROM trades WHERE status = ?", ("closed",)
                )
            )
            # Each close moved its bot's balance in the same transaction: whatever moment the
            # kill came, every bot's books agree with its closed trades.
            books = await store.fetch_all(
                "SELECT id, total_pnl, current_balance FROM bot_instances"
            )
            booked = await store.fetch_all(
                "SELECT bot_id, net_pnl FROM trades WHERE status = ?", ("closed",)
            )
        sums: dict[str, Decimal] = {}
        for bot_id, net_pnl in booked:
            sums[bot_id] = sums.get(bot_id, Decimal(0)) + Decimal(net_pnl)
        for bot_id, total_pnl, balance in books:
            expected = sums.get(bot_id, Decimal(0))
            assert Decimal(total_pnl or 0) == expected, (cycle, bot_id)
            assert Decimal(balance) == Decimal(START_BALANCE) + expected, (cycle, bot_id)
        lost = created - rows.keys()
        lost_updates = {
            i for i, value in closed.items() if pnl.get(i) is None or Decimal(pnl[i]) != value
        }
        assert not lost and not lost_updates, (cycle, len(lost), len(lost_updates))
    print(
        f"\ncrash harness ({backend}): {CYCLES} SIGKILLs, {len(created)} creates and "
        f"{len(closed)} updates acknowledged, lost 0"
    )
