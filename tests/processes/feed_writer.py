"""Child process: writes one bot, heartbeats it, opens and closes one trade, then prints the
bot id and the trade id (one JSON line), for a change feed watching from another process."""

from __future__ import annotations

import asyncio
import sys

import orjson

from asyncstore import Store, TradeRepository


async def main(url: str, bot_id: str) -> None:
    async with Store(url) as store:
        repo = TradeRepository(store)
        await repo.create_bot_instance(
            {"id": bot_id, "type": "paper", "status": "running", "current_balance": "1000"}
        )
        await repo.heartbeat(bot_id)
        trade = await repo.create_trade(
            {
                "bot_id": bot_id,
                "trade_type": "paper",
                "entry_logic_name": "E",
                "exit_logic_name": "X",
                "symbol": "ETHUSDT",
                "interval": "1m",
                "direction": "long",
                "entry_price": "3000",
                "size": "0.5",
            }
        )
        await repo.close_trade(trade.id, {"exit_price": "3010"})
    print(orjson.dumps({"bot_id": bot_id, "trade_id": trade.id}).decode(), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
