"""A bot process stopped by a signal (tests/test_signals.py).

    python -m tests.processes.signal_bot <url> <bots> [--slow-stop SECONDS] [--grace SECONDS]

Runs `bots` bots in one process under `stop_on_signals`: each holds a BotHeartbeat and creates
trades one after another, printing `ACK <trade id>` once each create_trade returned (committed).
Prints `READY` when every bot has written once, and `STOPPED <signal>` when the block ended.
`--slow-stop`: each bot's cleanup then takes that long (a shutdown that overruns its grace).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from asyncstore import BotHeartbeat, DuplicateError, Store, TradeRepository, stop_on_signals
from tests.processes.rows import paper_trade


async def _bot(repo: TradeRepository, bot_id: str, first: asyncio.Event, slow_stop: float) -> None:
    async with BotHeartbeat(repo, bot_id, every=0.2):
        try:
            while True:
                trade = await repo.create_trade(paper_trade(bot_id))
                print(f"ACK {trade.id}", flush=True)
                first.set()
        finally:
            if slow_stop:
                await asyncio.shield(asyncio.sleep(slow_stop))


async def main(url: str, bots: int, slow_stop: float, grace: float) -> None:
    async with stop_on_signals(grace_s=grace) as stop, Store(url) as store:
        repo = TradeRepository(store)
        names = [f"signal-bot-{n}" for n in range(bots)]
        for name in names:
            with contextlib.suppress(DuplicateError):
                await repo.create_bot_instance({"id": name, "type": "paper"})
        started = [asyncio.Event() for _ in names]
        async with asyncio.TaskGroup() as group:
            for name, first in zip(names, started, strict=True):
                group.create_task(_bot(repo, name, first, slow_stop))
            for first in started:
                await first.wait()
            print("READY", flush=True)
    print(f"STOPPED {stop.signal_name}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("bots", type=int)
    parser.add_argument("--slow-stop", type=float, default=0.0)
    parser.add_argument("--grace", type=float, default=30.0)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.bots, args.slow_stop, args.grace))
    sys.exit(0)
