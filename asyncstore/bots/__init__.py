"""Running bots on a Store: a background heartbeat, stale-bot detection, restart recovery, and a
clean stop on SIGTERM/SIGINT."""

from asyncstore.bots.heartbeat import BotHeartbeat
from asyncstore.bots.recovery import BotRecovery, recover_bot
from asyncstore.bots.shutdown import StopRequest, stop_on_signals
from asyncstore.bots.supervision import find_stale_bots, mark_stale_bots

__all__ = [
    "BotHeartbeat",
    "BotRecovery",
    "StopRequest",
    "find_stale_bots",
    "mark_stale_bots",
    "recover_bot",
    "stop_on_signals",
]
