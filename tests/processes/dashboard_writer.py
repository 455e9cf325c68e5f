"""Child process: a bot writing beside a running dashboard, through its own Store.

`python -m tests.processes.dashboard_writer URL BOT_ID TRADES [--new] [--pause S]`: with --new,
first creates the bot (running, balance 1000); then opens and closes TRADES trades one by one,
heartbeating after each (and pausing S seconds: a steady stream of commits rather than one
burst), and prints one JSON line per closed trade ({"bot_id", "trade_id", "net_pnl"})."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson

from asyncstore import Store, TradeRepository


async def main(url: str, bot_id: str, trades: int, new: bool, pause: float) -> None:
    async with Store(url) as store:
        repo = TradeRepository(store)
        if new:
            await repo.create_bot_instance(
                {"id": bot_id, "type": "paper", "status": "running", "current_balance": "1000"}
            )
        for n in range(trades):
            now = datetime.now(UTC)
            trade = await repo.create_trade(
                {
                    "bot_id": bot_id,
                    "trade_type": "paper",
                    "entry_logic_name": "WriterEntry",
                    "exit_logic_name": "WriterExit",
                    "symbol": "ETHUSDT",
                    "interval": "1m",
                    "direction": "long",
                    "status": "open",
                    "entry_time": now - timedelta(seconds=30),
                    "entry_price": "3000",
                    "size": "0.5",
                }
            )
            closed = await repo.close_trade(
                trade.id, {"exit_price": str(Decimal(3001) + n), "exit_time": now}
            )
            await repo.heartbeat(bot_id)
            line = {"bot_id": bot_id, "trade_id": trade.id, "net_pnl": str(closed.net_pnl)}
            print(orjson.dumps(line).decode(), flush=True)
            await asyncio.sleep(pause)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("bot_id")
    parser.add_argument("trades", type=int)
    parser.add_argument("--new", action="store_true")
    parser.add_argument("--pause", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.bot_id, args.trades, args.new, args.pause))
