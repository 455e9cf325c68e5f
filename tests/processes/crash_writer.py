"""Child process of the crash harness: 50 bots writing trades until it is killed.

It prints `T <id>` only after create_trade's await returned, and `U <id> <net_pnl>` only after
update_trade's await returned, flushing each line: what is printed was acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys

from asyncstore import DuplicateError, Store, TradeRepository

BOTS = 50


async def bot(repo: TradeRepository, bot_id: str, rng: random.Random) -> None:
    while True:
        trade = await repo.create_trade(
            {
                "bot_id": bot_id,
                "trade_type": "paper",
                "entry_logic_name": "E",
                "exit_logic_name": "X",
                "symbol": "BTCUSDT",
                "interval": "1m",
                "direction": "long",
                "entry_price": "50000.12345678",
                "size": "0.01",
            }
        )
        print(f"T {trade.id}", flush=True)
        if rng.random() < 0.5:
            pnl = f"{rng.randint(-(10**6), 10**6) / 100:.2f}"
            await repo.update_trade(trade.id, {"status": "closed", "net_pnl": pnl})
            print(f"U {trade.id} {pnl}", flush=True)


async def main(url: str, seed: int) -> None:
    async with Store(url) as store:
        await store.create_tables()
        repo = TradeRepository(store)
        for n in range(BOTS):
            with contextlib.suppress(DuplicateError):  # a later cycle on the same file
                await repo.create_bot_instance({"id": f"crash_bot_{n:02d}", "type": "paper"})
        print("READY", flush=True)
        rng = random.Random(seed)
        await asyncio.gather(
            *(bot(repo, f"crash_bot_{n:02d}", random.Random(rng.random())) for n in range(BOTS))
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
