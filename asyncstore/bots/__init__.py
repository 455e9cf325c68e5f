"""Running bots on a Store: a background heartbeat, stale-bot detection, restart recovery."""

from asyncstore.bots.heartbeat import BotHeartbeat
from asyncstore.bots.recovery import BotRecovery, recover_bot
from asyncstore.bots.supervision import find_stale_bots, mark_stale_bots

__all__ = ["BotHeartbeat", "BotRecovery", "find_stale_bots", "mark_stale_bots", "recover_bot"]
