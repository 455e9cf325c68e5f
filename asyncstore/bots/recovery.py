"""Restart recovery (the spec's "State Loading"): a bot running again, with its open trades."""

from __future__ import annotations

from dataclasses import dataclass

from asyncstore.clock import utc_now
from asyncstore.repository import TradeRepository
from asyncstore.schema.records import BotInstanceRecord, TradeRecord
from asyncstore.schema.validation import require_type, validate_bot_id

__all__ = ["BotRecovery", "recover_bot"]


@dataclass(frozen=True, slots=True)
class BotRecovery:
    """What a restarting bot needs to continue: its instance and its open trades."""

    bot: BotInstanceRecord
    open_trades: list[TradeRecord]


async def recover_bot(repo: TradeRepository, bot_id: str) -> BotRecovery:
    """Set the bot running again (started_at: now) and return it with its open trades.

    Close what it finds with `repo.close_trade(trade.id, {"exit_price": ...})`: the trade's PnL
    and the bot's current_balance and total_pnl are written in one transaction, so the balance
    loaded here always equals the starting balance plus the PnL of the trades closed so far,
    whenever the previous life crashed. NotFoundError for an unknown bot.
    """
    require_type("repo", repo, TradeRepository, "a TradeRepository")
    bot_id = validate_bot_id(bot_id)
    bot = await repo.update_bot_instance(bot_id, {"status": "running", "started_at": utc_now()})
    return BotRecovery(bot, await repo.get_open_trades(bot_id=bot_id))
