"""Child process: one host of a bot fleet. Its own Store on the shared PostgreSQL database,
`bots` bots trading at once: each opens `trades` trades, closes every second one with a known
pnl, and heartbeats after every trade. Prints one summary line."""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal

from asyncstore import Store, TradeRepository

PNL = Decimal("0.12345678")


async def bot(repo: TradeRepository, bot_id: str, trades: int) -> int:
    await repo.create_bot_instance({"id": bot_id, "type": "paper", "status": "running"})
    for n in range(trades):
        trade = await repo.create_trade(
            {
                "bot_id": bot_id,
                "trade_type": "paper",
                "entry_logic_name": "E",
                "exit_logic_name": "X",
                "symbol": "BTCUSDT",
                "interval": "1m",
                "direction": "long",
                "status": "open",
                "entry_price": "50000.00000001",
            }
        )
        if n % 2:
            await repo.update_trade(
                trade.id, {"status": "closed", "exit_price": "50001", "net_pnl": PNL}
            )
        await repo.heartbeat(bot_id)
    return trades


async def main(url: str, host: str, bots: int, trades: int) -> None:
    async with Store(url) as store:
        repo = TradeRepository(store)
        written = await asyncio.gather(
            *(bot(repo, f"{host}_bot_{b:02d}", trades) for b in range(bots))
        )
    print(f"HOST {host} WROTE {sum(written)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
