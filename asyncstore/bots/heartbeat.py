"""BotHeartbeat: a bot's heartbeat as a background task, and its status when it stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

from asyncstore.errors import AsyncStoreError, StoreClosedError
from asyncstore.repository import TradeRepository
from asyncstore.schema.validation import require_number, require_type, validate_bot_id

__all__ = ["BotHeartbeat"]

log = logging.getLogger("asyncstore.runtime")


class BotHeartbeat:
    """`async with BotHeartbeat(repo, "my_bot_001", every=5):` beats in the background.

    It beats once on entry (NotFoundError for an unknown bot), then every `every` seconds. A
    failed beat (e.g. the file locked by another process) is logged and counted in `failures`,
    and the next beat is tried as usual: a transient error never kills it silently. On exit
    the bot is marked "stopped", or "error" when the block raised.
    """

    def __init__(self, repo: TradeRepository, bot_id: str, *, every: float = 5.0) -> None:
        require_type("repo", repo, TradeRepository, "a TradeRepository")
        self._repo = repo
        self.bot_id = validate_bot_id(bot_id)
        self.every = require_number("every", every)
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
