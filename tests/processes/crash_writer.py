"""Child process of the crash harness: 50 bots writing trades until it is killed.

It prints `T <id>` only after create_trade's await returned, and `U <id> <net_pnl>` only after
close_trade's await returned, flushing each line: what is printed was acknowledged. Each close
also moves its bot's balance (same transaction), so a kill between two closes must leave every
bot's total_pnl equal to the sum of its closed trades.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys

from asyncstore import DuplicateError, Store, TradeRepository

BOTS = 50
START_BALANCE = "10000"


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
            exit_price = f"{rng.randint(4_900_000, 5_100_000) / 100:.2f}"
            closed = await repo.close_trade(
                trade.id, {"exit_price": exit_price, "commission": "0.05"}
            )
            print(f"U {trade.id} {closed.net_pnl}", flush=True)


async def main(url: str, seed: int) -> None:
    async with Store(url) as store:
        await store.create_tables()
        repo = TradeRepository(store)
        for n in range(BOTS):
            with contextlib.suppress(DuplicateError):  # a later cycle on the same file
                await repo.create_bot_instance(
                    {"id": f"crash_bot_{n:02d}", "type": "paper", "current_balance": START_BALANCE}
                )
        print("READY", flush=True)
        rng = random.Random(seed)
        await asyncio.gather(
            *(bot(repo, f"crash_bot_{n:02d}", random.Random(rng.random())) for n in range(BOTS))
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
