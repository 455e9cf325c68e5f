"""Child process: one bot writing trades and heartbeats for a while, then a summary line."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

from asyncstore import DuplicateError, Store, TradeRepository


async def main(url: str, bot_id: str, seconds: float) -> None:
    async with Store(url) as store:
        await store.create_tables()
        repo = TradeRepository(store)
        with contextlib.suppress(DuplicateError):
            await repo.create_bot_instance({"id": bot_id, "type": "paper"})
        writes = 0
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            await asyncio.gather(
                *(
                    repo.create_trade(
                        {
                            "bot_id": bot_id,
                            "trade_type": "paper",
                            "entry_logic_name": "E",
                            "exit_logic_name": "X",
                            "symbol": "ETHUSDT",
                            "interval": "1m",
                            "direction": "short",
                            "status": "closed",
                            "exit_price": "3000",
                            "net_pnl": "1",
                        }
                    )
                    for _ in range(20)
                ),
                repo.heartbeat(bot_id),
            )
            writes += 20
        print(f"WROTE {writes}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
