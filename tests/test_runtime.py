"""Heartbeat task, stale bots, and restart recovery across a real process kill."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from asyncstore import NotFoundError, Store, TradeRepository
from asyncstore.bots import BotHeartbeat, find_stale_bots, mark_stale_bots, recover_bot
from tests.conftest import BOT_ID, wait_until, write_lock_held
from tests.test_crash import _run_and_kill


async def test_heartbeat_task_beats_and_marks_stopped(repo: TradeRepository, bot: str) -> None:
    async with BotHeartbeat(repo, BOT_ID, every=0.01) as beating:
        first = (await repo.get_bot_instance(BOT_ID)).last_heartbeat  # type: ignore[union-attr]
        await wait_until(lambda: beating.beats >= 3)
        later = (await repo.get_bot_instance(BOT_ID)).last_heartbeat  # type: ignore[union-attr]
        assert first is not None and later is not None and later > first
    record = await repo.get_bot_instance(BOT_ID)
    assert record is not None and record.status == "stopped"


async def test_heartbeat_task_marks_error_when_the_bot_fails(
    repo: TradeRepository, bot: str
) -> None:
    with pytest.raises(RuntimeError):
        async with BotHeartbeat(repo, BOT_ID, every=1):
            raise RuntimeError("strategy crashed")
    assert (await repo.get_bot_instance(BOT_ID)).status == "error"  # type: ignore[union-attr]


@pytest.mark.sqlite_only  # reads the SQLite file itself
async def test_heartbeat_task_survives_transient_errors(db_url: str, db_path: Path) -> None:
    async with Store(db_url, busy_timeout_ms=20) as store:
        await store.create_tables()
        repo = TradeRepository(store)
        await repo.create_bot_instance({"id": BOT_ID, "type": "paper"})
        async with BotHeartbeat(repo, BOT_ID, every=0.01) as beating:
            with write_lock_held(db_path):  # another process holds the file for a while
                await wait_until(lambda: beating.failures >= 2)
            beats = beating.beats
            await wait_until(lambda: beating.beats >= beats + 2)  # and it carries on
        assert "locked" in str(beating.last_error)


async def test_heartbeat_task_for_unknown_bot(repo: TradeRepository) -> None:
    with pytest.raises(NotFoundError):
        async with BotHeartbeat(repo, "ghost", every=1):
            pass


async def test_stale_bots_are_found_and_marked(repo: TradeRepository, bot: str) -> None:
    await repo.create_bot_instance({"id": "fresh", "type": "paper"})
    await repo.create_bot_instance({"id": "stopped_long_ago", "type": "paper", "status": "stopped"})
    await repo.update_bot_instance(
        BOT_ID, {"last_heartbeat": datetime.now(UTC) - timedelta(seconds=20)}
    )
    await repo.heartbeat("fresh")
    stale = await find_stale_bots(repo, every=5, missed=3)
    assert [b.id for b in stale] == [BOT_ID]  # 20 s > 3 x 5 s; stopped bots are not stale
    marked = await mark_stale_bots(repo, every=5, missed=3)
    assert [(b.id, b.status) for b in marked] == [(BOT_ID, "error")]
    assert await find_stale_bots(repo, every=5) == []


async def test_recovery_after_a_real_crash(tmp_path: Path) -> None:
    """A bot process is SIGKILLed; a new process recovers each bot and closes what it inherited."""
    db = tmp_path / "recover.db"
    url = f"sqlite+aiosqlite:///{db}"
    lines = _run_and_kill(url, seed=1, kill_after_acks=300)
    created = {line.split()[1] for line in lines if line.startswith("T ")}
    closed = {line.split()[1] for line in lines if line.startswith("U ")}
    async with Store(url) as store:
        repo = TradeRepository(store)
        inherited: set[str] = set()
        for n in range(50):
            recovery = await recover_bot(repo, f"crash_bot_{n:02d}")
            assert recovery.bot.status == "running"
            inherited |= {t.id for t in recovery.open_trades}
            await asyncio.gather(
                *(
                    repo.update_trade(
                        t.id, {"status": "closed", "exit_price": "51000", "net_pnl": 0}
                    )
                    for t in recovery.open_trades
                )
            )
        assert created - closed <= inherited  # every acknowledged open position came back
        assert await repo.get_open_trades() == []
        with pytest.raises(NotFoundError):
            await recover_bot(repo, "ghost")
