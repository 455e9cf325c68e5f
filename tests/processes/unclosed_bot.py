"""Child process: a bot that writes a trade, reads, then crashes without closing its Store."""

from __future__ import annotations

import asyncio
import sys

from asyncstore import Store, TradeRepository


async def main(url: str) -> None:
    store = Store(url)  # deliberately no `async with` and no close(): the bug under test
    await store.start()
    await store.create_tables()
    repo = TradeRepository(store)
    await repo.create_bot_instance({"id": "careless_bot", "type": "paper"})
    trade = await repo.create_trade(
        {
            "bot_id": "careless_bot",
            "trade_type": "paper",
            "entry_logic_name": "E",
            "exit_logic_name": "X",
            "symbol": "ETHUSDT",
            "interval": "1m",
            "direction": "long",
            "status": "open",
            "entry_price": "3500.5",
        }
    )
    await repo.get_open_trades()  # the reader connections are open now too
    print(f"WROTE {trade.id}", flush=True)
    raise RuntimeError("strategy crashed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
