"""Crash harness: SIGKILL a writing process at random moments; nothing acknowledged is lost.

Run alone with `pytest -m crash -s` to see the figures.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = [pytest.mark.crash, pytest.mark.sqlite_only]

CYCLES = int(os.environ.get("ASYNCSTORE_CRASH_CYCLES", "6"))


def _run_and_kill(url: str, seed: int, kill_after_acks: int) -> list[str]:
    """Start the child, SIGKILL it once it has acknowledged `kill_after_acks` writes."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.processes.crash_writer", url, str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert child.stdout is not None
    lines: list[str] = []
    try:
        for line in child.stdout:
            lines.append(line.strip())
            if len(lines) > kill_after_acks:
                break
        child.send_signal(signal.SIGKILL)
        rest, errors = child.communicate(timeout=30)  # lines flushed before the kill
    finally:
        if child.poll() is None:
            child.kill()
    assert "READY" in lines, errors
    assert child.returncode == -signal.SIGKILL, errors  # it was writing, not dead already
    return lines + rest.splitlines()


def test_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    url = f"sqlite+aiosqlite:///{db}"
    rng = random.Random(20261124)
    created: set[str] = set()
    closed: dict[str, Decimal] = {}
    for cycle in range(CYCLES):
        for line in _run_and_kill(url, seed=cycle, kill_after_acks=rng.randint(50, 1500)):
            kind, *fields = line.split()
            if kind == "T":
                created.add(fields[0])
            elif kind == "U":
                closed[fields[0]] = Decimal(fields[1])
        # After every crash the file opens without a manual step and is intact.
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        rows = dict(conn.execute("SELECT id, status FROM trades").fetchall())
        pnl = dict(conn.execute("SELECT id, net_pnl FROM trades WHERE status = 'closed'"))
        conn.close()
        lost = created - rows.keys()
        lost_updates = {
            i for i, value in closed.items() if pnl.get(i) is None or Decimal(pnl[i]) != value
        }
        assert not lost and not lost_updates, (cycle, len(lost), len(lost_updates))
    print(
        f"\ncrash harness: {CYCLES} SIGKILLs, {len(created)} creates and {len(closed)} updates "
        f"acknowledged, lost 0"
    )
