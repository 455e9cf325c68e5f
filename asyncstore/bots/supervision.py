"""Finding bots that stopped beating: running in the database, silent for too long."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from asyncstore.clock import utc_now
from asyncstore.repository import TradeRepository
from asyncstore.schema.records import BotInstanceRecord
from asyncstore.schema.validation import require_number, require_type

__all__ = ["find_stale_bots", "mark_stale_bots"]


async def find_stale_bots(
    repo: TradeRepository, *, every: float, missed: int = 3
) -> list[BotInstanceRecord]:
    """Running bots whose last heartbeat is older than `missed` intervals of `every` seconds
    (or that never beat)."""
    require_type("repo", repo, TradeRepository, "a TradeRepository")
    cutoff = _seconds_ago(require_number("every", every) * require_number("missed", missed))
    return [
        bot
        for bot in await repo.get_bot_instances(status="running")
        if bot.last_heartbeat is None or bot.last_heartbeat < cutoff
    ]


async def mark_stale_bots(
    repo: TradeRepository, *, every: float, missed: int = 3
) -> list[BotInstanceRecord]:
    """Set every stale bot's status to "error"; returns them as updated."""
    stale = await find_stale_bots(repo, every=every, missed=missed)
    return list(
        await asyncio.gather(
            *(repo.update_bot_instance(bot.id, {"status": "error"}) for bot in stale)
        )
    )


def _seconds_ago(seconds: float) -> datetime:
    """Now minus `seconds`; a span longer than the calendar (back to year 1) means "never"
    rather than overflowing timedelta or datetime: only bots that never beat are stale."""
    try:
        return utc_now() - timedelta(seconds=seconds)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)
