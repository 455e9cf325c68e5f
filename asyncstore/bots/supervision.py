"""Finding bots that stopped beating: running in the database, silent for too long."""

from __future__ import annotations

import asyncio

from asyncstore.clock import utc_ago
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
    # A span past the calendar means "never": only bots that never beat are stale then.
    cutoff = utc_ago(seconds=require_number("every", every) * require_number("missed", missed))
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
