"""Bot runtime helpers: a background heartbeat, stale-bot detection, restart recovery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType

from asyncstore.errors import AsyncStoreError, StoreClosedError
from asyncstore.repository import TradeRepository
from asyncstore.schemas import BotInstanceRecord, TradeRecord

__all__ = ["BotHeartbeat", "BotRecovery", "find_stale_bots", "mark_stale_bots", "recover_bot"]

log = logging.getLogger("asyncstore.runtime")


class BotHeartbeat:
    """`async with BotHeartbeat(repo, "my_bot_001", every=5):` beats in the background.

    It beats once on entry (NotFoundError for an unknown bot), then every `every` seconds. A
    failed beat (e.g. the file locked by another process) is logged and counted in `failures`,
    and the next beat is tried as usual: a transient error never kills it silently. On exit
    the bot is marked "stopped", or "error" when the block raised.
    """

    def __init__(self, repo: TradeRepository, bot_id: str, *, every: float = 5.0) -> None:
        if every <= 0:
            raise ValueError(f"every must be > 0 seconds, got {every!r}")
        self._repo = repo
        self.bot_id = bot_id
        self.every = every
        self.beats = 0
        self.failures = 0
        self.last_error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BotHeartbeat:
        await self._repo.heartbeat(self.bot_id)
        self.beats = 1
        self._task = asyncio.create_task(self._beat(), name=f"heartbeat {self.bot_id}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        status = "stopped" if exc_type is None or exc_type is asyncio.CancelledError else "error"
        with contextlib.suppress(StoreClosedError):
            await asyncio.shield(self._repo.update_bot_instance(self.bot_id, {"status": status}))

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self._repo.heartbeat(self.bot_id)
                self.beats += 1
            except StoreClosedError:
                return
            except AsyncStoreError as exc:
                self.failures += 1
                self.last_error = exc
                log.warning("heartbeat of bot %r failed, will retry: %s", self.bot_id, exc)


async def find_stale_bots(
    repo: TradeRepository, *, every: float, missed: int = 3
) -> list[BotInstanceRecord]:
    """Running bots whose last heartbeat is older than `missed` intervals of `every` seconds
    (or that never beat)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=every * missed)
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


@dataclass(frozen=True, slots=True)
class BotRecovery:
    """What a restarting bot needs to continue: its instance and its open trades."""

    bot: BotInstanceRecord
    open_trades: list[TradeRecord]


async def recover_bot(repo: TradeRepository, bot_id: str) -> BotRecovery:
    """Set the bot running again (started_at: now) and return it with its open trades.

    NotFoundError for an unknown bot.
    """
    bot = await repo.update_bot_instance(
        bot_id, {"status": "running", "started_at": datetime.now(UTC)}
    )
    return BotRecovery(bot, await repo.get_open_trades(bot_id=bot_id))
