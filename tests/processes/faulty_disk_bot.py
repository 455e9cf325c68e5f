"""A bot process whose disk fails under it (tests/test_io_faults.py), run under `fiu-run -x`.

    fiu-run -x python -m tests.processes.faulty_disk_bot <url> <bots> <durability>

Each bot creates trades one after another and prints one line per call: `ACK <trade id>` once
create_trade returned (committed), `ERR <error class> <message>` for an AsyncStoreError (the
call failed and says why), `BAD <class> <message>` for anything else. Beside them an observer
opens a read-only Store every 0.2 s (`TRY`) and counts the trades (`OBS <count>`, or ERR/BAD): the
files are opened afresh while the bots write. `READY` when every bot has written once;
`STOPPED` once SIGTERM ended it cleanly (stop_on_signals).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from asyncstore import AsyncStoreError, DuplicateError, Store, TradeRepository, stop_on_signals
from tests.processes.rows import paper_trade


def _say(line: str) -> None:
    print(line.replace("\n", " ")[:300], flush=True)


async def _bot(repo: TradeRepository, bot_id: str, first: asyncio.Event) -> None:
    while True:
        try:
            trade = await repo.create_trade(paper_trade(bot_id))
        except AsyncStoreError as exc:
            _say(f"ERR {type(exc).__name__} {exc}")
            await asyncio.sleep(0.01)
            continue
        except Exception as exc:  # outside the error tree: the test fails on it
            _say(f"BAD {type(exc).__name__} {exc}")
            await asyncio.sleep(0.01)
            continue
        _say(f"ACK {trade.id}")
        first.set()
        await asyncio.sleep(0.002)


async def _observer(url: str) -> None:
    while True:
        await asyncio.sleep(0.2)
        _say("TRY")
        try:
            async with Store(url, read_only=True) as observer:
                ((count,),) = await observer.fetch_all("SELECT count(*) FROM trades")
        except AsyncStoreError as exc:
            _say(f"ERR {type(exc).__name__} {exc}")
            continue
        except Exception as exc:
            _say(f"BAD {type(exc).__name__} {exc}")
            continue
        _say(f"OBS {count}")


async def main(url: str, bots: int, durability: str) -> None:
    async with stop_on_signals(grace_s=30), Store(url, durability=durability) as store:
        repo = TradeRepository(store)
        names = [f"disk-bot-{n}" for n in range(bots)]
        for name in names:
            with contextlib.suppress(DuplicateError):
                await repo.create_bot_instance({"id": name, "type": "paper"})
        started = [asyncio.Event() for _ in names]
        async with asyncio.TaskGroup() as group:
            for name, first in zip(names, started, strict=True):
                group.create_task(_bot(repo, name, first))
            group.create_task(_observer(url))
            for first in started:
                await first.wait()
            _say("READY")
    _say("STOPPED")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
